"""The real order payloads in tests/fixtures, unwrapped, and how actions are compared."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from mappers import Action, Delete, Ignored, Patch, Upsert
from mappers.kanal import encode

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
GOLDEN = REPO / "tests" / "golden"
PLATFORMS = ("shopify", "woocommerce")
ORDER_TOPIC = {"shopify": "orders/updated", "woocommerce": "order.updated"}


@dataclass(frozen=True)
class OrderFixture:
    """One order payload, named after its file (and its id when the file holds several)."""

    name: str
    platform: str
    payload: dict[str, Any]


def _unwrap(document: object) -> list[object]:
    if isinstance(document, dict) and len(document) == 1:
        (key,) = document
        if key in ("order", "data"):
            document = document[key]
    return document if isinstance(document, list) else [document]


def _is_order(document: object) -> bool:
    return isinstance(document, dict) and "id" in document and "line_items" in document


def order_fixtures() -> list[OrderFixture]:
    """Every order in the fixtures; fails loudly when the folder is missing."""
    found: list[OrderFixture] = []
    for platform in PLATFORMS:
        files = sorted((FIXTURES / platform).glob("*.json"))
        assert files, f"no fixtures under {FIXTURES / platform}"
        for path in files:
            documents = [d for d in _unwrap(json.loads(path.read_text())) if _is_order(d)]
            for document in documents:
                assert isinstance(document, dict)
                name = path.stem if len(documents) == 1 else f"{path.stem}.{document['id']}"
                found.append(OrderFixture(name, platform, document))
    return found


def as_json(actions: list[Action]) -> list[dict[str, Any]]:
    """Actions as plain JSON values; bodies go through Kanal's encoding, numbers as Decimal."""
    out: list[dict[str, Any]] = []
    for action in actions:
        match action:
            case Upsert():
                body = json.loads(encode(action.body), parse_float=Decimal)
                upsert: dict[str, Any] = {
                    "upsert": action.resource,
                    "external_id": action.external_id,
                    "version": action.version,
                }
                if action.not_before:
                    upsert["not_before"] = action.not_before
                if action.after:
                    upsert["after"] = list(action.after)
                out.append({**upsert, "body": body})
            case Patch():
                fields = json.loads(encode(action.fields), parse_float=Decimal)
                out.append(
                    {
                        "patch": action.resource,
                        "external_id": action.external_id,
                        "version": action.version,
                        "fields": fields,
                    }
                )
            case Delete():
                out.append({"delete": action.resource, "external_id": action.external_id})
            case Ignored():
                out.append({"ignored": action.reason})
    return out


def update_goldens() -> bool:
    """True when UPDATE_GOLDEN=1 asks to rewrite the goldens; unset, empty or 0 compare them.
    Any other value is refused, so a typo never rewrites (or silently compares) goldens."""
    value = os.environ.get("UPDATE_GOLDEN", "")
    if value not in ("", "0", "1"):
        raise ValueError(f"UPDATE_GOLDEN={value!r}: use 1 to rewrite the goldens, or unset it")
    return value == "1"


def _exact(value: object) -> orjson.Fragment:
    assert isinstance(value, Decimal)
    return orjson.Fragment(format(value, "f").encode())


def golden(name: str, actual: list[dict[str, Any]]) -> Any:
    """The reviewed golden of case `name` (tests/golden/<name>.json), numbers as Decimal.

    With UPDATE_GOLDEN=1 it is first rewritten from `actual` (then review the diff by hand)."""
    path = GOLDEN / f"{name}.json"
    if update_goldens():
        text = orjson.dumps(actual, default=_exact, option=orjson.OPT_INDENT_2)
        path.write_bytes(text + b"\n")
    assert path.is_file(), f"no golden for case {name}: run with UPDATE_GOLDEN=1 and review it"
    return json.loads(path.read_text(), parse_float=Decimal)


def sole_upsert(actions: list[Action]) -> Upsert:
    """The one action, an upsert whose body the emulator's validation accepts."""
    from bridge.emulators.kanal.validation import validate

    (action,) = actions
    assert isinstance(action, Upsert), action
    assert validate(action.resource, json.loads(encode(action.body), parse_float=Decimal)) == {}
    return action


def sole_reason(actions: list[Action]) -> str:
    """The reason of the one action, which must be Ignored."""
    (action,) = actions
    assert isinstance(action, Ignored), action
    return action.reason
