"""Make docs/status.png: the /status page with stores in each state, in a real headless Chromium.

Starts a private Redis with Heroku Key-Value Store premium-0's limits (50 MB, 40 connections)
and the bridge's web process (the Procfile's command) on it, posts signed webhooks to four
stores so their "last webhook" and this hour's counts are real, and stages the rest in Redis
the way the other processes write it: earlier hours' counts (as the metrics flush keeps them),
an old pending record and a webhook subscription the watchdog found disabled (failing), a
Kanal store held after Kanal rejected its key (paused), failed records and a repair
(degraded). Then it photographs /status with Debian's Chromium through docs/screenshot.py's
basic-auth proxy (Chromium cannot send credentials for a screenshot), from a neutral working
directory.

    .venv/bin/python docs/status_screenshot.py [--out docs]      (needs: apt-get install chromium)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis

# Run as a script, docs/ is on sys.path: the proxy and the wait come from docs/screenshot.py.
from screenshot import auth_proxy, wait_for

from bridge import metrics
from bridge.cli import sample_request
from bridge.delivery import jobs
from bridge.delivery.limiter import pace_key
from bridge.delivery.records import PENDING_KEY
from bridge.ops import health
from bridge.ops.localredis import pick_free_port, private_server

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KANAL_KEY = secrets.token_hex(12)
SECRET = secrets.token_hex(16)
PASSWORD = secrets.token_hex(12)
STORES = {  # key: (platform, Kanal store id, its webhooks an hour)
    "paris-boutique": ("shopify", 11, 9),
    "berlin-outlet": ("woocommerce", 12, 5),
    "lyon-concept": ("shopify", 13, 14),
    "madrid-studio": ("shopify", 14, 7),
}
CONFIG = "".join(
    f"""
