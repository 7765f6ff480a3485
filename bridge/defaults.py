"""Every tunable of the bridge, with the reason for its value."""

# Webhook bodies above this are refused with 413 before they are read whole. Shopify's
# largest order payloads (hundreds of line items) stay well under 1 MiB.
MAX_BODY_BYTES = 5 * 1024 * 1024

# The request head (request line and headers), bounded before anything authenticates it
# (bridge/intake/bounded_http.py). A Shopify or WooCommerce delivery's head is about 1 KB;
# Heroku's router refuses header lines over 8 KB. 32 KiB is nginx's default buffer for a
# large head (4 x 8k); 100 headers is Apache's LimitRequestFields.
MAX_HEAD_BYTES = 32 * 1024
MAX_HEADERS = 100
# A client sends its whole head within this long of its first byte (or of connecting), and
# its body within BODY_TIMEOUT_SECONDS after that; a slow sender is cut off rather than hold a
# connection. Shopify gives a delivery 5 s in all, WooCommerce 60 s.
HEAD_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 30.0

# The web process's garbage collector (bridge/app.py). A collection starts once this many more
# container objects were made than freed: at Python's default of 700, with 16 webhooks in
# flight (a parsed order body is 10 to 350 containers, the mapper's output as many again), one
# started every few webhooks and went over the live bodies, and their survivors fed full
# collections that walked everything imported. 10,000 makes them rare (none in 3,000 webhooks
# at 16 connections); the little cyclic garbage there is (an exception and its traceback) only
# waits longer to be collected.
GC_YOUNG_THRESHOLD = 10_000

# Kanal's documented limit per store and minute, used when the config names none.
REQUESTS_PER_MINUTE = 60

# The pacer spends slightly less than the limit, so that network jitter between our clock
# and Kanal's never makes a 60-second window hold one call too many.
PACING_MARGIN = 0.02

# A push that starts this long after its call slot (its worker was busy, the machine loaded)
# takes a new slot instead of calling late: calls sent up to L seconds after slots spaced by
# the pacer still fit any 60-second window while L < 60 * margin / (1 - margin) (1.22 s at
# 2 %); half of that is left for the network between the worker and Kanal.
LATE_SLOT_SECONDS = 60 * PACING_MARGIN / (1 - PACING_MARGIN) / 2

# A new record waits this long before its first push, so that a burst of webhooks for one
# order (create, paid, updated within a second or two) collapses into one Kanal call.
SETTLE_SECONDS = 2.0

# Shopify considers a checkout abandoned after this long without update when the store
# config names no other value (peers use 10-15 minutes; Shopify's recovery link is not
# usable during the first ~10).
ABANDONED_AFTER_MINUTES = 15

# Abandoned checkouts are sent only for buyers who ticked a marketing box at checkout (e-mail
# or SMS), unless the store says otherwise: cart recovery is marketing (Meta classifies cart
# reminders as marketing templates, and GDPR/ePrivacy and the TCPA require prior consent for
# marketing messages), while order and shipping updates are transactional. A store whose
# WhatsApp opt-in is collected elsewhere (Kanal's own) sets checkouts_require_consent = false.
CHECKOUTS_REQUIRE_CONSENT = True

# How often the paced scheduler moves due jobs onto the queue. RQ's own scheduler works in
# whole seconds, which would bunch a fast store's calls at each second.
SCHEDULER_INTERVAL = 0.05

# Retry schedule for transient failures (network, 5xx), seconds before attempt n+1. Each wait
# gets +-20 % jitter. Sum: about 47 hours, so Kanal may be down for a whole day (and
# more) without losing anything; after the last one the job lands in the failed registry.
RETRY_DELAYS = (5, 15, 30, 60, 120, 300, 600, 900, 1800, *([3600] * 46))
RETRY_JITTER = 0.2

# Retry-After to assume when a 429 carries none (or one that cannot be read): Kanal's window
# is a minute. A longer Retry-After than MAX_RETRY_AFTER is cut to it, so a wrong header
# cannot hold a store for hours (a second 429 pauses it again).
DEFAULT_RETRY_AFTER = 60.0
MAX_RETRY_AFTER = 900.0

# A Kanal store that refused its key (401, 403) or said it is paused (404 on a POST) is held:
# its records wait, and one of them is retried as a probe after PROBE_FIRST_SECONDS, then
# twice as long each time up to PROBE_MAX_SECONDS (+-10 % jitter). A key restored or a store
# un-paused in Kanal is noticed within 5 minutes, at the cost of at most 12 calls an hour
# while it is not (Kanal's limit is 3,600 an hour).
PROBE_FIRST_SECONDS = 5.0
PROBE_MAX_SECONDS = 300.0
PROBE_JITTER = 0.1

