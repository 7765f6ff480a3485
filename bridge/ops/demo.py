"""Demo mode: with no configuration at all, `make run` runs a demo store against emulators.

Demo mode applies when neither `BRIDGE_CONFIG` nor `BRIDGE_CONFIG_TOML` is set and there is
no `bridge.toml`. The demo store `demo-shop` is a simulated Shopify shop (the bundled Shopify
emulator on 127.0.0.1:8098, with the demo app installed) that sends to the bundled Kanal
emulator on 127.0.0.1:8099, with fixed, public demo credentials. The store has API access to
the simulated shop, so the watchdog connects it (subscribes the bridge to its webhooks) soon
after start, and an order created in the shop flows through the whole bridge.

The operator's verbs (`kanal-bridge status`, `failed`, `check-config`, `connect`, `webhooks`)
run from the folder of `make run` use what it uses (`operator_env`): its demo configuration,
and the local Redis it started, when nothing else is configured.

    python -m bridge.ops.demo prepare --data .data --port 8000   # `export` lines for make run
    python -m bridge.ops.demo banner --port 8000                 # how to try it
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from bridge.config import Settings, load_config
from bridge.errors import ConfigError
from bridge.ops import localredis

DEMO_ENV = "KANAL_BRIDGE_DEMO"
DEMO_STORE = "demo-shop"
DEMO_KANAL_STORE_ID = 1
DEMO_KANAL_KEY = "demo-kanal-key-000000000"
# The demo app's client secret: it signs the simulated shop's webhooks, so it is also the
# store's webhook secret (as for a real Dev Dashboard app).
DEMO_SECRET = "demo-webhook-secret"
DEMO_CLIENT_ID = "demo-client-id"
DEMO_SHOP_DOMAIN = f"{DEMO_STORE}.myshopify.com"
EMULATOR_PORT = 8099
EMULATOR_URL = f"http://127.0.0.1:{EMULATOR_PORT}"
SHOPIFY_PORT = 8098
SHOPIFY_URL = f"http://127.0.0.1:{SHOPIFY_PORT}"
DEFAULT_PORT = 8000
DATA_DIR = Path(".data")  # the Makefile's DATA
DEMO_CONFIG = "demo-bridge.toml"  # written under DATA_DIR by `make run` in demo mode


def demo_toml(port: int = DEFAULT_PORT) -> str:
    """The demo configuration, for a web process on `port` (the simulated shop's webhooks
    go there)."""
    return f"""\
# DEMO MODE: written by `make run` because there is no bridge.toml (nor BRIDGE_CONFIG or
# BRIDGE_CONFIG_TOML). Orders come from the bundled Shopify emulator (a simulated shop) and
# go to the bundled Kanal emulator, not to Kanal. Write a bridge.toml (see the README) to
# leave demo mode; this file is rewritten at every start.
[kanal]
api_url = "{EMULATOR_URL}"

[bridge]
public_url = "http://127.0.0.1:{port}"
watchdog_every_minutes = 1  # so that a subscription deleted in the simulated shop soon returns

[stores.{DEMO_STORE}]
platform = "shopify"
kanal_store_id = {DEMO_KANAL_STORE_ID}
kanal_api_key = "{DEMO_KANAL_KEY}"
webhook_secrets = ["{DEMO_SECRET}"]
default_country = "FR"
shop_domain = "{DEMO_SHOP_DOMAIN}"
client_id = "{DEMO_CLIENT_ID}"
client_secret = "{DEMO_SECRET}"
admin_api_url = "{SHOPIFY_URL}"
"""


# Started beside web and worker in demo mode. The Kanal emulator knows the demo store's id and
# key; a field Kanal does not know is accepted with a warning in its log (Kanal would drop it
# silently), where the test suite runs it in its default mode, which refuses it (422). The
# Shopify emulator is the simulated shop, with the demo app installed.
EMULATOR_PROCESS = (
    f"emulator: kanal-bridge emulator --port {EMULATOR_PORT} "
    f"--store {DEMO_KANAL_STORE_ID}:{DEMO_KANAL_KEY} --unknown-keys warn"
)
SHOPIFY_PROCESS = (
    f"shopify: kanal-bridge emulator shopify --port {SHOPIFY_PORT} --shop {DEMO_SHOP_DOMAIN} "
    f"--app {DEMO_CLIENT_ID}:{DEMO_SECRET}"
)


def demo_wanted(env: Mapping[str, str] | None = None, root: Path = Path(".")) -> bool:
    """True when nothing configures the bridge: no BRIDGE_CONFIG(_TOML), no bridge.toml."""
    env = os.environ if env is None else env
    if env.get("BRIDGE_CONFIG_TOML") or env.get("BRIDGE_CONFIG"):
        return False
    return not (root / "bridge.toml").exists()


def demo_env(config_path: Path) -> dict[str, str]:
    """The environment of the processes in demo mode (KANAL_API_URL pins the emulator)."""
    return {
        "BRIDGE_CONFIG": str(config_path),
        "KANAL_API_URL": EMULATOR_URL,
        DEMO_ENV: "1",
    }


def effective_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env`, plus the demo configuration (inline) when demo mode applies: for CLI verbs."""
    env = dict(os.environ if env is None else env)
    if demo_wanted(env):
        port = env.get("PORT", "")
        toml = demo_toml(int(port) if port.isdigit() else DEFAULT_PORT)
        env.update(BRIDGE_CONFIG_TOML=toml, KANAL_API_URL=EMULATOR_URL)
        env[DEMO_ENV] = "1"
    return env


