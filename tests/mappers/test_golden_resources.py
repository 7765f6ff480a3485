"""Checkouts, customers, shipments and compliance topics: every sample payload in
tests/fixtures maps to its reviewed actions in
tests/golden/, and Kanal accepts every body.

Shopify's samples carry fictional phone numbers, so each is also mapped with one realistic
number put where a shop would have it (`.valid-phone` cases), as the order goldens do.
Set UPDATE_GOLDEN=1 (only 1) to rewrite the goldens from the mappers, then review the diff
by hand; tests/mappers/test_golden_files.py checks every golden has its case and back.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mapper_fixtures import FIXTURES, REPO, as_json, golden

from bridge.emulators.kanal.validation import PATCH_SCHEMAS, validate, validate_patch
from mappers import Delete, Ignored, Patch, StoreContext, Upsert, map_webhook
from mappers.kanal import encode

LOCAL = REPO / "tests" / "fixtures"
CTX = StoreContext(default_country="FR")
NO_CONSENT_NEEDED = StoreContext(default_country="FR", checkouts_require_consent=False)
SHIPPED_WHEN_COMPLETED = StoreContext(default_country="FR", completed_means_shipped=True)

Edit = Callable[[dict[str, Any]], None]


def _response(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    body = document.get("response", document)
    assert isinstance(body, dict)
    return body


def _set(path: tuple[str, ...], value: object) -> Edit:
    def edit(payload: dict[str, Any]) -> None:
        target = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _with_tracking(payload: dict[str, Any]) -> None:
    items = json.loads((LOCAL / "woocommerce" / "shipment-tracking-items.built.json").read_text())
    payload["meta_data"].append({"id": 9001, "key": "_wc_shipment_tracking_items", "value": items})
    payload["billing"]["phone"] = "(415) 555-0132"


@dataclass(frozen=True)
class Case:
    name: str
    platform: str
    topic: str
    source: Path
    edits: tuple[Edit, ...] = ()
    ctx: StoreContext = CTX
    inline: dict[str, Any] | None = field(default=None)

    def payload(self) -> dict[str, Any]:
        body = copy.deepcopy(self.inline) if self.inline else _response(self.source)
        for edit in self.edits:
            edit(body)
        return body


SHOP = LOCAL / "shopify"
WOO = LOCAL / "woocommerce"
CHECKOUT = SHOP / "gadget-2026-04-checkouts-create.json"
VALID_CHECKOUT = (
    _set(("shipping_address", "phone"), "(502) 555-0123"),
    _set(("buyer_accepts_marketing",), True),
)
CASES = [
    Case("gadget-2026-04-checkouts-create", "shopify", "checkouts/create", CHECKOUT),
    Case(
        "gadget-2026-04-checkouts-create.no-consent-needed",
        "shopify",
        "checkouts/create",
        CHECKOUT,
        ctx=NO_CONSENT_NEEDED,
    ),
    Case(
        "gadget-2026-04-checkouts-create.valid-phone",
        "shopify",
        "checkouts/update",
        CHECKOUT,
        VALID_CHECKOUT,
    ),
    Case(
        "gadget-2026-04-checkouts-create.completed",
        "shopify",
        "checkouts/update",
        CHECKOUT,
        (*VALID_CHECKOUT, _set(("completed_at",), "2021-12-31T19:05:00-05:00")),
    ),
    Case(
        "gadget-2026-04-checkouts-delete",
        "shopify",
        "checkouts/delete",
        SHOP / "gadget-2026-04-checkouts-delete.json",
    ),
    Case(
        "gadget-2026-04-customers-create",
        "shopify",
        "customers/create",
        SHOP / "gadget-2026-04-customers-create.json",
    ),
    Case(
        "gadget-2026-04-customers-update.valid-phone",
        "shopify",
        "customers/update",
        SHOP / "gadget-2026-04-customers-update.json",
        (_set(("default_address", "phone"), "613-555-0135"),),
    ),
    Case(
        "gadget-2026-04-customers-purchasing-summary",
        "shopify",
        "customers/purchasing_summary",
        SHOP / "gadget-2026-04-customers-purchasing-summary.json",
    ),
    Case(
        "gadget-metadata-2026-04-customers-redact",
        "shopify",
        "customers/redact",
        FIXTURES / "shopify" / "gadget-metadata-2026-04-customers-redact.json",
    ),
    Case(
        "gadget-2026-04-customers-data-request",
        "shopify",
        "customers/data_request",
        SHOP / "gadget-2026-04-customers-data-request.json",
    ),
    Case(
        "gadget-2026-04-shop-redact",
        "shopify",
        "shop/redact",
        SHOP / "gadget-2026-04-shop-redact.json",
    ),
    Case(
        "gadget-2025-10-fulfillments-update",
        "shopify",
        "fulfillments/create",
        SHOP / "gadget-2025-10-fulfillments-update.json",
    ),
    Case(
        "gadget-2025-10-fulfillments-update.delivered",
        "shopify",
        "fulfillments/update",
        SHOP / "gadget-2025-10-fulfillments-update.json",
        (_set(("status",), "success"), _set(("shipment_status",), "delivered")),
    ),
    Case(
        "gadget-2025-01-fulfillment-events-create",
        "shopify",
        "fulfillment_events/create",
        SHOP / "gadget-2025-01-fulfillment-events-create.json",
    ),
    Case(
        "docs-v3-retrieve-customer",
        "woocommerce",
        "customer.updated",
        WOO / "docs-v3-retrieve-customer.json",
    ),
    Case(
        "docs-v3-retrieve-customer.valid-phone",
        "woocommerce",
        "customer.created",
        WOO / "docs-v3-retrieve-customer.json",
        (_set(("billing", "phone"), "(415) 555-0132"),),
    ),
    Case(
        "woocommerce-customer-deleted",
        "woocommerce",
        "customer.deleted",
        WOO,
        inline={"id": 25},
    ),
    Case(
        "docs-v3-retrieve-order-guest-processing-usd.shipment-tracking",
        "woocommerce",
        "order.updated",
        FIXTURES / "woocommerce" / "docs-v3-retrieve-order-guest-processing-usd.json",
        (_with_tracking,),
    ),
    Case(
        "docs-v3-retrieve-order-guest-processing-usd.completed-means-shipped",
        "woocommerce",
        "order.updated",
        FIXTURES / "woocommerce" / "docs-v3-retrieve-order-guest-processing-usd.json",
        (_set(("status",), "completed"), _set(("billing", "phone"), "(415) 555-0132")),
        ctx=SHIPPED_WHEN_COMPLETED,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_sample_maps_to_its_reviewed_golden(case: Case) -> None:
    actions = map_webhook(case.platform, case.topic, case.payload(), case.ctx)
    actual = as_json(actions)
    assert actual == golden(case.name, actual)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_kanal_accepts_every_mapped_sample(case: Case) -> None:
    for action in map_webhook(case.platform, case.topic, case.payload(), case.ctx):
        if isinstance(action, Upsert):
            body = json.loads(encode(action.body), parse_float=Decimal)
            assert validate(action.resource, body) == {}, case.name
        elif isinstance(action, Patch):
            fields = json.loads(encode(action.fields), parse_float=Decimal)
            if action.resource in PATCH_SCHEMAS:
                assert validate_patch(action.resource, fields) == {}
            else:
                assert not set(validate(action.resource, fields)) & set(fields)
        else:
            assert isinstance(action, Ignored | Delete)


def test_every_valid_phone_variant_is_sent() -> None:
    for case in CASES:
        if case.name.endswith(".valid-phone"):
            [action] = map_webhook(case.platform, case.topic, case.payload(), case.ctx)
            assert isinstance(action, Upsert), case.name
