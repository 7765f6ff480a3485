"""`kanal-bridge connect` and `kanal-bridge webhooks`: the operator's view of subscriptions.

    kanal-bridge connect [STORE ...] [--dry-run]   bring them in line, print what was done
    kanal-bridge webhooks [STORE]                   the platform's state next to what the
                                                    bridge received, per topic

Both print one table per store. `connect` exits 1 when a store could not be brought in line
(each failed row says what to fix), 2 when it cannot start (no public_url, unknown store);
`webhooks` exits 1 when a subscription is not active or the shop could not be read.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import TextIO
from urllib.parse import urlsplit

import redis

from bridge import metrics
from bridge.config import BridgeConfig, Settings, StoreConfig, load_config
from bridge.connection import sync_redis
from bridge.ops.health import ago
from bridge.platforms import subscriptions, watchdog
from bridge.platforms.connect import StoreReport, connect_store
from bridge.platforms.subscriptions import Change

PUBLIC_URL_MISSING = (
    "the bridge's public address is not set: set PUBLIC_URL (or [bridge] public_url in the "
    "configuration) to the https address the shops reach the bridge at, e.g. "
    "https://bridge.example.com"
)


def host_and_path(url: str) -> str:
    """An address without scheme, query or fragment (another integration's URL may carry a
    token in its query)."""
    parts = urlsplit(url)
    return (
        f"{parts.hostname or '?'}{parts.path}"
        if parts.path not in ("", "/")
        else (parts.hostname or "?")
    )


def describe(change: Change, dry_run: bool) -> str:
    """What a change does, in words."""
    if change.action == "create":
        return "would create" if dry_run else "created"
    if change.action == "delete":
        why = "duplicate" if change.was == "duplicate" else "no longer wanted"
        return f"{'would remove' if dry_run else 'removed'} ({why})"
    parts = []
    if change.reactivate:
        parts.append("re-activate" if dry_run else "re-activated")
    if change.address is not None:
        was = host_and_path(change.old_address or "")
        parts.append(f"{'correct' if dry_run else 'corrected'} the address (was {was})")
    if change.reformat:
        parts.append("set to JSON, whole bodies")
    if change.secret:
        parts.append("set the secret" if dry_run else "secret set")
    text = ", ".join(parts)
    return f"would {text}" if dry_run else text


def render_connect(report: StoreReport) -> str:
    """One store's table: each wanted topic, what was found, what was done."""
    lines = [f"{report.key}  {report.platform}  {report.url}"]
    for problem in report.problems:
        lines.append(f"  ! {problem}")
    if report.plan is None:
        lines.append(f"  not connected: {report.error}")
        return "\n".join(lines)
    by_topic: dict[str, list[tuple[Change, str | None]]] = {}
    for outcome in report.outcomes:
        by_topic.setdefault(outcome.change.topic, []).append((outcome.change, outcome.error))
    rows = [("topic", "found", "done" if not report.dry_run else "to do")]
    for topic, state in report.plan.states.items():
        changes = by_topic.pop(topic, [])
        fixes = [(c, e) for c, e in changes if c.action != "delete"]
        rows.append((topic, state, _action(fixes, report.dry_run)))
        for change, error in changes:
            if change.action == "delete":
                rows.append((topic, change.was, _action([(change, error)], report.dry_run)))
    for topic, changes in by_topic.items():  # ours, no longer wanted
        for change, error in changes:
            rows.append((topic, change.was, _action([(change, error)], report.dry_run)))
    lines.extend(_table(rows))
    if report.plan.others:
        hosts = sorted({host_and_path(sub.address) for sub in report.plan.others})
        shown = ", ".join(hosts[:5]) + (", ..." if len(hosts) > 5 else "")
        lines.append(
            f"  left alone: {len(report.plan.others)} subscription(s) delivering elsewhere "
            f"({shown})"
        )
    lines.append("  " + _summary(report))
    return "\n".join(lines)


def _action(changes: list[tuple[Change, str | None]], dry_run: bool) -> str:
    if not changes:
        return "-"
    texts = []
    for change, error in changes:
        texts.append(describe(change, dry_run) if error is None else f"FAILED: {error}")
    return "; ".join(texts)


def _summary(report: StoreReport) -> str:
    if not report.outcomes:
        return "in line: nothing to change"
    if report.dry_run:
        return f"dry run: {len(report.outcomes)} change(s) to make, none made"
    done = len(report.done)
    failed = len(report.outcomes) - done
    text = f"{done} change(s) made"
    return f"{text}, {failed} failed: not in line" if failed else f"{text}: in line"


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in rows
    ]


def _stores(
    config: BridgeConfig, keys: Sequence[str], out: TextIO
) -> dict[str, StoreConfig] | None:
    unknown = [key for key in keys if key not in config.stores]
    if unknown:
        known = ", ".join(sorted(config.stores))
        print(
            f"error: no store {', '.join(unknown)} in the configuration (known: {known})", file=out
        )
        return None
    return {key: config.stores[key] for key in (keys or sorted(config.stores))}


