"""Redis Lua scripts, each with the invariant it protects.

A record hash (`kb:rec:{kanal_store_id}:{resource}:{external_id}`, the external id as sent
to Kanal, with the store's prefix) holds:
  store   the bridge store key the record came from (absent on records of kanal-bridge 0.1,
          whose key names the bridge store instead of the Kanal store)
  v       version of the latest state held (source updated_at, microseconds)
  op      what the pending push must do: upsert | patch | delete
  body    latest complete Kanal body (JSON), kept while a push is pending or failed
  core    digest of the body without its PATCH-able fields;  full  digest of the whole body
  ovl     fields to apply on top of the body: PATCHed for orders and checkouts (WooCommerce
          trash, checkout completion), merged into the POST for customers and shipments
  ovv     version of a sticky overlay (customers' purchasing figures), kept apart from v
  fin     rank of the status that finished the record (checkouts: expired 1, completed 2,
          recovered 3); a finished record takes no more upserts and is never POSTed again
  nb      not before (unix seconds): the push is held until then (abandoned checkouts)
  after   key of a record Kanal must hold first (a shipment's order)
  dv dcore dfull   version and digests of what Kanal last acknowledged
  job     id of the one RQ job that owns the pending push ("" when none)
  status  pending | delivered | failed;   att  transient failures so far
  wait    why a pending record has no job: "parked" while its Kanal store is held
          (kb:parked:{id}); "bulk" while it waits for a free call slot (kb:bulk:{id}, not in
          kb:pending: a backlog of backfill is not late)
  bulk    1: backfill/reconcile traffic (fetched from the shop's API): it takes only call
          slots live traffic leaves free; a webhook for the record makes it live again
  unsure  1: a POST of it got no answer (it may have landed): dv/dcore then describe that
          POST, so the next push is a PATCH, whose 200 or 404 says whether it landed

A Kanal store's pace hash (`kb:pace:{kanal_store_id}`), shared by every worker; the ops
workstream reads it for /status and alerts (a missing field means "no"):
  tat          the store's next free call slot (unix seconds; GCRA's theoretical arrival time)
  paused       end of the pause a 429 imposed (unix seconds)
  held_reason  set while the store is held because Kanal refused it as a whole:
               key_rejected (401: key unknown or revoked; 403: key not valid for this store) or
               store_paused (404 on a POST: the store does not exist or is paused in Kanal)
  held_status  the HTTP status of the latest refusal (401, 403 or 404)
  held_since   when the hold began (unix seconds)
  held_store   the bridge store whose push Kanal refused first
  probe        key of the one record retried while held (Kanal has no read endpoint, and an
               upsert is idempotent)
  probe_at     when the probe is due next (unix seconds);   probes  probes made so far
While held the hash never expires; its records wait, without a job, in the sorted set
`kb:parked:{kanal_store_id}` (scored by when they were parked).

RQ's own job hash is written here too (ACCEPT and HANDOFF), so that a record and the job
that will push it land in one atomic step: the fields come from RQ's `Job.to_dict()` (less
those it writes empty, with the record's key beside them), the keys from RQ's queue and
registry objects (`bridge/delivery/jobs.py`). POP_START starts a push job as RQ's worker would.
"""

from bridge.delivery import jobs

# Lua shared by ACCEPT and FINISH: the version memory (bridge/delivery/versions.py). A
# version is stored as (seconds since 2020-01-01) * 2, + 1 when the record is finished.
_MEMORY = """
local EPOCH = 1577836800
local function remember(key, field, version, finished, at)
  local seconds = math.floor(version / 1000000) - EPOCH
  redis.call('HSET', key, field, seconds * 2 + (finished and 1 or 0))
  redis.call('EXPIREAT', key, at)
end
local function recall(first, field)
  for i = first, #KEYS do
    local value = redis.call('HGET', KEYS[i], field)
    if value then return tonumber(value) end
  end
end
"""