# Kanal HTTP timeouts: connecting, and the whole call ([kanal] timeout_seconds, at most
# KANAL_TIMEOUT_MAX so that a push always ends before its job's timeout). A push that hangs
# longer is retried (a POST is probed with a PATCH first: it may have landed).
KANAL_CONNECT_TIMEOUT = 5.0
KANAL_TIMEOUT = 15.0
KANAL_TIMEOUT_MAX = 25.0

# An RQ job is killed after this long; a push never takes more than KANAL_TIMEOUT_MAX + a bit.
JOB_TIMEOUT = 30

# A finished push job is deleted at once, with no result kept (RQ's result_ttl=0): the record
# says what Kanal holds, and the job hash and result stream cost about 6 KB for each push.
# Failed pushes stay in the failed registry, with their error, until retried or expired.
RESULT_TTL = 0
FAILURE_TTL = 30 * 24 * 3600
# Finished periodic platform jobs (the watchdog's checks) stay visible in the dashboard this long.
PLATFORM_RESULT_TTL = 600

# Shopify retries a delivery for 4 hours: a delivery id is remembered a little longer.
DELIVERY_ID_TTL = 5 * 3600

# A Shopify delivery triggered (X-Shopify-Triggered-At), or whose body was last updated, longer
# ago than this is a replay, not a delivery: answered ignored/too_old. Shopify retries for 4
# hours with the original payload and warns that deliveries can come "up to a day late"
# (shopify.dev, webhooks best practices): 4 h + 24 h, and 20 h of margin. It must not exceed
# DELIVERED_RECORD_TTL, so that any body young enough to be applied is judged against a
# version the record store still remembers (bridge/intake/freshness.py).
SHOPIFY_MAX_DELIVERY_AGE = 48 * 3600

# A delivered record is kept (without its body: versions and digests only) for this long, so
# that a late retry or a reordered delivery cannot overwrite a newer state in Kanal.
DELIVERED_RECORD_TTL = 3 * 24 * 3600

# After that, the version Kanal holds of each record is remembered for this long
# ([delivery] remember_versions_days), in a few bytes (bridge/delivery/versions.py), so that
# an old signed body replayed months later is still refused as older than what Kanal holds.
# Generations of VERSION_PERIOD_DAYS keep every hash within Redis's compact encoding at a
# million records a day.
REMEMBER_VERSIONS_DAYS = 90.0
VERSION_PERIOD_DAYS = 7

# A record that failed permanently keeps its body this long, for `failed retry`.
FAILED_RECORD_TTL = 30 * 24 * 3600

# The sweeper re-creates the job of a pending record whose job vanished (a worker killed with
# SIGKILL, a web process killed between two writes). It runs this often, and only touches
# records pending for longer than the grace period.
SWEEP_INTERVAL = 15.0
SWEEP_GRACE = 30.0

# How often a worker runs RQ's maintenance: cleaning its registries (a job whose worker was
# killed becomes "abandoned") and starting the scheduler again if the one that held the lock
# died. RQ's default, 10 minutes, would leave scheduled pushes waiting that long.
WORKER_MAINTENANCE_INTERVAL = 30

# An idle RQ worker blocks on the queue for its TTL less 15 s before it looks at maintenance
# again; RQ's default TTL (420 s) would delay the above by up to 7 minutes.
WORKER_TTL = 45

# RQ beats a worker's heart (3 commands) four times per job and checks `rq suspend` before
# each; once this often is enough: the worker's key lives WORKER_TTL + 60 s, and a suspension
# is noticed within this many seconds.
WORKER_HEARTBEAT_INTERVAL = 5.0

# Redis key prefix for everything the bridge stores itself (RQ keeps its own `rq:` keys).
KEY_PREFIX = "kb"

# The single RQ queue the pushes go through.
QUEUE_NAME = "kanal"

# Shopify Admin API version used when a store names none. Shopify formats each webhook body
# in the API version of the subscription it goes out on, and `connect` creates subscriptions
# with this version: it is the version the mappers are written and tested against (the
# fixtures' 2026-04 bodies), a stable version Shopify supports until April 2027. Move it on
# only together with the mappers' fixtures.
SHOPIFY_API_VERSION = "2026-04"

# A client-credentials token (Shopify: valid about 24 hours) is exchanged again this long
# before it expires (at most a tenth of its life), so no call carries a token about to lapse.
SHOPIFY_TOKEN_REFRESH_MARGIN = 300.0

