"""Every tunable of the bridge, with the reason for its value."""

# Webhook bodies above this are refused with 413 before they are read whole. Shopify's
# largest order payloads (hundreds of line items) stay well under 1 MiB.
MAX_BODY_BYTES = 5 * 1024 * 1024

# Kanal's documented limit per store and minute, used when the config names none.
REQUESTS_PER_MINUTE = 60

# The pacer spends slightly less than the limit, so that network jitter between our clock
# and Kanal's never makes a 60-second window hold one call too many.
PACING_MARGIN = 0.02

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

# Finished jobs stay visible in the dashboard this long; failed ones until retried or expired.
RESULT_TTL = 600
FAILURE_TTL = 30 * 24 * 3600

# Shopify retries a delivery for 4 hours: a delivery id is remembered a little longer.
DELIVERY_ID_TTL = 5 * 3600

# A delivered record is kept (without its body: versions and digests only) for this long, so
# that a late retry or a reordered delivery cannot overwrite a newer state in Kanal.
DELIVERED_RECORD_TTL = 3 * 24 * 3600

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

# Redis key prefix for everything the bridge stores itself (RQ keeps its own `rq:` keys).
KEY_PREFIX = "kb"

# The single RQ queue the pushes go through.
QUEUE_NAME = "kanal"

# Shopify GraphQL Admin API version used when a store names none: a current stable version
# (Shopify releases quarterly and supports each version for at least 12 months).
SHOPIFY_API_VERSION = "2026-10"

# How often the watchdog checks (and repairs) each store's webhook subscriptions: WooCommerce
# disables a webhook after 7 failed deliveries in a row, Shopify deletes subscriptions after
# 8 failed tries over 4 hours; 10 minutes bounds how long a shop stays deaf after either.
WATCHDOG_EVERY_MINUTES = 10.0

# Reconciliation: how often each store's recently changed orders are fetched from its API.
RECONCILE_EVERY_MINUTES = 15.0
# WooCommerce lists customers without a date filter (a full scan): rarely.
RECONCILE_CUSTOMERS_EVERY_HOURS = 24.0

# Alerts: failed records gained within an hour, and the age of the oldest pending record.
ALERT_FAILED_PER_HOUR = 10
ALERT_OLDEST_PENDING_MINUTES = 30.0
