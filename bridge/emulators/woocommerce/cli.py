"""The emulator's command line: `kanal-bridge emulator woocommerce --port 8098 --key ck_…:cs_…`."""

from __future__ import annotations

import argparse

from bridge.emulators.woocommerce.clock import DEFAULT_OFFSET_MINUTES
from bridge.emulators.woocommerce.server import parse_key_specs, run
from bridge.emulators.woocommerce.state import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="kanal-bridge emulator woocommerce",
        description="Serve a WooCommerce shop's REST API (v3) and its webhook deliveries.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY:SECRET[:PERMISSIONS]",
        help="a REST key (consumer key and secret; permissions read, write or read_write, the "
        "default); repeat for more keys",
    )
    parser.add_argument(
        "--site-url", help="the shop's home (X-WC-Webhook-Source, _links); default its own URL"
    )
    parser.add_argument(
        "--utc-offset-minutes",
        type=int,
        default=DEFAULT_OFFSET_MINUTES,
        help="the site's timezone, for the local date fields (default %(default)s)",
    )
    defaults = Settings()
    parser.add_argument(
        "--delivery-delay",
        type=float,
        default=defaults.delivery_delay,
        help="seconds between an event and its delivery (default %(default)s)",
    )
    parser.add_argument(
        "--delivery-timeout",
        type=float,
        default=defaults.delivery_timeout,
        help="seconds a receiver has to answer (default %(default)s, as WooCommerce)",
    )
    parser.add_argument(
        "--max-failures",
        type=int,
        default=defaults.max_failures,
        help="woocommerce_max_webhook_delivery_failures (default %(default)s: disabled on the 7th)",
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="delay before every REST answer")
    parser.add_argument(
        "--log-limit", type=int, default=None, help="keep only the last N requests and deliveries"
    )
    args = parser.parse_args(argv)
    try:
        keys = parse_key_specs(args.key)
    except ValueError as exc:
        parser.error(str(exc))
    settings = Settings(
        delivery_delay=args.delivery_delay,
        delivery_timeout=args.delivery_timeout,
        max_failures=args.max_failures,
        latency_ms=args.latency_ms,
    )
    run(
        args.host,
        args.port,
        keys,
        site_url=args.site_url,
        settings=settings,
        offset_minutes=args.utc_offset_minutes,
        log_limit=args.log_limit,
    )