[stores.{key}]
platform = "{platform}"
kanal_store_id = {kanal_id}
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{SECRET}}"]
default_country = "FR"
{'admin_api_token = "${SECRET}"' if platform == "shopify" else ""}
{f'shop_domain = "{key}.myshopify.com"' if platform == "shopify" else ""}
{"quiet_hours = 2" if key == "lyon-concept" else ""}
"""
    for key, (platform, kanal_id, _) in STORES.items()
)


def stage(client: redis.Redis, now: float) -> None:
    """Write what the worker, the watchdog and reconciliation would have written."""
    hour = int(now // 3600)
    for key, (_, kanal_id, rate) in STORES.items():
        for back in range(1, health.HOURS):
            wave = 1.0 + 0.6 * ((back * 7 + kanal_id) % 5) / 4  # a day's ups and downs
            webhooks = int(rate * wave) if back % 24 not in (3, 4, 5) else int(rate * 0.2)
            counts = {"webhooks": webhooks, "calls": webhooks // 2, "pushes": webhooks // 2}
            if key == "madrid-studio" and back < 9:  # Kanal refused its key 8 hours ago
                counts = {"webhooks": webhooks, "calls": 1, "rejected": 1}
            if key == "lyon-concept" and back < 3:
                counts = {"webhooks": 0, "calls": 6, "pushes": 2, "errors": 4}
            if key == "berlin-outlet" and back in (5, 6):
                counts["failed"] = 2
                counts["rejected"] = 2
            client.hset(metrics.hour_key(key, hour - back), mapping=counts)
        client.hset(
            metrics.store_key(key),
            mapping={
                "watchdog_at": now - 240,
                "reconcile_at": now - 420,
                "reconcile_found": 0,
                "reconcile_found_total": 0,
                "push_at": now - 35,
            },
        )
    active = {
        topic: "active"
        for topic in ("orders/create", "orders/updated", "orders/paid", "checkouts/create")
    }
    for key in ("paris-boutique", "madrid-studio", "lyon-concept"):
        client.hset(metrics.store_key(key), "subscriptions", json.dumps(active))
    # Failing: webhooks went quiet three hours ago, a subscription is disabled, and the
    # oldest pending record has waited 47 minutes.
    client.hset(
        metrics.store_key("lyon-concept"),
        mapping={
            "subscriptions": json.dumps({**active, "orders/updated": "disabled"}),
            "webhook_at": now - 3 * 3600 - 600,
            "push_at": now - 51 * 60,
        },
    )
    client.delete(metrics.hour_key("lyon-concept", hour))
    client.hset(metrics.hour_key("lyon-concept", hour), mapping={"calls": 3, "errors": 3})
    for number in range(6):
        client.zadd(PENDING_KEY, {f"kb:rec:13:orders:{5001 + number}": now - (47 - number) * 60})
    # Paused: Kanal rejected the key; records wait for it to be accepted again.
    client.hset(
        pace_key(14),
        mapping={
            "held_reason": "key_rejected",
            "held_status": 401,
            "held_since": now - 8 * 3600 - 120,
            "probe_at": now + 540,
        },
    )
    client.hset(metrics.store_key("madrid-studio"), "push_at", now - 8 * 3600 - 180)
    for number in range(38):
        client.zadd(PENDING_KEY, {f"kb:rec:14:orders:{7001 + number}": now - 8 * 3600 + number})
    # Degraded: two records Kanal refused wait in the failed registry; a repair this morning.
    for number in range(2):
        job_id = secrets.token_hex(16)
        client.hset(jobs.job_key(job_id), "description", f"push 12:orders:{880 + number}")
        client.zadd(health.FAILED_KEY, {job_id: now + 30 * 86400})
    client.hset(
        metrics.store_key("berlin-outlet"),
        mapping={"repair_at": now - 5 * 3600, "repair_kind": "reactivated"},
    )
    client.sadd(health.WORKERS_KEY, "rq:worker:screenshot")  # the page's "workers" figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"), help="directory of the PNG")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("needs Debian's chromium: apt-get install -y chromium")
    with private_server() as redis_url:
        client = redis.Redis.from_url(redis_url)
        client.config_set("maxmemory", 50_000_000)
        client.config_set("maxclients", 40)
        photograph(chromium, redis_url, client, Path(args.out))


def photograph(chromium: str, redis_url: str, client: redis.Redis, out_dir: Path) -> None:
    """Run the web process against `redis_url`, stage the stores, and take the picture."""
    work = Path(tempfile.mkdtemp(prefix="kanal-status-"))
    port = pick_free_port()
    (work / "bridge.toml").write_text(CONFIG)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "REDIS_URL": redis_url,
        "BRIDGE_CONFIG": str(work / "bridge.toml"),
        "KANAL_API_URL": "http://127.0.0.1:9",
        "PORT": str(port),
        "KANAL_KEY": KANAL_KEY,
        "SECRET": SECRET,
        "DASHBOARD_PASSWORD": PASSWORD,
        "LOG_FORMAT": "console",
    }
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    log = (work / "web.log").open("wb")
    web = subprocess.Popen(
        shlex.split(procfile["web"].strip()),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
    )
    try:
        bridge = f"http://127.0.0.1:{port}"
        wait_for(f"{bridge}/healthz")
        for key, (platform, _, rate) in STORES.items():
            if key == "lyon-concept":
                continue  # quiet for hours
            for _ in range(rate // 2):
                request = sample_request(
                    platform, secret=SECRET, shop_domain=f"{key}.myshopify.com"
                )
                httpx.post(
                    f"{bridge}/webhooks/{platform}/{key}",
                    content=request.body,
                    headers=request.headers,
                ).raise_for_status()
        stage(client, time.time())
        # Records of these webhooks wait for a worker that is not running here: keep the
        # backlog to the staged one.
        for key in client.zrange(PENDING_KEY, 0, -1):
            if not key.startswith((b"kb:rec:13:", b"kb:rec:14:")):
                client.zrem(PENDING_KEY, key)
        time.sleep(metrics.FLUSH_INTERVAL + 1)  # the web process flushes its counts

        proxy = auth_proxy(bridge, "admin", PASSWORD)
        out = out_dir.resolve() / "status.png"
        neutral = Path(tempfile.mkdtemp(prefix="kanal-shot-"))
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={work / 'chromium'}",
                "--window-size=1400,830",
                "--virtual-time-budget=3000",
                f"--screenshot={out}",
                f"http://127.0.0.1:{proxy.server_address[1]}/status",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=neutral,
        )
        proxy.shutdown()
        print(f"wrote {out} ({out.stat().st_size} bytes)")
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(30)
        log.close()


if __name__ == "__main__":
    main()