# Share of the Shopify cost bucket (per app and shop) the bridge's queries may empty, unless a
# caller says otherwise: connect and backfill may use all of it. Reconciliation passes a small
# share (the merchant's other apps have their own buckets, but the bridge's other callers
# share this one).
SHOPIFY_BUCKET_SHARE = 1.0

# What a query is assumed to cost before Shopify has answered it once (its real requested
# cost is remembered per query text afterwards).
SHOPIFY_UNKNOWN_QUERY_COST = 100

# Longest the Shopify client sleeps for the cost bucket when the caller names no limit;
# worker jobs pass max_wait=0 and reschedule instead (PlatformThrottled carries the wait).
SHOPIFY_MAX_WAIT = 30.0

# How often the watchdog checks (and repairs) each store's webhook subscriptions: WooCommerce
# disables a webhook after 7 failed deliveries in a row, Shopify deletes subscriptions after
# 8 failed tries over 4 hours; 10 minutes bounds how long a shop stays deaf after either.
WATCHDOG_EVERY_MINUTES = 10.0

# Periodic platform work (bridge/platforms/periodic.py): the queue its jobs go through (workers
# take push jobs first), how often the scheduler looks for due tasks (tasks run every few
# minutes: a second late is nothing, and one ZRANGEBYSCORE a second costs nothing), and how
# often it compares the tasks in Redis with the configuration (a lock handed to a worker with
# a newer configuration takes effect within this).
PLATFORM_QUEUE_NAME = "platform"
PERIODIC_TICK = 1.0
PERIODIC_SYNC = 60.0
# A due task whose previous job is still queued or running is looked at again after this long.
PERIODIC_RECHECK = 5.0
# A platform job is one check or one page (seconds); it is killed after this long, which the
# HTTP layer's timeouts and retries of a slow shop stay below. A job "started" longer than this
# (its worker died) no longer holds its task back.
PLATFORM_JOB_TIMEOUT = 180
# A failed run is tried again after this long, doubling up to the task's interval: a shop that
# was unreachable for a minute is checked again soon, one that stays down is not hammered.
PERIODIC_RETRY = 30.0

# A deaf window (bridge/platforms/watchdog.py) starts this long before the last webhook the
# bridge received: the shops' clocks (which stamp updated_at) and the metrics flush (which
# records webhook_at every few seconds) may each be off by a little.
DEAF_MARGIN = 120
# Deaf windows wait this long for reconciliation to fetch them, at most this many per store.
DEAF_KEEP_SECONDS = 30 * 24 * 3600
DEAF_MAX = 100

# Reconciliation: how often each store's recently changed orders are fetched from its API.
RECONCILE_EVERY_MINUTES = 15.0
# WooCommerce lists customers without a date filter (a full scan): rarely.
RECONCILE_CUSTOMERS_EVERY_HOURS = 24.0
# A pass reads changes since the last pass's end less this overlap: a shop's search index and
# clock may lag its writes by seconds to minutes (Shopify's search is eventually consistent),
# and a record seen twice costs nothing (the record store answers "already held").
RECONCILE_OVERLAP_SECONDS = 300
# ...and stops this long before it starts: a change younger than that has its webhook on the
# way (deliveries take seconds); counting it as missed would report healthy webhooks as broken.
RECONCILE_LAG_SECONDS = 120
# A store's first pass looks back this far (what came before is backfill's).
RECONCILE_FIRST_LOOKBACK_SECONDS = 3600
# Share of the Shopify cost bucket (per app and shop) reconciliation may use: it sends a page
# only while the bucket keeps 70 % free for the bridge's other callers (the watchdog, connect,
# a backfill). The merchant's other apps have buckets of their own (shopify.dev, rate limits:
# "per app per store"), so they are never slowed by the bridge.
RECONCILE_BUCKET_SHARE = 0.3
# Backfill may use half of it.
BACKFILL_BUCKET_SHARE = 0.5

# Backfill: orders of the last 30 days by default (orders still being paid, shipped, returned:
# what a merchant expects Kanal to know about on day one). Without the read_all_orders scope,
# Shopify shows apps the last 60 days of orders only.
BACKFILL_DAYS = 30
SHOPIFY_VISIBLE_ORDER_DAYS = 60
# Open abandoned checkouts are backfilled (and reconciled) only while a reminder still makes
# sense: abandoned (abandoned_after_minutes) within this many hours. Shopify's own
# abandoned-checkout e-mails go out 1 to 24 hours after abandonment (its automation's choices).
CHECKOUT_RECOVERY_HOURS = 24
# The command asks before starting a backfill that would take longer than this at the Kanal
# store's budget (unless --yes).
BACKFILL_CONFIRM_SECONDS = 3600
# How often an idle backfill task looks for a backfill to run (a new one is made due at once;
# this bounds how long a backfill whose worker died waits before another worker takes over).
BACKFILL_CHECK_SECONDS = 60.0
# The backfill command, when its output is not a terminal, prints a progress line this often.
BACKFILL_LOG_SECONDS = 30.0

