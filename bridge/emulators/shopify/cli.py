"""`kanal-bridge emulator shopify --port 8098 --shop demo.myshopify.com --app ID:SECRET`."""

from __future__ import annotations

import argparse

from bridge.emulators.shopify.server import parse_app_specs, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="kanal-bridge emulator shopify",
        description="Serve the Shopify Admin API emulator (one shop, its apps and webhooks).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--shop", default="emulated-shop.myshopify.com", help="the shop's domain")
    parser.add_argument("--currency", default="USD")
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="CLIENT_ID:SECRET[:SCOPES][:STATIC_TOKEN]",
        help="an app installed on the shop (its secret signs its webhooks); SCOPES is a comma "
        "list (default read_orders,read_customers,read_fulfillments); a STATIC_TOKEN makes it "
        "a legacy custom app; repeat for more apps",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply Shopify's delivery retry waits (4 hours in all) by this (e.g. 0.001)",
    )
    parser.add_argument(
        "--delete-after-failures",
        type=int,
        default=8,
        help="consecutive failed delivery attempts after which a subscription is deleted",
    )
    args = parser.parse_args(argv)
    try:
        apps = parse_app_specs(args.app)
    except ValueError as exc:
        parser.error(str(exc))
    run(
        args.host,
        args.port,
        shop_domain=args.shop,
        apps=apps,
        currency=args.currency,
        time_scale=args.time_scale,
        delete_after_failures=args.delete_after_failures,
    )
