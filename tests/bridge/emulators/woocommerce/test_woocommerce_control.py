"""The WooCommerce emulator's control API, its command line, and what the package exports."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge import cli
from bridge.emulators.woocommerce import BackgroundWooCommerce, ControlError, parse_key_specs
from bridge.emulators.woocommerce import __all__ as exported
from bridge.ops.localredis import pick_free_port
from tests.woocommerce_shop import RW, fresh, shop


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundWooCommerce]:
    emulator = shop()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(server: BackgroundWooCommerce) -> BackgroundWooCommerce:
    return fresh(server)


def test_orders_take_rest_field_names_and_refuse_a_misspelled_one(
    emulator: BackgroundWooCommerce,
) -> None:
    order = emulator.control.create_order(
        status="completed", billing={"phone": "+44 20 7946 0000"}, total="12.50", webhooks=False
    )
    assert order["billing"]["phone"] == "+44 20 7946 0000"
    assert order["billing"]["first_name"] == "John"  # merged into the sample's billing
    assert (order["number"], order["total"]) == (str(order["id"]), "12.50")
    assert order["date_paid_gmt"] is not None and order["date_completed_gmt"] is not None
    for bad, named in [
        ({"biling": {}}, "biling: not a field of a WooCommerce order"),
        ({"total": 12.5}, "total: must be a str"),
        ({"date_created": "2026-01-01T00:00:00"}, "date_created: give date_created_gmt"),
        ({"status": "trash"}, "create the order, then POST"),
    ]:
        with pytest.raises(ControlError, match=named):
            emulator.control.create_order(**bad)


def test_history_keeps_the_dates_it_is_given_in_gmt(emulator: BackgroundWooCommerce) -> None:
    order = emulator.control.create_order(
        date_created_gmt="2026-01-05T10:00:00", date_modified_gmt="2026-01-06T10:00:00"
    )
    assert (order["date_created_gmt"], order["date_created"]) == (
        "2026-01-05T10:00:00",
        "2026-01-05T07:00:00",
    )
    changed = emulator.control.update_order(order["id"], customer_note="gift")
    assert changed["date_modified_gmt"] > "2026-11-01"  # a change moves it to now
    assert changed["date_created_gmt"] == "2026-01-05T10:00:00"


def test_ids_count_on_and_an_explicit_id_is_kept(emulator: BackgroundWooCommerce) -> None:
    first = emulator.control.create_order(webhooks=False)
    chosen = emulator.control.create_order(id=5000, webhooks=False)
    after = emulator.control.create_order(webhooks=False)
    assert (first["id"], chosen["id"], after["id"]) == (1000, 5000, 5001)
    with pytest.raises(ControlError, match="order 5000 exists"):
        emulator.control.create_order(id=5000)
    with pytest.raises(ControlError, match="404"):
        emulator.control.update_order(4999, status="completed")


def test_a_paid_status_sets_the_payment_date_once(emulator: BackgroundWooCommerce) -> None:
    order = emulator.control.create_order(status="pending", webhooks=False)
    assert order["date_paid_gmt"] is None
    paid = emulator.control.update_order(order["id"], status="processing", webhooks=False)
    assert paid["date_paid_gmt"] is not None


def test_settings_faults_and_keys_are_checked(emulator: BackgroundWooCommerce) -> None:
    with pytest.raises(ControlError, match="speed: not a setting"):
        emulator.control.settings(speed=2)
    with pytest.raises(ControlError, match="max_failures must be a int"):
        emulator.control.settings(max_failures="five")
    with pytest.raises(ControlError, match="kind must be one of fail, drop, rest"):
        emulator.control.add_fault("explode")
    with pytest.raises(ControlError, match="unknown fault field"):
        emulator.control.add_fault("rest", statuz=500)
    emulator.control.add_key("ck_new", "cs_new", "read")
    keys = emulator.control._call("GET", "/keys")["keys"]
    assert {"consumer_key": "ck_new", "permissions": "read", "user_id": 1, "manager": True} in keys
    assert "cs_new" not in str(keys)
    assert httpx.get(f"{emulator.url}/wp-json/wc/v3/orders", auth=("ck_new", "cs_new")).is_success


def test_reset_forgets_the_shop_but_keeps_keys_and_settings(
    emulator: BackgroundWooCommerce,
) -> None:
    emulator.control.create_order()
    emulator.control.settings(latency_ms=1)
    emulator.control.reset()
    assert httpx.get(f"{emulator.url}/wp-json/wc/v3/orders", auth=RW).json() == []
    assert emulator.control.settings()["latency_ms"] == 1
    assert emulator.control.stats()["requests"] == 1


def test_key_specs() -> None:
    keys = parse_key_specs(["ck_a:cs_a", "ck_b:cs_b:read"])
    assert [(k.consumer_key, k.permissions) for k in keys] == [
        ("ck_a", "read_write"),
        ("ck_b", "read"),
    ]
    for bad in ["ck_a", "ck_a:", ":cs_a", "ck_a:cs_a:admin", "a:b:read:x"]:
        with pytest.raises(ValueError, match="bad key spec"):
            parse_key_specs([bad])


def test_kanal_bridge_emulator_woocommerce_serves_a_shop_and_plain_emulator_stays_kanal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["emulator", "--help"])
    assert "Kanal commerce API emulator" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["emulator", "woocommerce", "--help"])
    assert "kanal-bridge emulator woocommerce" in capsys.readouterr().out

    port = pick_free_port()
    executable = shutil.which("kanal-bridge", path=str(Path(sys.executable).parent))
    assert executable is not None
    command = [executable, "emulator", "woocommerce", "--port", str(port)]
    process = subprocess.Popen([*command, "--key", f"{RW[0]}:{RW[1]}"])
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{url}/_emulator/stats")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.05)
        response = httpx.get(f"{url}/wp-json/wc/v3/webhooks", auth=RW)
        assert (response.status_code, response.json()) == (200, [])
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_public_api() -> None:
    assert exported == [
        "ApiKey",
        "BackgroundWooCommerce",
        "ControlError",
        "Settings",
        "ShopControl",
        "create_app",
        "main",
        "parse_key_specs",
        "run",
    ]
