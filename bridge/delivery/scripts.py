"""Redis Lua scripts, each with the invariant it protects.

A record hash (`kb:rec:{store}:{resource}:{external_id}`) holds:
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

RQ's own job hash is written here too (ACCEPT and HANDOFF), so that a record and the job
that will push it land in one atomic step: the fields come from RQ's `Job.to_dict()`, the
keys from RQ's queue and registry objects (`bridge/delivery/jobs.py`).
"""

# Store an upsert/patch/delete of one record and make sure exactly one job will push it.
# Invariants: acknowledged => durable (record and job written together, or not at all);
# newest wins (an older version never replaces a newer one); latest state, fewest calls
# (a record with a pending job gets its state replaced, not a second job).
# Finished records (a checkout completed, recovered or expired): an upsert of one is refused,
# whatever order webhooks arrive in, so a checkout finished before its delay is never sent; a
# finishing patch for a record never seen leaves a tombstone that refuses the later upsert.
# Sticky overlays (customers' purchasing figures) survive upserts, are versioned on their own,
# and are kept as a tombstone when the record is unknown, so the next upsert carries them.
# KEYS: record, pending index, delivery-id key ("" when none), job hash, scheduled registry,
#       RQ queue set
# ARGV: op, version, body, core, full, ovl, nb, after, now, due, job id, delivery-id ttl,
#       mark delivery id (1/0), queue key, finishing rank ("" when none), sticky overlay (1/0),
#       tombstone ttl, job field/value pairs...
ACCEPT = """
local rec = KEYS[1]
local op, version = ARGV[1], tonumber(ARGV[2])
local rank, sticky = tonumber(ARGV[15]), ARGV[16] == '1'
if KEYS[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then
  return 'duplicate'
end
local function mark_seen()
  if KEYS[3] ~= '' and ARGV[13] == '1' then
    redis.call('SET', KEYS[3], '1', 'EX', ARGV[12])
  end
end
local cur = redis.call('HMGET', rec, 'v', 'full', 'job', 'dfull', 'status', 'body', 'fin', 'dv',
                      'ovv', 'ovl')
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
      redis.call('HSET', rec, 'v', 0, 'status', 'delivered', 'job', '')
      redis.call('EXPIRE', rec, ARGV[17])
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
redis.call('HSET', rec, 'status', 'pending')
redis.call('PERSIST', rec)
-- A record held back (an abandoned checkout's delay) is pending from when it is due: the
-- oldest-pending age and the sweeper's grace then speak of pushes that are late.
redis.call('ZADD', KEYS[2], 'NX', math.max(tonumber(ARGV[9]), tonumber(ARGV[7]) or 0), rec)
mark_seen()
if cur[3] and cur[3] ~= '' then
  return 'merged'
end
local due = math.max(tonumber(ARGV[10]), tonumber(ARGV[7]) or 0)
redis.call('HSET', rec, 'job', ARGV[11], 'att', 0)
redis.call('HSET', KEYS[4], unpack(ARGV, 18))
redis.call('ZADD', KEYS[5], due, ARGV[11])
redis.call('SADD', KEYS[6], ARGV[14])
return 'scheduled'
"""

# Take ownership of a record's push for a running job, and return the record.
# Invariant: one push per record at a time: only the job named in `job` (or any job when
# none is named, e.g. `failed retry`) may push; a superseded job does nothing.
# KEYS: record;  ARGV: job id
CLAIM = """
local job = redis.call('HGET', KEYS[1], 'job')
if not job then return nil end
if job ~= '' and job ~= ARGV[1] then return nil end
if job == '' and redis.call('HGET', KEYS[1], 'status') == 'delivered' then return nil end
redis.call('HSET', KEYS[1], 'job', ARGV[1], 'status', 'pending')
return redis.call('HGETALL', KEYS[1])
"""

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
# KEYS: record, pending index
# ARGV: job id, sent version, sent core digest, sent full digest, sent overlay, ttl,
#       keep body and overlay (1/0), Kanal holds it (1/0)
FINISH = """
local cur = redis.call('HMGET', KEYS[1], 'job', 'v', 'ovl', 'op')
if cur[1] ~= ARGV[1] then return 'lost' end
redis.call('HSET', KEYS[1], 'att', 0)
if ARGV[8] == '1' then
  redis.call('HSET', KEYS[1], 'dv', ARGV[2])
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'dcore', ARGV[3]) end
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'dfull', ARGV[4]) end
end
if cur[2] ~= ARGV[2] or (cur[3] or '') ~= ARGV[5] then
  return 'again'
end
if ARGV[5] ~= '' and ARGV[8] == '1' then
  -- Kanal holds the body with the overlay applied: no digest describes that state.
  redis.call('HSET', KEYS[1], 'full', '', 'dfull', '')
end
redis.call('HSET', KEYS[1], 'job', '', 'status', 'delivered')
if ARGV[7] == '1' then
  redis.call('HDEL', KEYS[1], 'nb', 'after', 'err')
else
  redis.call('HDEL', KEYS[1], 'body', 'ovl', 'nb', 'after', 'err')
  -- A hash keeps the large encoding its body forced on it after HDEL: written afresh, what
  -- remains takes the compact one (about 300 bytes instead of 800, for days per record).
  local rest = redis.call('HGETALL', KEYS[1])
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], unpack(rest))
end
redis.call('ZREM', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return 'done'
"""

# Park a record whose push failed permanently: it keeps its body for `failed retry`, leaves
# the pending index, and a later webhook for it starts a fresh job.
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
# KEYS: pace hash of the Kanal store;  ARGV: now, interval
# Returns the slot (unix seconds, as a string: Lua numbers would be truncated to integers).
RESERVE = """
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tat', 'paused')
local slot = math.max(tonumber(state[1]) or 0, now, tonumber(state[2]) or 0)
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', slot + interval))
redis.call('EXPIRE', KEYS[1], math.ceil(slot - now + interval) + 3600)
return string.format('%.6f', slot)
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
