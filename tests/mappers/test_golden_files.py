"""Every golden in tests/golden has exactly one case, and every case its golden; only
UPDATE_GOLDEN=1 rewrites them; and every body a golden holds is one the Kanal emulator takes
in its strict mode (no unknown key anywhere)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mapper_fixtures import GOLDEN, update_goldens
from test_golden_orders import CASES as ORDER_CASES
from test_golden_resources import CASES as RESOURCE_CASES
from test_shopify_graphql import CASES as GRAPHQL_CASES

from bridge.emulators.kanal.validation import PATCH_SCHEMAS, validate, validate_patch

NAMES = [case.name for case in [*ORDER_CASES, *RESOURCE_CASES, *GRAPHQL_CASES]]
GOLDENS = sorted(GOLDEN.glob("*.json"))


def test_no_two_cases_share_a_golden() -> None:
    assert len(NAMES) == len(set(NAMES))


def test_every_case_has_a_golden_and_every_golden_a_case() -> None:
    files = {path.stem for path in GOLDEN.glob("*.json")}
    assert sorted(set(NAMES) - files) == [], "cases without a golden (UPDATE_GOLDEN=1, review)"
    assert sorted(files - set(NAMES)) == [], "goldens no case reads (delete them)"
    assert sorted(p.name for p in GOLDEN.iterdir() if p.suffix != ".json") == []


@pytest.mark.parametrize(
    ("value", "rewrites"), [(None, False), ("", False), ("0", False), ("1", True)]
)
def test_only_update_golden_1_rewrites(
    monkeypatch: pytest.MonkeyPatch, value: str | None, rewrites: bool
) -> None:
    if value is None:
        monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    else:
        monkeypatch.setenv("UPDATE_GOLDEN", value)
    assert update_goldens() is rewrites


@pytest.mark.parametrize("value", ["true", "yes", "2", " 1"])
def test_any_other_update_golden_value_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("UPDATE_GOLDEN", value)
    with pytest.raises(ValueError, match="UPDATE_GOLDEN"):
        update_goldens()


@pytest.mark.parametrize("path", GOLDENS, ids=[path.stem for path in GOLDENS])
def test_kanal_takes_every_body_a_golden_holds(path: Path) -> None:
    actions: list[dict[str, Any]] = json.loads(path.read_text(), parse_float=Decimal)
    for action in actions:
        if "upsert" in action:
            assert validate(action["upsert"], action["body"]) == {}
        elif "patch" in action and action["patch"] in PATCH_SCHEMAS:
            assert validate_patch(action["patch"], action["fields"]) == {}
        elif "patch" in action:  # merged into the next POST of that record
            errors = validate(action["patch"], action["fields"])
            assert not [key for key in errors if key.split(".")[0] in action["fields"]]
