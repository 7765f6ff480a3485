"""Alerts to a Slack-compatible incoming webhook (`[alerts] webhook_url`): POST {"text": ...}.

Off unless `webhook_url` is set. Each web and worker process runs one daemon thread; a Redis
lock lets one of them at a time do the work, so a webhook or a push never waits on it (and a
deployment whose workers all died still hears about it from a web process).

Every ALERT_EVALUATE_SECONDS the lock holder reads every store's health (bridge/ops/health.py)
and compares the conditions marked `alert` (and the deployment's: Redis nearly full, no
worker) with what it last reported. A condition that has lasted ALERT_START_SECONDS queues
one message; one gone for ALERT_CLEAR_SECONDS queues one "resolved" message; nothing repeats
while a condition lasts, and the state lives in Redis, so a restart or another process taking
over the lock does not report anything twice. A watchdog repair is one message of its own.

Messages wait in a Redis list until the chat server has taken them: up to ALERT_BATCH per
POST, one POST per ALERT_SEND_SPACING at most, a short timeout, and a failed POST retried
after ALERT_RETRY_DELAYS. They name the store and the condition, with a link to /status when
the bridge knows its public URL ([bridge] public_url or PUBLIC_URL); never a phone number,
an e-mail address, a key or a secret.

Redis keys:
  kb:alerts:lock    the lock (redis-py's Lock: a token, expiring ALERT_LOCK_SECONDS after the
                    holder stopped renewing it)
  kb:alerts:state   hash: `{store}\t{condition}` (store `*`: the deployment) -> JSON
                    {"seen": first seen, "since": reported at, "summary": what was reported,
                    "clear": gone since}; `{store}\trepair` -> the last repair_at reported
  kb:alerts:outbox  list of JSON {"text": ..., "at": ...} waiting to be sent
  kb:alerts:retry   hash {"failures": n, "next_at": unix seconds} while the server fails
The alerts also write `watched_at` (once) into `kb:store:{store}` for stores with
`quiet_hours`, so a store that never received a webhook counts as quiet from then on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import redis
from redis.exceptions import LockError

from bridge import defaults, metrics
from bridge.config import BridgeConfig
from bridge.connection import sync_redis
from bridge.errors import ConfigError
from bridge.ops import health

log = logging.getLogger("bridge.ops.alerts")

LOCK_KEY = f"{defaults.KEY_PREFIX}:alerts:lock"
STATE_KEY = f"{defaults.KEY_PREFIX}:alerts:state"
OUTBOX_KEY = f"{defaults.KEY_PREFIX}:alerts:outbox"
RETRY_KEY = f"{defaults.KEY_PREFIX}:alerts:retry"
DEPLOYMENT = "*"
SEP = "\t"

_ICONS = {"failing": "🔴", "paused": "⏸️", "degraded": "🟡", "ok": "✅"}
_VERBS = {"failing": "is failing", "paused": "is paused", "degraded": "needs a look"}


@dataclass(frozen=True)
class Timing:
    """How the alerts pace themselves (bridge/defaults.py; tests shorten them)."""

    evaluate_every: float = defaults.ALERT_EVALUATE_SECONDS
    start_after: float = defaults.ALERT_START_SECONDS
    clear_after: float = defaults.ALERT_CLEAR_SECONDS
    send_spacing: float = defaults.ALERT_SEND_SPACING
    retry_delays: tuple[float, ...] = tuple(float(d) for d in defaults.ALERT_RETRY_DELAYS)
    tick: float = 1.0
    lock_seconds: float = defaults.ALERT_LOCK_SECONDS
    lock_retry: float = 5.0  # how often a process without the lock tries to take it


class Alerts:
    """Evaluate the conditions and send the messages (one step each; the thread loops)."""

    def __init__(
        self,
        client: redis.Redis,
        config: BridgeConfig,
        webhook_url: str,
        public_url: str | None,
        timing: Timing | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.webhook_url = webhook_url
        self.public_url = public_url
        self.timing = timing or Timing()
        self.http = http or httpx.Client(
            timeout=httpx.Timeout(defaults.ALERT_HTTP_TIMEOUT), follow_redirects=False
        )
        self._last_post = 0.0

    # Evaluating.

    def evaluate(self, now: float | None = None) -> list[str]:
        """Compare the conditions with what was reported; queue (and return) the messages."""
        now = time.time() if now is None else now
        reading = health.read(self.client, self.config, now, hours=2)  # no charts here
        active: dict[str, tuple[str, health.Condition]] = {}
        for store in reading.stores:
            for condition in store.conditions:
                if condition.alert:
                    active[store.store + SEP + condition.name] = (store.store, condition)
        for condition in health.deployment_conditions(reading.deployment):
            active[DEPLOYMENT + SEP + condition.name] = (DEPLOYMENT, condition)
        state = _decoded(self.client.hgetall(STATE_KEY))
        messages: list[str] = []
        writes: dict[Any, str] = {}
        removed: list[str] = []
        for field, (owner, condition) in active.items():
            held = json.loads(state[field]) if field in state else {"seen": now}
            if "since" not in held:
                if now - held["seen"] >= self.timing.start_after:
                    messages.append(self._started(owner, condition))
                    held = {"seen": held["seen"], "since": now, "summary": condition.summary}
                    held["state"] = condition.state
            else:
                held.pop("clear", None)
            if field not in state or json.loads(state[field]) != held:
                writes[field] = json.dumps(held)
        for field, raw in state.items():
            if field in active or field.endswith(SEP + "repair"):
                continue
            held = json.loads(raw)
            if "since" not in held:
                removed.append(field)  # gone before it was ever reported
                continue
            held.setdefault("clear", now)
            if now - held["clear"] >= self.timing.clear_after:
                messages.append(self._cleared(field.split(SEP, 1)[0], held, now))
                removed.append(field)
            elif "clear" not in json.loads(raw):
                writes[field] = json.dumps(held)
        messages.extend(self._repairs(reading, state, writes, now))
        self._watch_quiet_stores(reading)
        with self.client.pipeline(transaction=True) as pipe:
            if writes:
                pipe.hset(STATE_KEY, mapping=writes)
            if removed:
                pipe.hdel(STATE_KEY, *removed)
            for text in messages:
                pipe.rpush(OUTBOX_KEY, json.dumps({"text": text, "at": now}))
            pipe.ltrim(OUTBOX_KEY, -defaults.ALERT_OUTBOX_MAX, -1)
            pipe.execute()
        for text in messages:
            log.info("alert queued", extra={"alert": text})
        return messages

    def _repairs(
        self, reading: health.Health, state: dict[str, str], writes: dict[Any, str], now: float
    ) -> list[str]:
        """One message per watchdog repair not reported yet."""
        messages = []
        for store in reading.stores:
            if store.repair_at is None:
                continue
            field = store.store + SEP + "repair"
            reported = float(state.get(field, 0) or 0)
            if store.repair_at <= reported:
                continue
            writes[field] = repr(store.repair_at)
            if not reported and now - store.repair_at > 2 * self.timing.evaluate_every:
                continue  # repaired before the alerts were watching: not news
            kind = f" ({store.repair_kind})" if store.repair_kind else ""
            at = time.strftime("%H:%M UTC", time.gmtime(store.repair_at))
            messages.append(
                f"🛠️ {store.store}: the watchdog found a {store.platform} webhook subscription "
                f"off and repaired it{kind} at {at}; reconciliation fetches what the shop sent "
                f"meanwhile.{self._link(store.store)}"
            )
        return messages

    def _watch_quiet_stores(self, reading: health.Health) -> None:
        for store in reading.stores:
            own = self.config.stores[store.store]
            if own.quiet_hours is not None and store.webhook_at is None:
                self.client.hsetnx(
                    metrics.store_key(store.store), "watched_at", repr(reading.generated_at)
                )

    def _started(self, store: str, condition: health.Condition) -> str:
        who = "kanal-bridge" if store == DEPLOYMENT else store
        verb = _VERBS.get(condition.state, "needs a look")
        icon = _ICONS.get(condition.state, "")
        return f"{icon} {who} {verb}: {condition.summary}.{self._link(store)}"

    def _cleared(self, store: str, held: dict[str, Any], now: float) -> str:
        who = "kanal-bridge" if store == DEPLOYMENT else store
        lasted = health.duration(now - held["since"])
        return (
            f"{_ICONS['ok']} {who} resolved after {lasted}: {held.get('summary', '')}."
            f"{self._link(store)}"
        )

    def _link(self, store: str) -> str:
        if not self.public_url:
            return ""
        anchor = "" if store == DEPLOYMENT else f"#store-{store}"
        return f" {self.public_url}/status{anchor}"

    # Sending.

    def send_due(self, now: float | None = None) -> bool:
        """POST the oldest waiting messages if it is time; True when the server took them."""
        now = time.time() if now is None else now
        if now - self._last_post < self.timing.send_spacing:
            return False
        retry = {k: float(v) for k, v in _decoded(self.client.hgetall(RETRY_KEY)).items()}
        if now < retry.get("next_at", 0.0):
            return False
        waiting = self.client.lrange(OUTBOX_KEY, 0, defaults.ALERT_BATCH - 1)
        if not waiting:
            return False
        text = "\n".join(json.loads(raw)["text"] for raw in waiting)
        self._last_post = now
        try:
            response = self.http.post(self.webhook_url, json={"text": text})
            accepted = 200 <= response.status_code < 300
            answer = str(response.status_code)
        except httpx.HTTPError as exc:
            accepted, answer = False, exc.__class__.__name__
        if accepted:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.ltrim(OUTBOX_KEY, len(waiting), -1)
                pipe.delete(RETRY_KEY)
                pipe.execute()
            return True
        failures = int(retry.get("failures", 0)) + 1
        delays = self.timing.retry_delays
        wait = delays[min(failures, len(delays)) - 1]
        self.client.hset(RETRY_KEY, mapping={"failures": failures, "next_at": now + wait})
        log.warning(
            "alert webhook refused the messages; retrying",
            extra={"answer": answer, "retry_in_s": wait, "waiting": len(waiting)},
        )
        return False

    def close(self) -> None:
        self.http.close()


class AlertThread(threading.Thread):
    """The daemon thread of one process: take the lock when free, then evaluate and send."""

    def __init__(self, alerts: Alerts) -> None:
        super().__init__(name="alerts", daemon=True)
        self.alerts = alerts
        self._stopped = threading.Event()
        self._lock = alerts.client.lock(
            LOCK_KEY, timeout=alerts.timing.lock_seconds, blocking=False, thread_local=False
        )
        self._holding = False
        self._next_try = 0.0

    def run(self) -> None:
        timing = self.alerts.timing
        next_evaluation = 0.0
        while not self._stopped.is_set():
            try:
                now = time.time()
                if self._holds(now):
                    if now >= next_evaluation:
                        next_evaluation = now + timing.evaluate_every
                        self.alerts.evaluate(now)
                    self.alerts.send_due()
            except (redis.RedisError, OSError) as exc:
                log.warning("alerts: Redis unavailable (%s)", exc.__class__.__name__)
            except Exception:  # never let a bug end the thread quietly
                log.exception("alerts: evaluation failed")
            self._stopped.wait(timing.tick)

    def _holds(self, now: float) -> bool:
        """Renew the lock if held, else try to take it (not more often than lock_retry)."""
        if self._holding:
            try:
                self._lock.reacquire()
                return True
            except LockError:
                self._holding = False  # expired meanwhile: another process may have it
        if now < self._next_try:
            return False
        self._next_try = now + self.alerts.timing.lock_retry
        self._holding = bool(self._lock.acquire(blocking=False))
        return self._holding

    def stop(self, timeout: float = defaults.ALERT_HTTP_TIMEOUT + 2) -> None:
        """Stop the thread and hand the lock over (another process takes it at once)."""
        self._stopped.set()
        if self.is_alive():
            self.join(timeout)
        if self._holding:
            with contextlib.suppress(redis.RedisError, LockError):
                self._lock.release()
        self.alerts.close()


def start(redis_url: str, config: BridgeConfig | None) -> AlertThread | None:
    """This process's alert thread, started; None when alerts are off (no webhook_url)."""
    if config is None or config.alerts.webhook_url is None:
        return None
    try:
        public_url = config.public_url()
    except (ValueError, ConfigError):
        log.warning("alerts: PUBLIC_URL is not a usable URL; messages go without a link")
        public_url = None
    timing = Timing(
        evaluate_every=config.alerts.check_every_seconds,
        start_after=config.alerts.start_after_seconds,
        clear_after=config.alerts.clear_after_seconds,
    )
    client = sync_redis(redis_url, max_connections=1)
    url = config.alerts.webhook_url.get_secret_value()
    alerts = Alerts(client, config, url, public_url, timing)
    thread = AlertThread(alerts)
    thread.start()
    return thread


def _decoded(raw: Any) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in raw.items()
    }