# Scans (backfill, reconciliation) feed Kanal's bulk lane a few pages ahead: a page is read
# only while fewer records wait than this many pages (or half a minute of the Kanal store's
# budget, whichever is more), so the lane never runs dry yet never holds thousands.
SCAN_PAGES_AHEAD = 3
# A scan waiting for room in the bulk lane looks again within these bounds (seconds).
SCAN_MIN_WAIT = 1.0
SCAN_MAX_WAIT = 60.0
# Another page of the same shop being read: try again this soon (one request at a time per
# shop: WooCommerce runs on the merchant's own server). The lock itself expires after
# PLATFORM_PAGE_LOCK_SECONDS, should its holder die.
SCAN_BUSY_RETRY = 2.0
PLATFORM_PAGE_LOCK_SECONDS = 120

# Alerts: failed records gained within an hour, and the age of the oldest pending record.
ALERT_FAILED_PER_HOUR = 10
ALERT_OLDEST_PENDING_MINUTES = 30.0

# Alerts: a reconciliation pass that found at least this many records webhooks had missed.
ALERT_RECONCILE_FOUND = 1
# How often the process holding the alert lock compares the stores' conditions with what it
# last reported (each time: one health reading, a few pipelined reads per store).
ALERT_EVALUATE_SECONDS = 30.0
# A condition alerts once it has lasted this long (a worker restarting during a deploy is not
# "no worker"), and clears once it has been gone this long (a figure hovering around its
# threshold does not alert in a loop).
ALERT_START_SECONDS = 60.0
ALERT_CLEAR_SECONDS = 300.0
# Sending: at most one POST this often, carrying at most this many messages (Slack's incoming
# webhooks allow about one message a second), each POST bounded by a short timeout, and a
# failed POST retried after these waits (the last one repeating) until the chat server
# accepts it. The outbox keeps the newest messages up to its bound while the server is down.
ALERT_SEND_SPACING = 1.0
ALERT_BATCH = 10
ALERT_HTTP_TIMEOUT = 5.0
ALERT_RETRY_DELAYS = (10, 30, 60, 120, 300, 600)
ALERT_OUTBOX_MAX = 500
# The alert lock expires this long after its holder stopped renewing it (a process killed
# with SIGKILL): another process then takes over.
ALERT_LOCK_SECONDS = 60

# Redis connections. A plan's connection limit must hold every process at once (docs/heroku.md,
# "Sizing Redis"): web processes x (pool + extras) + workers + one-off commands. The defaults fit
# the smallest recommended plan, Heroku Key-Value Store premium-0 (40 connections), with one
# Standard-1X web dyno at WEB_CONCURRENCY=2 (the Python buildpack's value there) doubled for the
# minutes preboot runs old and new web dynos side by side, and one worker dyno, every process
# at its most: 4 x (5 + 3) + 6 + 2 = 40.
#
# Connections one web process's pool opens at most (webhooks, /metrics, /status); a request
# beyond them waits for a free one (up to the socket timeout) instead of failing. A webhook holds
# one for about a millisecond (one Lua call), so 5 serve a few thousand webhooks a second.
# REDIS_POOL_SIZE overrides it.
REDIS_POOL_SIZE = 5
# A web process's connections besides its pool: rq-dashboard's (2, while /rq is used) and the
# alert thread's (1, when alerts are on).
WEB_EXTRA_CONNECTIONS = 3
# A worker process's connections (counted with CLIENT LIST): the worker's blocking dequeue, its
# pushes, RQ's command listener (pub/sub), the metrics flusher, RQ's scheduler (a forked process,
# while it holds the lock) and the alert thread (when alerts are on).
WORKER_CONNECTIONS = 6
# Kept free for one-off processes: the release phase's check-config, `heroku run kanal-bridge ...`.
ONE_OFF_CONNECTIONS = 2
# Warn when Redis holds this share of its connection limit, or of maxmemory: with noeviction
# (Heroku's default, and what the bridge needs: an evicted record is a lost order) a full Redis
# refuses every write, so every webhook is answered 503.
REDIS_CLIENTS_WARN = 0.8
REDIS_MEMORY_WARN = 0.8
