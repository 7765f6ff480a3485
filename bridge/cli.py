"""The `kanal-bridge` command: the processes (web, worker, emulator) and the operator's verbs."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import logging.config
import os
import secrets
import sys
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from bridge import defaults, logs
from bridge.config import BridgeConfig, Settings, StoreConfig, load_config
from bridge.errors import ConfigError

Platform = Literal["shopify", "woocommerce"]

# Heroku sends SIGTERM and SIGKILLs 30 s later: leave uvicorn time to finish requests.
GRACEFUL_SHUTDOWN_SECONDS = 25

BOUNDED_HTTP = "bridge.intake.bounded_http:BoundedHttpToolsProtocol"

DEFAULT_TOPICS: dict[Platform, str] = {"shopify": "orders/create", "woocommerce": "order.created"}


def main(argv: list[str] | None = None) -> int:
    """Run one `kanal-bridge` subcommand; the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["emulator"]:
        return _emulator(argv[1:])
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kanal-bridge",
        description="Keeps Kanal in sync with Shopify and WooCommerce shops.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    web = commands.add_parser("web", help="serve the webhooks (uvicorn on $PORT)")
    web.set_defaults(handler=_web)

    worker = commands.add_parser("worker", help="push records to Kanal (with the scheduler)")
    worker.add_argument("--burst", action="store_true", help="stop once the queue is empty")
    worker.set_defaults(handler=_worker)

    check = commands.add_parser(
        "check-config", help="validate the config; print a redacted summary"
    )
    check.set_defaults(handler=_check_config)

    # `emulator ARGS...` is forwarded whole to `python -m bridge.emulators.kanal`, and
    # `emulator shopify ARGS...` and `emulator woocommerce ARGS...` to the shops' emulators
    # (see main()).
    commands.add_parser(
        "emulator",
        help="serve the Kanal API emulator (emulator --help), the Shopify Admin API one "
        "(emulator shopify --help), or a WooCommerce shop's (emulator woocommerce --help)",
    )

    connect = commands.add_parser(
        "connect",
        help="create and repair the shops' webhook subscriptions (stores with API credentials)",
    )
    connect.add_argument("stores", nargs="*", metavar="STORE", help="default: every store")
    connect.add_argument("--dry-run", action="store_true", help="say what to do; change nothing")
    connect.set_defaults(handler=_connect)

    webhooks = commands.add_parser(
        "webhooks", help="each topic's subscription state next to the last delivery received"
    )
    webhooks.add_argument("store", nargs="?", metavar="STORE", help="default: every store")
    webhooks.set_defaults(handler=_webhooks)

    backfill = commands.add_parser(
        "backfill",
        help="send Kanal what a shop already holds (orders, customers, open carts), behind "
        "the live traffic",
    )
    backfill.add_argument("store", metavar="STORE")
    backfill.add_argument(
        "--since", help="orders changed since: 2026-01-31, an ISO date-time, or 30d (default)"
    )
    backfill.add_argument(
        "--resources",
        help="comma-separated: orders, customers, checkouts (Shopify) (default: all of them)",
    )
    backfill.add_argument("--dry-run", action="store_true", help="count and estimate only")
    backfill.add_argument("--yes", action="store_true", help="do not ask, even above an hour")
    backfill.add_argument("--status", action="store_true", help="where the backfill stands")
    backfill.add_argument("--cancel", action="store_true", help="stop reading pages")
    backfill.add_argument(
        "--detach", action="store_true", help="start it and return (the workers run it)"
    )
    backfill.set_defaults(handler=_backfill)

    reconcile = commands.add_parser(
        "reconcile", help="fetch now what the webhooks missed (one reconciliation pass)"
    )
    reconcile.add_argument(
        "store", nargs="?", metavar="STORE", help="default: every store with API credentials"
    )
    reconcile.set_defaults(handler=_reconcile)

    sample = commands.add_parser(
        "send-sample", help="post a correctly signed sample order webhook to a running bridge"
    )
    sample.add_argument("--store", help="store key from the config (gives platform and secret)")
    sample.add_argument("--url", help="webhook URL (default: this machine's bridge on $PORT)")
    sample.add_argument("--platform", choices=["shopify", "woocommerce"])
    sample.add_argument("--topic", help="default: orders/create or order.created")
    sample.add_argument("--secret", help="signing secret (default: the store's first one)")
    sample.add_argument("--id", type=int, help="order id (default: a random one)")
    sample.add_argument("--shop-domain", help="X-Shopify-Shop-Domain (default: the store's)")
    sample.add_argument("--timeout", type=float, default=10.0)
    sample.set_defaults(handler=_send_sample)

    failed = commands.add_parser("failed", help="pushes Kanal refused for good")
    failed_commands = failed.add_subparsers(dest="failed_command", required=True)
    failed_list = failed_commands.add_parser("list", help="list the failed pushes")
    failed_list.set_defaults(handler=_failed_list)
    failed_retry = failed_commands.add_parser("retry", help="push failed records again")
    failed_retry.add_argument("--all", action="store_true", help="every failed push")
    failed_retry.add_argument("ids", nargs="*", metavar="ID", help="job ids")
    failed_retry.set_defaults(handler=_failed_retry)

    status = commands.add_parser("status", help="queues, pending records, failures, budgets")
    status.set_defaults(handler=_status)
    return parser