# Lua shared by FINISH and RELEASE: end the hold of the Kanal store whose pace hash is `pace`
# when `rec` is its probe; returns when the hold began, or ''.
_RELEASE = """
local function release(pace, rec)
  if pace == '' then return '' end
  local state = redis.call('HMGET', pace, 'held_reason', 'probe', 'held_since')
  if not state[1] or state[2] ~= rec then return '' end
  redis.call('HDEL', pace, 'held_reason', 'held_status', 'held_since', 'held_store', 'probe',
             'probe_at', 'probes')
  redis.call('EXPIRE', pace, 3600)
  return state[3] or '0'
end
"""

# Store an upsert/patch/delete of one record and make sure exactly one job will push it.
# Invariants: acknowledged => durable (record and job written together, or not at all);
# newest wins (an older version never replaces a newer one); latest state, fewest calls
# (a record with a pending job gets its state replaced, not a second job; so does a record
# parked while its Kanal store is held: the release gives it its job).
# Finished records (a checkout completed, recovered or expired): an upsert of one is refused,
# whatever order webhooks arrive in, so a checkout finished before its delay is never sent; a
# finishing patch for a record never seen leaves a tombstone that refuses the later upsert.
# Sticky overlays (customers' purchasing figures) survive upserts, are versioned on their own,
# and are kept as a tombstone when the record is unknown, so the next upsert carries them.
# Upgrade: a record still under its kanal-bridge 0.1 key (bridge store, unprefixed id) moves
# to its key on first touch, versions and pending state included, so newest-wins holds
# across the upgrade; a pending one gets a new job (the old job finds its key gone and stands
# down).
# Versions outlive bodies: a record whose hash expired is compared with the version memory
# (an older version is stale, the same one a duplicate, a finished record stays finished), and
# goes on as a record Kanal holds (so a PATCH of an old order still reaches Kanal).
# One way in: records fetched from a shop's API come through here too; for them the version
# Kanal already holds is "already held" (duplicate, no call). A bulk record (backfill,
# reconcile) that becomes pending waits in its Kanal store's bulk set without a job (the
# scheduler gives it one when a call slot is free now); a live action on it makes it live.
# KEYS: record, pending index, delivery-id key ("" when none), job hash, scheduled registry,
#       RQ queue set, the record's 0.1 key ("" when the same), bulk set of its Kanal store,
#       version memory keys (newest generation first)...
# ARGV: op, version, body, core, full, ovl, nb, after, now, due, job id, delivery-id ttl,
#       mark delivery id (1/0), queue key, finishing rank ("" when none), sticky overlay (1/0),
#       tombstone ttl, bridge store key, version memory field, its expiry (unix seconds),
#       fetched from the shop's API (1/0), bulk (1/0), the job's created_at, data and
#       description (its other fields, the same for every push, are written out below:
#       jobs.hset_arguments)
ACCEPT = (
    _MEMORY
    + """
local rec = KEYS[1]
local op, version = ARGV[1], tonumber(ARGV[2])
local rank, sticky = tonumber(ARGV[15]), ARGV[16] == '1'
local fetched, bulk = ARGV[21] == '1', ARGV[22] == '1'
local MEMORY_KEYS = 9
if KEYS[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then
  return 'duplicate'
end
local function schedule(due)
  redis.call('HSET', rec, 'job', ARGV[11], 'att', 0)
  redis.call('HSET', KEYS[4], """
    + jobs.hset_arguments(23, "rec")
    + """)
  redis.call('ZADD', KEYS[5], due, ARGV[11])
  redis.call('SADD', KEYS[6], ARGV[14])
end
if KEYS[7] ~= '' and redis.call('EXISTS', rec) == 0 and redis.call('EXISTS', KEYS[7]) == 1 then
  local old = redis.call('HGETALL', KEYS[7])
  local ttl = redis.call('PTTL', KEYS[7])
  redis.call('DEL', KEYS[7])
  redis.call('ZREM', KEYS[2], KEYS[7])
  redis.call('HSET', rec, unpack(old))
  redis.call('HSET', rec, 'store', ARGV[18])
  if ttl > 0 then redis.call('PEXPIRE', rec, ttl) end
  if redis.call('HGET', rec, 'status') == 'pending' then
    redis.call('ZADD', KEYS[2], ARGV[9], rec)
    schedule(tonumber(ARGV[9]))
  else
    redis.call('HSET', rec, 'job', '')
  end
end
local function mark_seen()
  if KEYS[3] ~= '' and ARGV[13] == '1' then
    redis.call('SET', KEYS[3], '1', 'EX', ARGV[12])
  end
end
local FIELDS = {'v', 'full', 'job', 'dfull', 'status', 'body', 'fin', 'dv', 'ovv', 'ovl', 'wait'}
local cur = redis.call('HMGET', rec, unpack(FIELDS))
local remembered = not cur[1] and not (sticky and op == 'patch') and recall(MEMORY_KEYS, ARGV[19])
if remembered then
  local seconds, finished = math.floor(remembered / 2), remembered % 2
  local incoming = math.floor(version / 1000000) - EPOCH
  if op == 'upsert' then
    if finished == 1 then mark_seen() return 'finished' end
    if incoming < seconds then mark_seen() return 'stale' end
    if incoming == seconds then mark_seen() return 'duplicate' end
  elseif op == 'delete' and version ~= 0 and incoming < seconds then
    mark_seen()
    return 'stale'
  end
  -- Kanal holds an older state: go on as with a delivered record that had expired.
  local held_us = (seconds + EPOCH) * 1000000
  redis.call('HSET', rec, 'v', held_us, 'dv', held_us, 'status', 'delivered', 'job', '',
             'store', ARGV[18])
  if finished == 1 then redis.call('HSET', rec, 'fin', 3) end
  redis.call('EXPIRE', rec, ARGV[17])
  cur = redis.call('HMGET', rec, unpack(FIELDS))
end
local held, fin = tonumber(cur[1]), tonumber(cur[7])
if op == 'patch' then
  if not held and not rank and not sticky then mark_seen() return 'unknown_record' end
  if fin and (not rank or rank <= fin) then mark_seen() return 'finished' end
  if sticky then
    if version ~= 0 and version < (tonumber(cur[9]) or 0) then mark_seen() return 'stale' end
    if cur[10] == ARGV[6] then mark_seen() return 'duplicate' end
  end
  if not held or (sticky and not cur[6]) or (fin and not cur[8]) then
    -- Nothing in Kanal can change now (record never seen, no body to POST, or finished
    -- before Kanal ever held it): only remember the fields, for the upserts to come.
    redis.call('HSET', rec, 'ovl', ARGV[6])
    if not held then
      redis.call('HSET', rec, 'v', 0, 'status', 'delivered', 'job', '', 'store', ARGV[18])
      redis.call('EXPIRE', rec, ARGV[17])
      if rank then remember(KEYS[MEMORY_KEYS], ARGV[19], 0, true, ARGV[20]) end
    end
    if rank then redis.call('HSET', rec, 'fin', rank) end
    if sticky then redis.call('HSET', rec, 'ovv', version) end
    mark_seen()
    return 'noted'
  end
  if sticky then
    redis.call('HSET', rec, 'ovl', ARGV[6], 'ovv', version)
  else
    if version == 0 then version = held + 1 end
    if version < held then mark_seen() return 'stale' end
    redis.call('HSET', rec, 'v', version, 'ovl', ARGV[6])
  end
  if rank then redis.call('HSET', rec, 'fin', rank) end
  if not cur[6] then redis.call('HSET', rec, 'op', 'patch') end
elseif op == 'delete' then
  if held and version ~= 0 and version < held then mark_seen() return 'stale' end
  if held and version == 0 then version = held + 1 end
  redis.call('HSET', rec, 'v', version, 'op', 'delete')
  redis.call('HDEL', rec, 'body', 'ovl', 'ovv', 'core', 'full', 'nb', 'after')
else
  if fin then mark_seen() return 'finished' end
  if held and version < held then mark_seen() return 'stale' end
  if held and cur[2] == ARGV[5] then mark_seen() return 'duplicate' end
  if fetched and held and version == held then return 'duplicate' end
  if cur[5] ~= 'pending' and cur[4] == ARGV[5] then
    -- Kanal already holds exactly this state.
    redis.call('HSET', rec, 'v', version, 'full', ARGV[5], 'core', ARGV[4])
    mark_seen()
    return 'duplicate'
  end
  redis.call('HSET', rec, 'v', version, 'op', 'upsert', 'body', ARGV[3], 'core', ARGV[4],
             'full', ARGV[5], 'nb', ARGV[7], 'after', ARGV[8])
  if not sticky then redis.call('HDEL', rec, 'ovl') end
end
redis.call('HSET', rec, 'status', 'pending', 'store', ARGV[18])
redis.call('PERSIST', rec)
mark_seen()
local waiting = cur[11]
if cur[5] ~= 'pending' and bulk then
  redis.call('HSET', rec, 'bulk', 1, 'wait', 'bulk')
  redis.call('ZADD', KEYS[8], 'NX', ARGV[9], rec)
  return 'scheduled'
end
if not bulk then
  redis.call('HDEL', rec, 'bulk')
  if waiting == 'bulk' then
    redis.call('ZREM', KEYS[8], rec)
    redis.call('HDEL', rec, 'wait')
    waiting = nil
  end
end
if waiting == 'bulk' then return 'merged' end
-- A record held back (an abandoned checkout's delay) is pending from when it is due: the
-- oldest-pending age and the sweeper's grace then speak of pushes that are late.
redis.call('ZADD', KEYS[2], 'NX', math.max(tonumber(ARGV[9]), tonumber(ARGV[7]) or 0), rec)
if (cur[3] and cur[3] ~= '') or waiting == 'parked' then
  -- A job will push the new state (or the release of the held Kanal store will).
  return 'merged'
end
schedule(math.max(tonumber(ARGV[10]), tonumber(ARGV[7]) or 0))
return 'scheduled'
"""
)

