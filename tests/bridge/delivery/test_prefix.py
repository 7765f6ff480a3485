"""The store's external_id_prefix reaches every id Kanal sees, and nothing else."""

from __future__ import annotations

from decimal import Decimal

from bridge.delivery.prefix import apply_prefix
from mappers import Delete, Ignored, Patch, Upsert

ORDER = Upsert(
    "orders",
    "1001",
    5,
    {
        "external_id": "1001",
        "total_price": Decimal("10.00"),
        "customer": {"phone": "+33612345678", "external_id": "77"},
        "metadata": {"order_number": "#1001"},
    },
)


def test_an_order_its_body_and_its_customer_get_the_prefix() -> None:
    action = apply_prefix(ORDER, "ms-")
    assert isinstance(action, Upsert)
    assert action.external_id == "ms-1001"
    assert action.body["external_id"] == "ms-1001"
    assert action.body["customer"] == {"phone": "+33612345678", "external_id": "ms-77"}
    assert action.body["metadata"] == {"order_number": "#1001"}  # what merchants read: as is
    assert (action.version, action.body["total_price"]) == (5, Decimal("10.00"))
    assert ORDER.body["external_id"] == "1001"  # the mapper's action is left untouched


def test_a_shipment_points_at_its_prefixed_order() -> None:
    shipment = Upsert(
        "shipments",
        "55",
        1,
        {"external_id": "55", "order_external_id": "1001", "status": "in_transit"},
        after=("orders", "1001"),
    )
    action = apply_prefix(shipment, "eu-")
    assert isinstance(action, Upsert)
    assert action.body == {
        "external_id": "eu-55",
        "order_external_id": "eu-1001",
        "status": "in_transit",
    }
    assert action.after == ("orders", "eu-1001")


def test_a_customer_keyed_by_phone_alone_stays_so() -> None:
    customer = Upsert("customers", "9", 1, {"phone": "+33612345678"})
    action = apply_prefix(customer, "ms-")
    assert isinstance(action, Upsert)
    assert action.external_id == "ms-9"
    assert action.body == {"phone": "+33612345678"}


def test_patch_and_delete_targets_get_the_prefix() -> None:
    patch = apply_prefix(Patch("checkouts", "tok", 0, {"status": "recovered"}), "ms-")
    assert patch == Patch("checkouts", "ms-tok", 0, {"status": "recovered"})
    assert apply_prefix(Delete("customers", "9"), "ms-") == Delete("customers", "ms-9")


def test_without_a_prefix_nothing_changes() -> None:
    assert apply_prefix(ORDER, "") is ORDER
    assert apply_prefix(Ignored("no_phone"), "ms-") == Ignored("no_phone")
