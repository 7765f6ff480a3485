"""GET /status (HTML) and GET /status.json: every store's health at a glance.

Behind the dashboard's basic auth, and absent (404) without DASHBOARD_PASSWORD, as /rq. The
page is server-rendered HTML with inline CSS and SVG charts: no script, no external asset,
readable offline and behind Heroku's router. It refreshes itself every 30 seconds. Neither
route shows personal data: stores, counts, times, topics and job ids only.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable

import redis
import redis.asyncio
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, request_response

from bridge import metrics
from bridge.config import BridgeConfig, Settings
from bridge.ops import charts, health, progress
from bridge.ops.dashboard import MOUNT, BasicAuth

REFRESH_SECONDS = 30
# rq-dashboard's pages, relative to /status (so they follow any path prefix in front).
FAILED_JOBS_PAGE = f"{MOUNT.lstrip('/')}/0/view/jobs/kanal/failed/20/desc/1"
JOB_PAGE = f"{MOUNT.lstrip('/')}/0/view/job/"

STATE_WORDS = {
    "paused": "Paused",
    "failing": "Failing",
    "degraded": "Degraded",
    "ok": "OK",
}


class StatusPage:
    """The two routes; the app's Redis client is `request.app.state.redis` (the lifespan's)."""

    def __init__(self, settings: Settings, config: BridgeConfig | None) -> None:
        self.settings = settings
        self.config = config

    def routes(self) -> list[BaseRoute]:
        """/status and /status.json, or nothing (404) when DASHBOARD_PASSWORD is unset."""
        password = self.settings.dashboard_password
        if not password:
            return []
        user = self.settings.dashboard_user
        return [
            Route(
                "/status",
                BasicAuth(request_response(self.page), user, password),
                methods=["GET", "HEAD"],
            ),
            Route(
                "/status.json",
                BasicAuth(request_response(self.json), user, password),
                methods=["GET", "HEAD"],
            ),
        ]

    async def _read(self, request: Request) -> health.Health | Response:
        client: redis.asyncio.Redis | None = getattr(request.app.state, "redis", None)
        if self.config is None:
            return _plain("configuration not loaded: see /readyz\n")
        if client is None:
            return _plain("redis: not connected\n")
        try:
            await metrics.aflush(client)  # this process's counts are fresh, others' <= 5 s old
            return await health.aread(client, self.config)
        except (redis.RedisError, OSError) as exc:
            return _plain(f"redis: {exc.__class__.__name__}\n")

    async def page(self, request: Request) -> Response:
        reading = await self._read(request)
        if isinstance(reading, Response):
            return reading
        return HTMLResponse(render(reading), headers={"Cache-Control": "no-store"})

    async def json(self, request: Request) -> Response:
        reading = await self._read(request)
        if isinstance(reading, Response):
            return reading
        return JSONResponse(reading.as_json(), headers={"Cache-Control": "no-store"})


def _plain(text: str) -> Response:
    return Response(text, status_code=503, media_type="text/plain")


# Rendering.

STYLE = """
:root { color-scheme: light; --ink: #1d2433; --muted: #5d6778; --line: #e4e7ec;
  --ok: #067647; --ok-bg: #ecfdf3; --degraded: #93370d; --degraded-bg: #fffaeb;
  --failing: #b42318; --failing-bg: #fef3f2; --paused: #5925dc; --paused-bg: #f4f3ff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #f8f9fb; }
header, main { max-width: 1360px; margin: 0 auto; padding: 0 24px; }
header { display: flex; align-items: baseline; gap: 16px; padding-top: 22px; flex-wrap: wrap; }
h1 { font-size: 20px; margin: 0; font-weight: 650; }
.summary { margin: 0; color: var(--muted); }
.summary b { color: var(--ink); }
.summary b.failing { color: var(--failing); }
.summary b.paused { color: var(--paused); }
.deployment { margin: 14px 0 8px; color: var(--muted); display: flex; gap: 22px;
  flex-wrap: wrap; align-items: center; }
.deployment b { color: var(--ink); font-weight: 600; }
.meter { display: inline-block; width: 90px; height: 8px; border-radius: 4px;
  background: var(--line); vertical-align: middle; overflow: hidden; margin-left: 6px; }
.meter span { display: block; height: 100%; background: #528bff; }
.meter.high span { background: var(--failing); }
.warning { margin: 8px 0; padding: 10px 14px; border-radius: 8px; color: var(--failing);
  background: var(--failing-bg); border: 1px solid #fecdca; }
table { width: 100%; border-collapse: separate; border-spacing: 0; margin: 12px 0 28px;
  background: #fff; border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
th { text-align: left; font-weight: 600; font-size: 12px; color: var(--muted);
  text-transform: uppercase; letter-spacing: .03em; padding: 10px 14px;
  border-bottom: 1px solid var(--line); background: #fcfcfd; }
td { padding: 14px; vertical-align: top; border-bottom: 1px solid var(--line); }
tr:last-child td { border-bottom: 0; }
tr.failing td { background: var(--failing-bg); }
tr.paused td { background: var(--paused-bg); }
tr.failing td:first-child { box-shadow: inset 5px 0 0 var(--failing); }
tr.paused td:first-child { box-shadow: inset 5px 0 0 var(--paused); }
tr.degraded td:first-child { box-shadow: inset 5px 0 0 #f79009; }
tr.ok td:first-child { box-shadow: inset 5px 0 0 #47cd89; }
.store { font-weight: 650; font-size: 15px; }
small, .muted { color: var(--muted); }
small { display: block; font-size: 12px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 650;
  font-size: 12px; letter-spacing: .02em; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.degraded { color: var(--degraded); background: #fef0c7; }
.badge.failing { color: #fff; background: var(--failing); }
.badge.paused { color: #fff; background: var(--paused); }
ul.why { margin: 8px 0 0; padding: 0 0 0 16px; font-size: 13px; line-height: 1.4; }
ul.why li { margin: 3px 0; }
li.failing { color: var(--failing); font-weight: 560; }
li.paused { color: var(--paused); font-weight: 560; }
.figure { font-variant-numeric: tabular-nums; }
.chart { display: block; margin-top: 6px; }
.chart rect { fill: #98a2b3; }
.chart.pushes rect { fill: #32d583; }
.chart.failures rect { fill: #f04438; }
.chart .base { stroke: var(--line); }
a { color: #175cd3; text-decoration: none; }
a:hover { text-decoration: underline; }
.na { color: #98a2b3; }
footer { color: var(--muted); font-size: 12px; padding-bottom: 24px; }
"""


def render(reading: health.Health) -> str:
    """The whole page."""
    now = reading.generated_at
    counts = reading.counts()
    summary = " · ".join(
        f'<b class="{state}">{counts[state]}</b> {state}'
        for state in health.STATES
        if counts[state]
    )
    updated = time.strftime("%H:%M:%S UTC", time.gmtime(now))
    rows = "".join(_row(store, now) for store in reading.stores)
    warnings = "".join(
        f'<div class="warning">{html.escape(text)}</div>'
        for text in _deployment_warnings(reading.deployment)
    )
    worst = reading.stores[0].state if reading.stores else "ok"
    title = f"{STATE_WORDS[worst]} · kanal-bridge" if worst != "ok" else "kanal-bridge status"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body><header><h1>kanal-bridge</h1>
<p class="summary">{len(reading.stores)} store(s): {summary} · updated {updated}</p></header>
<main>{_deployment(reading.deployment)}{warnings}
<table><colgroup><col style="width:13%"><col style="width:26%"><col style="width:12%">
<col style="width:14%"><col style="width:12%"><col style="width:11%"><col style="width:12%">
</colgroup><thead><tr><th>Store</th><th>State</th><th>Webhooks received</th>
<th>Pushes to Kanal</th><th>Failures</th><th>Waiting</th><th>Shop API</th></tr></thead>
<tbody>{rows}</tbody></table>
<footer>Charts: the last 24 hours, one bar an hour (UTC). Failures: Kanal errors, refusals and
429s, and records that failed. <a href="status.json">status.json</a> ·
<a href="{FAILED_JOBS_PAGE}">failed jobs</a> · refreshes every {REFRESH_SECONDS} s</footer>
</main></body></html>
"""


def _deployment(deployment: health.Deployment) -> str:
    parts = []
    usage = deployment.redis
    if usage is not None:
        if usage.maxmemory:
            share = usage.memory_share or 0.0
            high = " high" if share >= 0.8 else ""
            parts.append(
                f"<span>Redis memory <b>{_mb(usage.used_memory)}</b> of {_mb(usage.maxmemory)}"
                f'<span class="meter{high}"><span style="width:{min(share, 1) * 100:.0f}%">'
                "</span></span></span>"
            )
        else:
            parts.append(f"<span>Redis memory <b>{_mb(usage.used_memory)}</b></span>")
        limit = f" of {usage.maxclients}" if usage.maxclients else ""
        parts.append(f"<span><b>{usage.connected_clients}</b>{limit} connections</span>")
    parts.append(f"<span><b>{deployment.workers}</b> worker(s)</span>")
    parts.append(
        f"<span><b>{deployment.queued}</b> queued · <b>{deployment.scheduled}</b> scheduled"
        " pushes</span>"
    )
    return f'<div class="deployment">{"".join(parts)}</div>'


def _deployment_warnings(deployment: health.Deployment) -> Iterable[str]:
    yield from deployment.warnings
    if deployment.workers == 0:
        yield "No worker is running: nothing reaches Kanal (records are kept until one runs)."


def _row(store: health.StoreHealth, now: float) -> str:
    hourly = store.hourly or health.Hourly([], [], [], [])
    why = "".join(f'<li class="{c.state}">{html.escape(c.summary)}</li>' for c in store.conditions)
    cells = [
        f'<td><div class="store">{html.escape(store.store)}</div>'
        f"<small>{store.platform} · Kanal store {store.kanal_store_id}</small></td>",
        f'<td><span class="badge {store.state}">{STATE_WORDS[store.state]}</span>'
        + (f'<ul class="why">{why}</ul>' if why else "")
        + "</td>",
        "<td>"
        + _when("last", store.webhook_at, now)
        + charts.bars(hourly.webhooks, hourly.hours, label="webhooks", css_class="webhooks")
        + "</td>",
        "<td>"
        + _when("last", store.push_at, now)
        + f'<small class="figure">{_calls(store.calls_last_hour)} in the last hour · '
        f"budget {store.budget_per_hour:,}/h</small>"
        + charts.bars(hourly.pushes, hourly.hours, label="pushes", css_class="pushes")
        + "</td>",
        f"<td>{_failures(store)}"
        + charts.bars(hourly.failures, hourly.hours, label="failures", css_class="failures")
        + "</td>",
        f"<td>{_waiting(store, now)}</td>",
        f"<td>{_shop_api(store, now)}</td>",
    ]
    return f'<tr class="{store.state}" id="store-{html.escape(store.store)}">{"".join(cells)}</tr>'


def _calls(count: float) -> str:
    return "1 call" if round(count) == 1 else f"{count:.0f} calls"


def _when(label: str, at: float | None, now: float) -> str:
    if at is None:
        return f'<div class="na">{label}: never seen</div>'
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
    return f'<div title="{stamp}">{label} {health.ago(now - at)}</div>'


def _failures(store: health.StoreHealth) -> str:
    lines = []
    if store.failed:
        links = " ".join(
            f'<a href="{JOB_PAGE}{html.escape(job)}">{html.escape(job[:8])}</a>'
            for job in store.failed_jobs
        )
        lines.append(
            f'<div><a href="{FAILED_JOBS_PAGE}"><b>{store.failed}</b> failed record(s)</a></div>'
            f"<small>{links}</small>"
        )
    else:
        lines.append('<div class="muted">no failed records</div>')
    recent = []
    if store.errors_last_hour:
        recent.append(f"{store.errors_last_hour:.0f} errors")
    if store.rate_limited_last_hour:
        recent.append(f"{store.rate_limited_last_hour:.0f} answered 429")
    if recent:
        lines.append(f"<small>last hour: {', '.join(recent)}</small>")
    return "".join(lines)


def _waiting(store: health.StoreHealth, now: float) -> str:
    lines = [f'<div class="figure"><b>{store.pending}</b> pending</div>']
    if store.pending:
        lines.append(f"<small>oldest {health.duration(store.oldest_pending_seconds)}</small>")
    if store.held_reason:
        since = f" since {health.ago(now - store.held_since)}" if store.held_since else ""
        probe = (
            f"; next try in {health.duration(store.probe_at - now)}"
            if store.probe_at and store.probe_at > now
            else ""
        )
        lines.append(f"<small>held by Kanal's refusal{since}{probe}</small>")
    if store.rate_limit_pause_seconds:
        lines.append(f"<small>429 pause: {store.rate_limit_pause_seconds:.0f} s left</small>")
    if store.backfill:
        lines.append(
            f"<small>backfill {html.escape(progress.summary(store.backfill, now))}</small>"
        )
    return "".join(lines)


def _shop_api(store: health.StoreHealth, now: float) -> str:
    if not store.api_access:
        return '<div class="na">not available</div><small>webhooks only: no API credentials</small>'
    lines = []
    if store.subscriptions is None:
        lines.append('<div class="na">subscriptions: not available</div>')
    else:
        active = sum(1 for state in store.subscriptions.values() if state == "active")
        lines.append(f"<div>subscriptions: {active} of {len(store.subscriptions)} active</div>")
    lines.append(_small_when("watchdog", store.watchdog_at, now))
    if store.repair_at is not None:
        kind = f" ({html.escape(store.repair_kind)})" if store.repair_kind else ""
        lines.append(f"<small>last repair{kind} {health.ago(now - store.repair_at)}</small>")
    if store.reconcile_at is None:
        lines.append('<small class="na">reconciliation: not available</small>')
    else:
        found = store.reconcile_found or 0
        total = f", {store.reconcile_found_total} in all" if store.reconcile_found_total else ""
        lines.append(
            f"<small>reconciled {health.ago(now - store.reconcile_at)}: found {found}"
            f" missed{total}</small>"
        )
    return "".join(lines)


def _small_when(label: str, at: float | None, now: float) -> str:
    if at is None:
        return f'<small class="na">{label}: not available</small>'
    return f"<small>{label} {health.ago(now - at)}</small>"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