# Take ownership of a record's push for a running job, and return the record.
# Invariant: one push per record at a time: only the job named in `job` (or any job when
# none is named, e.g. `failed retry`) may push; a superseded job does nothing.
_CLAIM = """
local function claim(key, job_id)
  local raw = redis.call('HGETALL', key)
  local at = {}
  for i = 1, #raw, 2 do at[raw[i]] = i + 1 end
  local job = at.job and raw[at.job]
  if not job then return nil end
  if job ~= '' and job ~= job_id then return nil end
  local status = at.status and raw[at.status]
  if job == '' and status == 'delivered' then return nil end
  if job ~= job_id or status ~= 'pending' then
    redis.call('HSET', key, 'job', job_id, 'status', 'pending')
    raw[at.job] = job_id
    if at.status then
      raw[at.status] = 'pending'
    else
      table.insert(raw, 'status')
      table.insert(raw, 'pending')
    end
  end
  return raw
end
"""

# KEYS: record;  ARGV: job id
CLAIM = _CLAIM + "return claim(KEYS[1], ARGV[1])\n"

# Hand the pending push over to a new job, scheduled at `due` (pacing slot, backoff, hold).
# Invariant: the record keeps exactly one owning job; the old job only hands over if it
# still owns the record.
# KEYS: record, job hash, scheduled registry, RQ queue set, pending index
# ARGV: old job id, new job id, due, queue key, now, bump attempts (1/0), job fields...
HANDOFF = """
if redis.call('HGET', KEYS[1], 'job') ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'job', ARGV[2], 'status', 'pending')
redis.call('ZADD', KEYS[5], 'NX', ARGV[5], KEYS[1])
local att = tonumber(redis.call('HGET', KEYS[1], 'att')) or 0
if ARGV[6] == '1' then
  att = att + 1
  redis.call('HSET', KEYS[1], 'att', att)
end
redis.call('HSET', KEYS[2], unpack(ARGV, 7))
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[4])
return att
"""

