"""Make docs/dashboard.png and docs/dashboard-failed.png: the RQ dashboard holding real pushes.

Starts the Kanal emulator and the bridge's web and worker processes (the Procfile's commands)
against REDIS_URL (default: database 15 on localhost, which it empties), sends signed Shopify
and WooCommerce orders, lets Kanal refuse two of them with 422 (failed jobs) and paces a slow
store so that its pushes wait (scheduled jobs), then photographs the dashboard with Debian's
headless Chromium. Chromium cannot send basic-auth credentials for a screenshot, so it goes
through a small local proxy that adds the Authorization header.

    .venv/bin/python docs/screenshot.py [--out docs]

The failed-jobs page shows tracebacks with file paths, so take the pictures from a checkout
at a neutral path, as the ones in docs/ were (Heroku's /app), and with a private Redis:

    git clone . /app && cd /app && make lint     # the checkout and its .venv
    .venv/bin/python -m bridge.ops.localredis test -- .venv/bin/python docs/screenshot.py --out OUT
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import redis

from bridge.cli import sample_request
from bridge.ops.localredis import pick_free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KANAL_KEY = secrets.token_hex(12)
SHOP_SECRET = secrets.token_hex(16)
WOO_SECRET = secrets.token_hex(16)
PASSWORD = secrets.token_hex(12)
CONFIG = """
[kanal]
api_url = "http://127.0.0.1:{emulator}"
[delivery]
settle_seconds = 0.5
[stores.main-shop]
platform = "shopify"
kanal_store_id = 7
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{SHOP_SECRET}}"]
default_country = "US"
requests_per_minute = 600
[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 8
kanal_api_key = "${{KANAL_KEY}}"
webhook_secrets = ["${{WOO_SECRET}}"]
default_country = "US"
requests_per_minute = 6
"""


def wait_for(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def auth_proxy(target: str, user: str, password: str) -> ThreadingHTTPServer:
    """A local HTTP proxy to `target` that adds the basic-auth header Chromium cannot send."""
    header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Forward(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            response = httpx.get(target + self.path, headers={"Authorization": header})
            self.send_response(response.status_code)
            for name in ("content-type", "cache-control"):
                if name in response.headers:
                    self.send_header(name, response.headers[name])
            self.send_header("content-length", str(len(response.content)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError):  # Chromium hung up: it had enough
                self.wfile.write(response.content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", pick_free_port()), Forward)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"), help="directory of the PNGs")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("needs Debian's chromium: apt-get install -y chromium")
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    redis.Redis.from_url(redis_url).flushdb()

    work = Path(tempfile.mkdtemp(prefix="kanal-screenshot-"))
    emulator_port, web_port = pick_free_port(), pick_free_port()
    (work / "bridge.toml").write_text(CONFIG.format(emulator=emulator_port))
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "REDIS_URL": redis_url,
        "BRIDGE_CONFIG": str(work / "bridge.toml"),
        "PORT": str(web_port),
        "KANAL_KEY": KANAL_KEY,
        "SHOP_SECRET": SHOP_SECRET,
        "WOO_SECRET": WOO_SECRET,
        "DASHBOARD_PASSWORD": PASSWORD,
        "LOG_FORMAT": "console",
    }
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    log = (work / "processes.log").open("wb")
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bridge.emulators.kanal",
                f"--port={emulator_port}",
                f"--store=7:{KANAL_KEY}:600",
                f"--store=8:{KANAL_KEY}:600",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        *(
            subprocess.Popen(
                shlex.split(procfile[kind].strip()),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=ROOT,
            )
            for kind in ("web", "worker")
        ),
    ]
    try:
        bridge = f"http://127.0.0.1:{web_port}"
        wait_for(f"http://127.0.0.1:{emulator_port}/_emulator/stats")
        wait_for(f"{bridge}/healthz")
        refusal = {
            "message": "The given data was invalid.",
            "errors": {"total_price": ["The total price must be at least 0."]},
        }
        httpx.post(
            f"http://127.0.0.1:{emulator_port}/_emulator/faults",
            json={"status": 422, "count": 2, "store_id": 7, "body": refusal},
        )
        for _ in range(8):
            request = sample_request(
                "shopify", secret=SHOP_SECRET, shop_domain="main-shop.myshopify.com"
            )
            httpx.post(
                f"{bridge}/webhooks/shopify/main-shop",
                content=request.body,
                headers=request.headers,
            ).raise_for_status()
        for _ in range(6):
            request = sample_request("woocommerce", secret=WOO_SECRET)
            httpx.post(
                f"{bridge}/webhooks/woocommerce/eu-shop",
                content=request.body,
                headers=request.headers,
            ).raise_for_status()
        time.sleep(6)  # main-shop's pushes finish (two refused); eu-shop's wait for budget

        proxy = auth_proxy(bridge, "admin", PASSWORD)
        base = f"http://127.0.0.1:{proxy.server_address[1]}/rq"
        pages = {
            "dashboard.png": ("", "1280,520"),
            "dashboard-failed.png": ("0/view/jobs/kanal/failed/8/asc/1", "1280,900"),
        }
        for name, (page, size) in pages.items():
            out = Path(args.out) / name
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
                    f"--window-size={size}",
                    "--virtual-time-budget=5000",
                    f"--screenshot={out}",
                    f"{base}/{page}",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            print(f"wrote {out} ({out.stat().st_size} bytes)")
        proxy.shutdown()
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            process.wait(30)
        log.close()


if __name__ == "__main__":
    main()