def operator_env(env: Mapping[str, str] | None = None, data_dir: Path = DATA_DIR) -> dict[str, str]:
    """`env` for the operator's verbs run where `make run` runs: the demo configuration it
    wrote (only when it did: a deployment without configuration still fails its checks), and
    the Redis it uses when REDIS_URL is unset."""
    env = dict(os.environ if env is None else env)
    demo_config = data_dir / DEMO_CONFIG
    if demo_wanted(env) and demo_config.is_file():
        env.update(demo_env(demo_config.resolve()))
    if not env.get("REDIS_URL"):
        url = localredis.existing_url(data_dir / "redis", env)
        if url is not None:
            env["REDIS_URL"] = url
    return env


def write_demo_config(data_dir: Path, port: int = DEFAULT_PORT) -> Path:
    """Write the demo TOML under `data_dir` and return its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / DEMO_CONFIG
    path.write_text(demo_toml(port), encoding="utf-8")
    return path


def run_procfile(procfile: str, demo: bool) -> str:
    """The Procfile make run starts: the Procfile's own web and worker lines, verbatim,
    plus the emulators in demo mode. `web` comes first so that honcho gives it the base PORT."""
    lines = {}
    for line in procfile.splitlines():
        name, _, command = line.partition(":")
        if name.strip() in ("web", "worker") and command.strip():
            lines[name.strip()] = line
    missing = {"web", "worker"} - set(lines)
    if missing:
        raise ValueError(f"the Procfile has no {' or '.join(sorted(missing))} process")
    out = [lines["web"], lines["worker"]]
    if demo:
        out.extend([EMULATOR_PROCESS, SHOPIFY_PROCESS])
    return "\n".join(out) + "\n"


def prepare(
    data_dir: Path,
    procfile: Path,
    env: Mapping[str, str] | None = None,
    port: int = DEFAULT_PORT,
) -> str:
    """Write what make run needs under `data_dir` (the web process on `port`); shell lines
    exporting its environment."""
    demo = demo_wanted(env)
    exports: dict[str, str] = {}
    if demo:
        exports = demo_env(write_demo_config(data_dir, port).resolve())
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / "Procfile.run"
    target.write_text(run_procfile(procfile.read_text(encoding="utf-8"), demo), encoding="utf-8")
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in exports.items())


def banner(port: int, env: Mapping[str, str] | None = None) -> str:
    """What make run prints before starting: the mode, and how to send a signed sample."""
    env = os.environ if env is None else env
    sample = "bridge/samples/shopify-order.json"
    # send-sample posts to $PORT, else 8000; name the port when it differs.
    port_prefix = "" if str(port) == env.get("PORT", "8000") else f"PORT={port} "
    if env.get(DEMO_ENV) == "1":
        url = f"http://127.0.0.1:{port}/webhooks/shopify/{DEMO_STORE}"
        return f"""
==================================== DEMO MODE ====================================
No bridge.toml, BRIDGE_CONFIG or BRIDGE_CONFIG_TOML: the bridge runs one demo store,
'{DEMO_STORE}': a simulated Shopify shop (the bundled Shopify emulator at {SHOPIFY_URL},
the demo app installed) whose orders go to the bundled Kanal emulator at {EMULATOR_URL},
not to Kanal. Config: {env.get("BRIDGE_CONFIG")}
Redis: {env.get("REDIS_URL", "")}

Within a few seconds the watchdog connects the shop (subscribes the bridge to its webhooks).
Then, from another terminal in this folder, create an order in the simulated shop:
  curl -sS -X POST {SHOPIFY_URL}/_emulator/orders -d '{{}}'
and see it reach "Kanal" (the push waits a couple of seconds to settle):
  curl -sS {EMULATOR_URL}/_emulator/records
The shop's subscriptions, and the last delivery the bridge received per topic:
  {port_prefix}.venv/bin/kanal-bridge webhooks
(`kanal-bridge connect` does what the watchdog does, now, and prints it.)

Or send a signed sample order webhook straight to the bridge:
  {port_prefix}.venv/bin/kanal-bridge send-sample --store {DEMO_STORE}
or the same with curl (the bundled sample as is, so a second send is no news to Kanal):
  sig=$(openssl dgst -sha256 -hmac '{DEMO_SECRET}' -binary < {sample} | base64)
  curl -sS {url} -H 'Content-Type: application/json' \\
    -H 'X-Shopify-Topic: orders/create' -H 'X-Shopify-Shop-Domain: {DEMO_SHOP_DOMAIN}' \\
    -H "X-Shopify-Webhook-Id: curl-$(date +%s)" -H "X-Shopify-Hmac-Sha256: $sig" \\
    --data-binary @{sample}
Write a bridge.toml (see the README) to leave demo mode.
====================================================================================
"""
    stores = _store_keys(env)
    first = stores[0] if stores else "STORE"
    return f"""
kanal-bridge: web on http://127.0.0.1:{port}, stores: {", ".join(stores) or "?"}
Redis: {env.get("REDIS_URL", "")}
Send a signed sample order webhook (from another terminal, in this folder):
  {port_prefix}.venv/bin/kanal-bridge send-sample --store {first}
"""


def _store_keys(env: Mapping[str, str]) -> list[str]:
    try:
        config = load_config(Settings.from_env(env), env)
    except ConfigError:
        return []
    return sorted(config.stores)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line described in the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bridge.ops.demo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_cmd = commands.add_parser("prepare", help="print the exports make run evaluates")
    prepare_cmd.add_argument("--data", type=Path, default=Path(".data"))
    prepare_cmd.add_argument("--procfile", type=Path, default=Path("Procfile"))
    prepare_cmd.add_argument("--port", type=int, default=DEFAULT_PORT)
    banner_cmd = commands.add_parser("banner", help="print how to send a sample webhook")
    banner_cmd.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        sys.stdout.write(prepare(args.data, args.procfile, port=args.port))
    else:
        sys.stdout.write(banner(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