def _operator_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The environment, with `make run`'s demo configuration and local Redis when run from
    its folder with nothing else configured."""
    from bridge.ops.demo import operator_env

    return operator_env(env)


def _load(env: Mapping[str, str]) -> tuple[Settings, BridgeConfig]:
    settings = Settings.from_env(env)
    return settings, load_config(settings, env)


def connect_command(
    keys: Sequence[str],
    dry_run: bool,
    env: Mapping[str, str] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """`kanal-bridge connect`: the exit status."""
    env = _operator_env(env)
    settings, config = _load(env)
    stores = _stores(config, keys, out)
    if stores is None:
        return 2
    public_url = config.public_url(env)
    if public_url is None:
        print(f"error: {PUBLIC_URL_MISSING}", file=out)
        return 2
    client = sync_redis(settings.redis_url)
    status = 0
    try:
        for key, store in stores.items():
            if not store.has_api_access:
                if keys:
                    print(f"{key}: {_no_access(store)}\n", file=out)
                    status = 1
                else:
                    print(f"{key}: skipped, {_no_access(store)}\n", file=out)
                continue
            report = connect_store(key, store, public_url, client, dry_run=dry_run)
            if not dry_run:
                watchdog.record(client, key, store, report, by_watchdog=False)
            print(render_connect(report) + "\n", file=out)
            if not report.ok:
                status = 1
    except redis.RedisError as exc:
        print(
            f"error: Redis does not answer ({exc.__class__.__name__}): connect remembers there "
            "which subscriptions the bridge made; check REDIS_URL",
            file=out,
        )
        return 1
    finally:
        client.close()
    return status


def _no_access(store: StoreConfig) -> str:
    if store.platform == "shopify":
        needed = "admin_api_token, or client_id + client_secret (and shop_domain)"
    else:
        needed = "site_url, consumer_key and consumer_secret"
    return f"no API credentials ({needed}): its webhooks are managed by hand"


def webhooks_command(
    key: str | None, env: Mapping[str, str] | None = None, out: TextIO = sys.stdout
) -> int:
    """`kanal-bridge webhooks`: the exit status."""
    env = _operator_env(env)
    settings, config = _load(env)
    stores = _stores(config, [key] if key else [], out)
    if stores is None:
        return 2
    public_url = config.public_url(env)
    client = sync_redis(settings.redis_url)
    status = 0
    now = time.time()
    try:
        for name, store in stores.items():
            raw: dict[bytes, bytes] = client.hgetall(metrics.store_key(name))  # type: ignore[assignment]
            seen = {k.decode(): v.decode() for k, v in raw.items()}
            report = None
            note = None
            if not store.has_api_access:
                note = "platform state unknown: " + _no_access(store)
            elif public_url is None:
                note = "platform state unknown: " + PUBLIC_URL_MISSING
            else:
                report = connect_store(name, store, public_url, client, dry_run=True)
                if report.plan is None:
                    note = f"platform state unknown: {report.error}"
            text, healthy = render_webhooks(name, store, public_url, report, seen, now, note)
            print(text + "\n", file=out)
            if not healthy:
                status = 1
    except redis.RedisError as exc:
        print(f"error: Redis does not answer ({exc.__class__.__name__}); check REDIS_URL", file=out)
        return 1
    finally:
        client.close()
    return status


def render_webhooks(
    key: str,
    store: StoreConfig,
    public_url: str | None,
    report: StoreReport | None,
    seen: Mapping[str, str],
    now: float,
    note: str | None = None,
) -> tuple[str, bool]:
    """One store's table of topics: the platform's state, the last delivery received; and
    whether every subscription is active."""
    url = subscriptions.webhook_url(public_url, store.platform, key) if public_url else ""
    lines = [f"{key}  {store.platform}  {url or '(no public_url)'}".rstrip()]
    states = report.plan.states if report and report.plan else {}
    rows = [("topic", "platform", "last delivery received")]
    for topic in subscriptions.wanted_topics(store):
        last = _when(seen.get(f"webhook_at:{topic}"), now)
        rows.append((topic, states.get(topic, "unknown"), last))
    lines.extend(_table(rows))
    if report and report.plan and report.plan.others:
        lines.append(
            f"  left alone: {len(report.plan.others)} subscription(s) delivering elsewhere"
        )
    if note:
        lines.append(f"  {note}")
    facts = [f"last webhook (any topic): {_when(seen.get('webhook_at'), now)}"]
    if seen.get("watchdog_at"):
        facts.append(f"watchdog checked {_when(seen['watchdog_at'], now)}")
    if seen.get("repair_at"):
        kind = f" ({seen['repair_kind']})" if seen.get("repair_kind") else ""
        facts.append(f"last repair {_when(seen['repair_at'], now)}{kind}")
    if seen.get("watchdog_error"):
        facts.append(f"watchdog error: {seen['watchdog_error']}")
    lines.append("  " + "; ".join(facts))
    if report is None:
        healthy = True  # nothing the bridge can check
    else:
        healthy = report.plan is not None and all(s == "active" for s in states.values())
    return "\n".join(lines), healthy


def _when(value: str | None, now: float) -> str:
    if not value:
        return "never"
    try:
        at = float(value)
    except ValueError:
        return "?"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))
    return f"{ago(now - at)} ({stamp})"