# Record what Kanal acknowledged. If nothing newer arrived meanwhile the record is done: its
# body is dropped (Kanal holds it) and it expires after a while; otherwise the caller hands
# the push over to a new job with the newer state. Resources Kanal can only change by a whole
# POST (customers, shipments) keep their body and overlay, for the next partial change.
# Invariant: newest wins across retries: what Kanal holds is remembered (dv, dfull) so an
# older or identical state is never sent again; a record settled without any call and never
# delivered before is not marked as held by Kanal (a checkout finished before it was sent).
# The call that settles the record also releases its Kanal store when the record was the
# store's probe (Kanal accepted it: the key and the store work again).
# The version settled is remembered (version memory) for when the record's hash has expired.
# KEYS: record, pending index, pace hash of its Kanal store ("" when no call was made),
#       version memory key of the current generation
# ARGV: job id, sent version, sent core digest, sent full digest, sent overlay, ttl,
#       keep body and overlay (1/0), Kanal holds it (1/0), version memory field, its expiry
# Returns {outcome, held since}: outcome done | again | lost, and when the released hold
# began ('' when nothing was released).
FINISH = (
    _RELEASE
    + _MEMORY
    + """
local raw = redis.call('HGETALL', KEYS[1])
local h = {}
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
if h.job ~= ARGV[1] then return {'lost', ''} end
local released = release(KEYS[3], KEYS[1])
local function flat(t)
  local out = {}
  for k, v in pairs(t) do
    table.insert(out, k)
    table.insert(out, v)
  end
  return out
end
local settled = {att = '0'}
if ARGV[8] == '1' then
  settled.dv = ARGV[2]
  if ARGV[3] ~= '' then settled.dcore = ARGV[3] end
  if ARGV[4] ~= '' then settled.dfull = ARGV[4] end
end
if h.v ~= ARGV[2] or (h.ovl or '') ~= ARGV[5] then
  redis.call('HSET', KEYS[1], unpack(flat(settled)))
  if ARGV[8] == '1' and h.unsure then redis.call('HDEL', KEYS[1], 'unsure') end
  return {'again', released}
end
for k, v in pairs(settled) do h[k] = v end
if ARGV[8] == '1' then h.unsure = nil end
if ARGV[5] ~= '' and ARGV[8] == '1' then
  -- Kanal holds the body with the overlay applied: no digest describes that state.
  h.full, h.dfull = '', ''
end
h.job, h.status = '', 'delivered'
h.nb, h.after, h.err, h.wait, h.bulk = nil, nil, nil, nil, nil
if ARGV[7] ~= '1' then h.body, h.ovl = nil, nil end
-- Written afresh rather than with HDEL: a hash keeps the large encoding its body forced on
-- it, and without the body what remains takes the compact one (about 300 bytes instead of
-- 800, for days per record).
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(flat(h)))
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[6])
remember(KEYS[4], ARGV[9], tonumber(h.v), (tonumber(h.fin) or 0) > 0, ARGV[10])
return {'done', released}
"""
)