def _web(args: argparse.Namespace) -> int:
    import uvicorn

    settings = Settings.from_env()
    log_config = logs.dict_config(settings.log_level, settings.log_format, _secrets(settings))
    logging.config.dictConfig(log_config)
    _warn_if_demo()
    has = importlib.util.find_spec
    uvicorn.run(
        "bridge.app:create_app_from_env",
        factory=True,
        host="0.0.0.0",
        port=settings.port,
        workers=settings.web_concurrency,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # httptools, with the request head bounded in size and time (bounded_http.py); h11
        # bounds the head's size itself.
        http=BOUNDED_HTTP if has("httptools") else "h11",
        h11_max_incomplete_event_size=defaults.MAX_HEAD_BYTES,
        loop="uvloop" if has("uvloop") else "asyncio",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        log_config=log_config,  # every web process logs as JSON, masked
        # No access line: each webhook gets one richer line of its own (bridge.intake.webhooks), and
        # Heroku's router logs every request anyway.
        access_log=False,
        log_level=settings.log_level.lower(),
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from bridge.worker import run_worker

    settings = Settings.from_env()
    config = load_config(settings)
    logs.configure(settings.log_level, settings.log_format, _secrets(settings, config))
    _warn_if_demo()
    run_worker(settings, config, burst=args.burst)
    return 0


def _operator_settings() -> tuple[Settings, dict[str, str]]:
    """Settings for the operator's verbs: run from the folder of `make run`, they use its demo
    configuration and its local Redis when nothing else is configured."""
    from bridge.ops.demo import operator_env

    env = operator_env()
    return Settings.from_env(env), env


def _check_config(args: argparse.Namespace) -> int:
    from bridge.ops import capacity

    settings, env = _operator_settings()
    config = load_config(settings, env)
    print(summary(settings, config, demo=env.get("KANAL_BRIDGE_DEMO") == "1", env=env))
    for line in capacity.report(
        settings.redis_url, settings.web_concurrency, settings.redis_pool_size
    ):
        print(line)
    return 0


def _connect(args: argparse.Namespace) -> int:
    from bridge.platforms.report import connect_command

    return connect_command(args.stores, args.dry_run)


def _backfill(args: argparse.Namespace) -> int:
    from bridge.connection import sync_redis
    from bridge.platforms.commands import BackfillOptions, Terminal, run_backfill
    from bridge.platforms.tasks import record_sink

    settings, env = _operator_settings()
    config = load_config(settings, env)
    client = sync_redis(settings.redis_url)
    options = BackfillOptions(
        args.store,
        since=args.since,
        resources=args.resources,
        dry_run=args.dry_run,
        yes=args.yes,
        status=args.status,
        cancel=args.cancel,
        detach=args.detach,
    )
    return run_backfill(options, config, client, record_sink(config, client), Terminal.real())


def _reconcile(args: argparse.Namespace) -> int:
    from bridge import metrics
    from bridge.connection import sync_redis
    from bridge.platforms.commands import Terminal, run_reconcile
    from bridge.platforms.tasks import record_sink

    settings, env = _operator_settings()
    config = load_config(settings, env)
    logs.configure(settings.log_level, settings.log_format, _secrets(settings, config))
    client = sync_redis(settings.redis_url)
    try:
        return run_reconcile(
            args.store, config, client, record_sink(config, client), Terminal.real()
        )
    finally:
        metrics.flush(client)


def _webhooks(args: argparse.Namespace) -> int:
    from bridge.platforms.report import webhooks_command

    return webhooks_command(args.store)


def summary(
    settings: Settings,
    config: BridgeConfig,
    *,
    demo: bool = False,
    env: Mapping[str, str] | None = None,
) -> str:
    """What the bridge will do, without a secret, API key or password."""
    source = "BRIDGE_CONFIG_TOML" if settings.config_toml else settings.config_path
    lines = [
        *(["mode: DEMO (no bridge.toml): orders go to the bundled Kanal emulator"] if demo else []),
        f"config: {source} (valid)",
        f"redis: {redact_url(settings.redis_url)}",
        f"kanal: {config.kanal.api_url} ({config.kanal.requests_per_minute} requests/minute "
        "per store by default)",
        f"stores: {len(config.stores)}",
    ]
    for key, store in sorted(config.stores.items()):
        lines.append(
            f"  {key}: platform={store.platform} kanal_store_id={store.kanal_store_id} "
            f"secrets={len(store.webhook_secrets)} "
            f"default_country={store.default_country or '-'} "
            f"rpm={config.rate_for(store.kanal_store_id)} "
            f"shop_domain={store.shop_domain or '-'} "
            f"webhook=/webhooks/{store.platform}/{key} "
            f"api={_api_access(store)}"
        )
    lines.extend(f"warning: {warning}" for warning in config.warnings())
    lines.extend(_platform_summary(config, env))
    return "\n".join(lines)


def _api_access(store: StoreConfig) -> str:
    """Which platform API access a store has (connect, watchdog, reconciliation)."""
    if not store.has_api_access:
        return "none"
    if store.platform == "woocommerce":
        return f"rest-key({store.site_url})"
    kind = "static-token" if store.admin_api_token is not None else "client-credentials"
    return f"admin-api({kind}, {store.shop_api_url}, {store.api_version})"


def _platform_summary(config: BridgeConfig, env: Mapping[str, str] | None = None) -> list[str]:
    """The public address, the watchdog, and what would keep connect from working."""
    from bridge.platforms.connect import config_problems

    with_api = [key for key, store in sorted(config.stores.items()) if store.has_api_access]
    public_url = config.public_url(env)
    every = config.bridge.watchdog_every_minutes
    lines = [f"public_url: {public_url or 'not set'}"]
    if not with_api:
        lines.append("platform API access: none (webhooks are managed by hand)")
        return lines
    lines.append(
        f"platform API access: {', '.join(with_api)} (connect, watchdog, backfill, reconciliation)"
    )
    lines.append("reconciliation: " + _reconciliation(config, with_api))
    if public_url is None:
        lines.append(
            "warning: PUBLIC_URL (or [bridge] public_url) is not set: `kanal-bridge connect` "
            "and the watchdog need it for " + ", ".join(with_api)
        )
    elif every > 0:
        lines.append(f"watchdog: every {every:g} min")
    else:
        lines.append("watchdog: off (watchdog_every_minutes = 0)")
    for key in with_api:
        for problem in config_problems(config.stores[key]):
            lines.append(f"warning: stores.{key}: {problem}")
    return lines


def _reconciliation(config: BridgeConfig, keys: list[str]) -> str:
    """ "every 15 min (main-shop, eu-shop); off (quiet-shop)"."""
    by_interval: dict[str, list[str]] = {}
    for key in keys:
        minutes = config.stores[key].reconcile_every_minutes
        by_interval.setdefault(f"every {minutes:g} min" if minutes > 0 else "off", []).append(key)
    return "; ".join(f"{when} ({', '.join(stores)})" for when, stores in by_interval.items())


def redact_url(url: str) -> str:
    """`url` with its password replaced by `***` (Heroku's REDIS_URL carries one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def _emulator(argv: list[str]) -> int:
    """`emulator shopify|woocommerce ARGS` serves that shop's emulator; `emulator ARGS` the
    Kanal one."""
    if argv[:1] == ["shopify"]:
        from bridge.emulators.shopify.cli import main as shopify_main

        shopify_main(argv[1:])
        return 0
    if argv[:1] == ["woocommerce"]:
        from bridge.emulators.woocommerce.cli import main as woocommerce_main

        woocommerce_main(argv[1:])
        return 0
    from bridge.emulators.kanal.__main__ import main as emulator_main

    emulator_main(argv)
    return 0


def _send_sample(args: argparse.Namespace) -> int:
    import httpx

    store: StoreConfig | None = None
    if args.store and not (args.secret and args.platform):
        from bridge.ops.demo import effective_env

        env = effective_env()  # with no configuration at all, the demo store
        config = load_config(Settings.from_env(env), env)
        store = config.stores.get(args.store)
        if store is None:
            known = ", ".join(sorted(config.stores))
            print(f"error: no store {args.store!r} in the config (known: {known})", file=sys.stderr)
            return 2
    platform: Platform = args.platform or (store.platform if store else "shopify")
    secret = args.secret or (store.webhook_secrets[0].get_secret_value() if store else None)
    if not secret:
        print("error: give --store (from the config) or --secret", file=sys.stderr)
        return 2
    url = args.url
    if not url:
        if not args.store:
            print("error: give --store or --url", file=sys.stderr)
            return 2
        port = os.environ.get("PORT") or "8000"
        url = f"http://127.0.0.1:{port}/webhooks/{platform}/{args.store}"
    shop_domain = args.shop_domain or (store.shop_domain if store else None)
    request = sample_request(
        platform,
        secret=secret,
        topic=args.topic,
        order_id=args.id,
        shop_domain=shop_domain or f"{args.store or 'sample-shop'}.myshopify.com",
    )
    print(f"POST {url} ({platform} {request.topic}, order id {request.order_id})")
    try:
        response = httpx.post(
            url, content=request.body, headers=request.headers, timeout=args.timeout
        )
    except httpx.HTTPError as exc:
        print(f"error: could not reach {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.text}")
    return 0 if response.is_success else 1


class SampleRequest:
    """A signed sample webhook delivery: body bytes, headers, and what they hold."""

    def __init__(self, topic: str, order_id: int, body: bytes, headers: dict[str, str]) -> None:
        self.topic = topic
        self.order_id = order_id
        self.body = body
        self.headers = headers


def sample_request(
    platform: Platform,
    *,
    secret: str,
    topic: str | None = None,
    order_id: int | None = None,
    shop_domain: str = "sample-shop.myshopify.com",
    now: datetime | None = None,
) -> SampleRequest:
    """The bundled sample order as the platform would deliver it, fresh id and time, signed."""
    from bridge.intake.signatures import ShopifyVerifier, WooCommerceVerifier

    now = (now or datetime.now(UTC)).replace(microsecond=0)
    topic = topic or DEFAULT_TOPICS[platform]
    order = load_sample(platform)
    if platform == "shopify":
        order_id = order_id or secrets.randbelow(9 * 10**17) + 10**17  # Shopify-sized, > 2**53
        _refresh_shopify(order, order_id, now, shop_domain)
        body = shopify_json(order)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": ShopifyVerifier.sign(body, secret.encode()),
            "X-Shopify-Shop-Domain": shop_domain,
            "X-Shopify-API-Version": defaults.SHOPIFY_API_VERSION,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": now.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "X-Shopify-Order-Id": str(order_id),
        }
    else:
        order_id = order_id or secrets.randbelow(90_000_000) + 10_000
        _refresh_woocommerce(order, order_id, now)
        body = woocommerce_json(order)
        resource, _, event = topic.partition(".")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
            "X-WC-Webhook-Source": "https://shop.example.com/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": WooCommerceVerifier.sign(body, secret.encode()),
            "X-WC-Webhook-ID": "1",
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
        }
    return SampleRequest(topic, order_id, body, headers)


def load_sample(platform: Platform) -> dict[str, Any]:
    """The bundled sample order of `platform` (bridge/samples/), parsed."""
    text = resources.files("bridge").joinpath(f"samples/{platform}-order.json").read_bytes()
    order: dict[str, Any] = json.loads(text)
    return order


def shopify_json(payload: dict[str, Any]) -> bytes:
    """Compact JSON as Shopify writes it: UTF-8, `/` as `\\/` and `&` as `\\u0026`."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return text.replace("/", "\\/").replace("&", "\\u0026").encode()


def woocommerce_json(payload: dict[str, Any]) -> bytes:
    """Compact JSON as PHP's json_encode writes it: `/` as `\\/`, non-ASCII as `\\uXXXX`."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode()


def _refresh_shopify(order: dict[str, Any], order_id: int, now: datetime, shop: str) -> None:
    local = now.astimezone().isoformat()
    order["id"] = order_id
    token = uuid.uuid4().hex
    order["order_status_url"] = f"https://{shop}/548380009/orders/{token}/authenticate?key=sample"
    order["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
    order["number"] = order_id % 100_000
    order["order_number"] = 1000 + order["number"]
    order["name"] = f"#{order['order_number']}"
    order["token"] = uuid.uuid4().hex
    order["created_at"] = order["processed_at"] = order["updated_at"] = local


def _refresh_woocommerce(order: dict[str, Any], order_id: int, now: datetime) -> None:
    gmt = now.strftime("%Y-%m-%dT%H:%M:%S")
    offset = now.astimezone().utcoffset() or timedelta(0)
    local = (now + offset).strftime("%Y-%m-%dT%H:%M:%S")
    order["id"] = order_id
    order["number"] = str(order_id)
    order["order_key"] = f"wc_order_{secrets.token_hex(7)[:13]}"
    for field in ("date_created", "date_modified", "date_paid"):
        if order.get(field) is not None:
            order[field] = local
            order[f"{field}_gmt"] = gmt
    for link in order.get("_links", {}).get("self", []):
        link["href"] = link["href"].rsplit("/", 1)[0] + f"/{order_id}"


def _failed_list(args: argparse.Namespace) -> int:
    from bridge.ops import operations

    return operations.failed_list(_operator_settings()[0])


def _failed_retry(args: argparse.Namespace) -> int:
    if args.all == bool(args.ids):
        print("error: give either job ids or --all", file=sys.stderr)
        return 2
    from bridge.ops import operations

    return operations.failed_retry(_operator_settings()[0], list(args.ids), args.all)


def _status(args: argparse.Namespace) -> int:
    from bridge.ops import operations

    return operations.status(_operator_settings()[0])


def _secrets(settings: Settings, config: BridgeConfig | None = None) -> list[str]:
    """Every secret the logs must never show: API keys, webhook secrets, passwords."""
    if config is None:
        try:
            config = load_config(settings)
        except ConfigError:
            config = None  # the web process reports it; the environment's secrets still count
    found = [
        settings.dashboard_password or "",
        settings.metrics_token or "",
        urlsplit(settings.redis_url).password or "",
    ]
    if config is not None and config.alerts.webhook_url is not None:
        found.append(config.alerts.webhook_url.get_secret_value())
    for store in config.stores.values() if config else []:
        # Every SecretStr of the store: Kanal key, webhook secrets, the shop's API credentials.
        for name in type(store).model_fields:
            value = getattr(store, name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, SecretStr):
                    found.append(item.get_secret_value())
    return [secret for secret in found if secret]


def _warn_if_demo() -> None:
    if os.environ.get("KANAL_BRIDGE_DEMO") == "1":
        logging.getLogger("bridge").warning(
            "DEMO MODE: no bridge.toml, so the demo store 'demo-shop' sends to the bundled "
            "Kanal emulator (%s). Write bridge.toml to leave demo mode.",
            os.environ.get("BRIDGE_CONFIG", ""),
        )


if __name__ == "__main__":
    sys.exit(main())
