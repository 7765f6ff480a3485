"""The web process never builds a platform client: the shops' API credentials are used by
`connect`, the watchdog and reconciliation, in the worker and the CLI only."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CONFIG = """
[bridge]
public_url = "https://bridge.example.com"

[stores.main-shop]
platform = "shopify"
kanal_store_id = 1
kanal_api_key = "kanal-key-123"
webhook_secrets = ["app-secret-123"]
shop_domain = "main-shop.myshopify.com"
client_id = "app-id"
client_secret = "app-secret-123"

[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 2
kanal_api_key = "kanal-key-456"
webhook_secrets = ["woo-secret-456"]
site_url = "https://eu-shop.example"
consumer_key = "ck_123"
consumer_secret = "cs_456"
"""

SCRIPT = textwrap.dedent(
    """
    import sys
    from starlette.testclient import TestClient
    from bridge.app import create_app_from_env

    with TestClient(create_app_from_env()) as client:
        assert client.get("/healthz").status_code == 200
        client.get("/metrics")
    print(",".join(sorted(m for m in sys.modules if m.startswith("bridge.platforms"))))
    """
)


def test_the_web_app_loads_no_platform_module(redis_url: str) -> None:
    env = {"BRIDGE_CONFIG_TOML": CONFIG, "REDIS_URL": redis_url, "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