# Move the push jobs that are due from the scheduled registry onto the queue, as RQ's
# `Queue.enqueue_job` would (status queued, enqueued_at, pushed at the tail), without
# reading and rewriting each whole job hash. Run by the one scheduler holding the queue's lock.
# Invariant: a due id leaves the registry in the same step as its job joins the queue; an id
# whose job hash is gone is dropped, never queued.
# KEYS: scheduled registry, queue, RQ queue set;  ARGV: now, most ids, job key prefix, now (ISO)
# Returns how many jobs were queued.
ENQUEUE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], 0, ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due == 0 then return 0 end
local ready = {}
for _, id in ipairs(due) do
  local key = ARGV[3] .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'status', 'queued', 'enqueued_at', ARGV[4])
    table.insert(ready, id)
  end
end
redis.call('ZREM', KEYS[1], unpack(due))
if #ready > 0 then
  redis.call('RPUSH', KEYS[2], unpack(ready))
  redis.call('SADD', KEYS[3], KEYS[2])
end
return #ready
"""

# Pop the first job of the first non-empty queue and return its hash with it; when it is a
# push job (on the push queue, naming its record, keeping no result), start it as RQ's worker
# would (started registry, job status, worker busy) and claim its record, in the same step.
# RQ pops with BLPOP, reads the job hash, then starts the job: three round trips.
# Invariant: as RQ's dequeue: queues in order, a popped id whose job hash is gone is skipped;
# a push job leaves its queue started, never in between (the sweeper finds it by its hash).
# KEYS: queues, in order
# ARGV: job key prefix, push queue key, its started registry, worker key, worker name,
#       execution id, now (unix seconds), now (RQ's ISO format), pace key prefix, the
#       heartbeat TTL of a job without a timeout
# Returns {queue key, job id, job hash as field/value pairs} for a job it did not start, and
# {..., the claimed record or nil, when its Kanal store's pause ends ('0': not paused, '': a
# record key without a Kanal store)} for a push it started; nil when every queue is empty.
POP_START = (
    _CLAIM
    + """
