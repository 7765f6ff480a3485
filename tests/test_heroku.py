"""Heroku: app.json is valid and describes every variable the code reads; the slug installs
the project; the Procfile runs the CLI's processes."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bridge import cli, defaults
from bridge.config import Settings, parse_config

ROOT = Path(__file__).resolve().parents[1]

# Set by Heroku itself: the Redis add-on's attachment and the router's port.
PROVIDED_BY_HEROKU = {"REDIS_URL", "PORT", "DYNO"}


@pytest.fixture(scope="module")
def app_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "app.json").read_text())
    return data


def variables_read_by_settings() -> set[str]:
    source = inspect.getsource(Settings.from_env)
    return set(re.findall(r"""(?:env\.get\(|_int\(env, )"([A-Z_]+)\"""", source))


def test_app_json_has_what_heroku_needs(app_json: dict[str, Any]) -> None:
    assert {"name", "description", "repository", "env", "addons", "formation"} <= set(app_json)
    assert app_json["buildpacks"] == [{"url": "heroku/python"}]
    assert set(app_json["formation"]) == {"web", "worker"}
    assert [a["plan"].split(":")[0] for a in app_json["addons"]] == ["heroku-redis"]


def test_every_variable_the_code_reads_is_described(app_json: dict[str, Any]) -> None:
    read = variables_read_by_settings()
    assert {"BRIDGE_CONFIG_TOML", "DASHBOARD_PASSWORD", "WEB_CONCURRENCY"} <= read
    assert read - PROVIDED_BY_HEROKU <= set(app_json["env"])
    for name, spec in app_json["env"].items():
        assert spec["description"].strip(), name
        assert isinstance(spec["required"], bool), name


def test_the_dashboard_password_is_generated(app_json: dict[str, Any]) -> None:
    assert app_json["env"]["DASHBOARD_PASSWORD"]["generator"] == "secret"


def test_the_config_template_is_valid_and_its_secrets_are_described(
    app_json: dict[str, Any],
) -> None:
    template = app_json["env"]["BRIDGE_CONFIG_TOML"]["value"]
    referenced = set(re.findall(r"\$\{([A-Z0-9_]+)\}", template))
    assert referenced
    for name in referenced:
        assert app_json["env"][name]["required"] is True
    config = parse_config(template, {name: f"value-of-{name}" for name in referenced})
    assert config.stores


def test_the_slug_installs_the_project() -> None:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert [line for line in lines if line and not line.startswith("#")] == ["."]
    assert (ROOT / ".python-version").read_text().strip() == "3.11"


def test_the_procfile_runs_the_clis_processes() -> None:
    kinds = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert {k: v.strip() for k, v in kinds.items()} == {
        "web": "kanal-bridge web",
        "worker": "kanal-bridge worker",
        "release": "kanal-bridge check-config",
    }
    assert cli.GRACEFUL_SHUTDOWN_SECONDS < 30


# Dyno sizes that can run more than one dyno per process type, and preboot (Heroku's dyno
# tiers: Eco and Basic run one dyno per process type and have no preboot).
PROFESSIONAL_DYNOS = {
    "standard-1x",
    "standard-2x",
    "performance-m",
    "performance-l",
    "performance-l-ram",
    "performance-xl",
    "performance-2xl",
}


def test_app_json_dynos_can_do_what_the_guide_tells_the_merchant_to_do(
    app_json: dict[str, Any],
) -> None:
    guide = (ROOT / "docs" / "heroku.md").read_text()
    scales = [int(n) for n in re.findall(r"ps:scale [^\n`]*?\b(?:web|worker)=(\d+)", guide)]
    sizes = {spec["size"].lower() for spec in app_json["formation"].values()}
    assert scales, "the guide no longer says how to scale"
    if max(scales) > 1 or "features:enable preboot" in guide:
        assert sizes <= PROFESSIONAL_DYNOS, sizes
    for kind, spec in app_json["formation"].items():
        assert f"{kind}=1:{spec['size'].lower()}" in guide  # the guide scales to app.json's size


def test_the_guides_count_redis_connections_as_the_code_does() -> None:
    """docs/heroku.md's formula and its premium-0 example use the code's numbers."""
    guide = (ROOT / "docs" / "heroku.md").read_text()
    formula = (
        "web dynos \u00d7 WEB_CONCURRENCY \u00d7 (REDIS_POOL_SIZE + "
        f"{defaults.WEB_EXTRA_CONNECTIONS}) + worker dynos \u00d7 {defaults.WORKER_CONNECTIONS}"
        f" + {defaults.ONE_OFF_CONNECTIONS}"
    )
    assert formula in guide
    example = (
        f"2 \u00d7 2 \u00d7 ({defaults.REDIS_POOL_SIZE} + {defaults.WEB_EXTRA_CONNECTIONS}) + "
        f"{defaults.WORKER_CONNECTIONS} + {defaults.ONE_OFF_CONNECTIONS} = 40"
    )
    assert example in guide
    assert (
        2 * 2 * (defaults.REDIS_POOL_SIZE + defaults.WEB_EXTRA_CONNECTIONS)
        + (defaults.WORKER_CONNECTIONS + defaults.ONE_OFF_CONNECTIONS)
        <= 40
    )
