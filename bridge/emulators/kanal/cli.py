"""The emulator's command line: `python -m bridge.emulators.kanal --port 8099 --store 1:KEY:60`."""

from __future__ import annotations

import argparse

from bridge.emulators.kanal.app import UNKNOWN_KEY_MODES
from bridge.emulators.kanal.server import parse_store_specs, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.emulators.kanal",
        description="Serve the Kanal commerce API emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument(
        "--store",
        action="append",
        default=[],
        metavar="STORE_ID:KEY[:RPM]",
        help="a store, its API key and its requests per minute (default 60); repeat for more "
        "stores or keys; a key given for several stores is team-wide",
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="delay before every answer")
    parser.add_argument(
        "--log-limit",
        type=int,
        default=None,
        help="keep only the last N requests in /_emulator/requests (default: all)",
    )
    parser.add_argument(
        "--unknown-keys",
        choices=UNKNOWN_KEY_MODES,
        default="reject",
        help="POST bodies with fields Kanal has no rule for: answer 422 (reject, the default, "
        "what the tests use) or accept them, drop the fields and log a warning (warn, demo "
        "mode: what Kanal most likely does)",
    )
    args = parser.parse_args(argv)
    try:
        stores = parse_store_specs(args.store)
    except ValueError as exc:
        parser.error(str(exc))
    run(
        args.host,
        args.port,
        stores,
        latency_ms=args.latency_ms,
        unknown_keys=args.unknown_keys,
        log_limit=args.log_limit,
    )