for _, queue in ipairs(KEYS) do
  local id = redis.call('LPOP', queue)
  while id do
    local job = redis.call('HGETALL', ARGV[1] .. id)
    if #job > 0 then
      if queue ~= ARGV[2] then return {queue, id, job} end
      local at = {}
      for i = 1, #job, 2 do at[job[i]] = job[i + 1] end
      local key = at.kb_record
      if not key or at.result_ttl ~= '0' then return {queue, id, job} end
      local timeout = tonumber(at.timeout)
      local ttl = (timeout and timeout >= 0) and timeout + 60 or tonumber(ARGV[10])
      redis.call('ZADD', ARGV[3], tonumber(ARGV[7]) + ttl, id .. ':' .. ARGV[6])
      redis.call('HSET', ARGV[1] .. id, 'last_heartbeat', ARGV[8], 'status', 'started',
        'started_at', ARGV[8], 'worker_name', ARGV[5])
      redis.call('HSET', ARGV[4], 'state', 'busy')
      local record = claim(key, id)
      local kanal = string.match(key, '^[^:]+:[^:]+:(%d+):')
      local paused = ''
      if kanal then paused = redis.call('HGET', ARGV[9] .. kanal, 'paused') or '0' end
      return {queue, id, job, record or false, paused}
    end
    id = redis.call('LPOP', queue)
  end
end
return nil
"""
)

# Set aside a record whose push failed permanently: it keeps its body for `failed retry`,
# leaves the pending index, and a later webhook for it starts a fresh job.
# KEYS: record, pending index;  ARGV: job id, error text, ttl
FAIL = """
if redis.call('HGET', KEYS[1], 'job') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'job', '', 'status', 'failed', 'err', ARGV[2])
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# Reserve the next call slot of one Kanal store (GCRA without burst): slots are spaced by
# `interval` seconds and never precede a pause set by a 429.
# Invariant: all workers together make at most one call per `interval` per Kanal store, so
# no 60-second window holds more than requests_per_minute calls.
# Live first: a bulk record (backfill, reconcile) only takes a slot that is free now, never
# one booked ahead; when none is, it goes back to the store's bulk set without a job (and
# out of the pending index) until the scheduler finds a free slot for it. So a live record
# never waits behind bulk ones for more than about one interval.
# While the store is held (see the pace hash), only its probe record may call, from
# `probe_at` on; any other record is parked: it keeps its state and its place in the pending
# index, loses its job, and waits in the parked set for the release (nothing is failed).
# KEYS: pace hash of the Kanal store, record ("" for a bare reservation), parked set, bulk set,
#       pending index
# ARGV: now, interval, job id that owns the record, bulk (1/0)
# Returns {kind, time}: {'slot', t} a slot (unix seconds, as a string: Lua numbers would be
# truncated to integers), {'probe', probe_at} the probe is not due yet, {'parked', '0'},
# {'bulk', t} back in the bulk set (no slot free before t), {'lost', '0'} when the job no
# longer owns the record.
RESERVE = """
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tat', 'paused', 'held_reason', 'probe', 'probe_at')
local function owned()
  return redis.call('HGET', KEYS[2], 'job') == ARGV[3]
end
if state[3] and KEYS[2] ~= '' then
  local probe = state[4] or ''
  if probe ~= '' and probe ~= KEYS[2] then
    if not owned() then return {'lost', '0'} end
    redis.call('HSET', KEYS[2], 'job', '', 'wait', 'parked')
    redis.call('ZADD', KEYS[3], 'NX', now, KEYS[2])
    return {'parked', '0'}
  end
  if probe == '' then redis.call('HSET', KEYS[1], 'probe', KEYS[2]) end
  local due = tonumber(state[5]) or 0
  if due > now then return {'probe', string.format('%.6f', due)} end
elseif ARGV[4] == '1' then
  local free = math.max(tonumber(state[1]) or 0, tonumber(state[2]) or 0)
  if free > now then
    if not owned() then return {'lost', '0'} end
    redis.call('HSET', KEYS[2], 'job', '', 'wait', 'bulk')
    redis.call('ZADD', KEYS[4], 'NX', now, KEYS[2])
    redis.call('ZREM', KEYS[5], KEYS[2])
    return {'bulk', string.format('%.6f', free)}
  end
end
local slot = math.max(tonumber(state[1]) or 0, now, tonumber(state[2]) or 0)
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', slot + interval))
if state[3] then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('EXPIRE', KEYS[1], math.ceil(slot - now + interval) + 3600)
end
return {'slot', string.format('%.6f', slot)}
"""

# The bulk lane's turn, run by the active scheduler every tick: of each Kanal store whose
# next call slot is free now (not held, not paused, nothing booked ahead), the oldest waiting
# bulk record.
# KEYS: pace hash and bulk set of each Kanal store, in pairs;  ARGV: now
# Returns the index (1-based pair number) and record key of each, flattened.
BULK_DUE = """
local now = tonumber(ARGV[1])
local due = {}
for i = 1, #KEYS, 2 do
  local state = redis.call('HMGET', KEYS[i], 'tat', 'paused', 'held_reason')
  if not state[3] and math.max(tonumber(state[1]) or 0, tonumber(state[2]) or 0) <= now then
    local first = redis.call('ZRANGE', KEYS[i + 1], 0, 0)
    if first[1] then
      table.insert(due, (i + 1) / 2)
      table.insert(due, first[1])
    end
  end
end
return due
"""

# Give a waiting bulk record the slot that is free now, and a job that calls at once.
# Invariant (with RESERVE): a bulk record takes only a slot nobody booked; the store's pace
# still advances by one interval, so live and bulk calls together keep the rate.
# KEYS: pace hash, bulk set, record, job hash, scheduled registry, RQ queue set, pending index
# ARGV: now, interval, job id, queue key, job field/value pairs...
# Returns 1 (dispatched), 0 (no free slot now), -1 (the record no longer waits: dropped).
DISPATCH = """
local now = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'tat', 'paused', 'held_reason')
if state[3] or math.max(tonumber(state[1]) or 0, tonumber(state[2]) or 0) > now then
  return 0
end
if redis.call('ZREM', KEYS[2], KEYS[3]) == 0 then return -1 end
local cur = redis.call('HMGET', KEYS[3], 'status', 'job', 'wait')
if cur[1] ~= 'pending' or cur[3] ~= 'bulk' or (cur[2] and cur[2] ~= '') then return -1 end
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', now + tonumber(ARGV[2])))
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 3600)
redis.call('HDEL', KEYS[3], 'wait')
redis.call('HSET', KEYS[3], 'job', ARGV[3])
redis.call('ZADD', KEYS[7], 'NX', now, KEYS[3])
redis.call('HSET', KEYS[4], unpack(ARGV, 5))
redis.call('ZADD', KEYS[5], now, ARGV[3])
redis.call('SADD', KEYS[6], ARGV[4])
return 1
"""

# Hold a Kanal store that Kanal refused as a whole (401, 403, 404 on a POST), or keep holding
# it after its probe was refused again.
# Invariant: a refused store loses nothing: the refused record becomes the probe (retried at
# `probe_at`, backing off from `first` to `max` seconds) when there is none, and any other
# refused record is parked; nothing goes to the failed registry.
# KEYS: pace hash, record, parked set
# ARGV: now, reason, status, first delay, max delay, jitter factor, job id, bridge store
# Returns {'held', probe_at} for a new hold, {'probing', probe_at} when this record probes,
# {'parked', '0'}, or {'lost', '0'} when the job no longer owns the record.
HOLD = """
local now = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'held_reason', 'probe', 'probes')
local probe = state[2] or ''
if state[1] and probe ~= '' and probe ~= KEYS[2] then
  if redis.call('HGET', KEYS[2], 'job') ~= ARGV[7] then return {'lost', '0'} end
  redis.call('HSET', KEYS[2], 'job', '', 'wait', 'parked')
  redis.call('ZADD', KEYS[3], 'NX', now, KEYS[2])
  return {'parked', '0'}
end
local probes = state[1] and (tonumber(state[3]) or 0) + 1 or 1
local delay = math.min(tonumber(ARGV[4]) * 2 ^ (probes - 1), tonumber(ARGV[5]))
local due = string.format('%.6f', now + delay * tonumber(ARGV[6]))
redis.call('HSET', KEYS[1], 'held_reason', ARGV[2], 'held_status', ARGV[3], 'probe', KEYS[2],
           'probes', probes, 'probe_at', due)
redis.call('PERSIST', KEYS[1])
if state[1] then return {'probing', due} end
redis.call('HSET', KEYS[1], 'held_since', string.format('%.6f', now), 'held_store', ARGV[8])
return {'held', due}
"""

# Release a held Kanal store: Kanal accepted a call of its probe, or answered about the
# record itself (which it only does for a key and a store it accepts). FINISH does the same
# for a probe that succeeded.
# KEYS: pace hash;  ARGV: the probe's record key
# Returns when the hold began (unix seconds, a string), or '' when this record was not the
# probe of a held store.
RELEASE = (
    _RELEASE
    + """
return release(KEYS[1], ARGV[1])
"""
)

# Give a parked record its job back, once its Kanal store is no longer held.
# Invariant: a parked record leaves the parked set only with a job (or when it no longer
# waits: a webhook gave it a job meanwhile, or it is gone).
# KEYS: record, parked set, job hash, scheduled registry, RQ queue set, pace hash
# ARGV: new job id, due, queue key, job field/value pairs...
# Returns 1 (a job), 0 (nothing to do), -1 (the store is held again: left parked).
UNPARK = """
if redis.call('HEXISTS', KEYS[6], 'held_reason') == 1 then return -1 end
redis.call('ZREM', KEYS[2], KEYS[1])
local cur = redis.call('HMGET', KEYS[1], 'status', 'job', 'wait')
if cur[3] ~= 'parked' then return 0 end
redis.call('HDEL', KEYS[1], 'wait')
if cur[1] ~= 'pending' or (cur[2] and cur[2] ~= '') then return 0 end
redis.call('HSET', KEYS[1], 'job', ARGV[1])
redis.call('HSET', KEYS[3], unpack(ARGV, 4))
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[3])
return 1
"""

# Pause one Kanal store after a 429: no slot is handed out before `until`.
# KEYS: pace hash;  ARGV: until (unix seconds)
PAUSE = """
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused')) or 0
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat')) or 0
local until_ = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'paused', string.format('%.6f', math.max(paused, until_)),
           'tat', string.format('%.6f', math.max(tat, until_)))
return 1
"""
