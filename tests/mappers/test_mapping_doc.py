"""docs/mapping.md's status tables say exactly what the dicts in the mappers say."""

from pathlib import Path

from mappers import shopify, woocommerce

DOC = (Path(__file__).resolve().parents[2] / "docs" / "mapping.md").read_text()
FROM_PAYMENT_DATE = "*from payment date*"


def _rows() -> set[tuple[str, ...]]:
    return {
        tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
        for line in DOC.splitlines()
        if line.startswith("| `") or line.startswith("| any other")
    }


def _code(value: str | None) -> str:
    return FROM_PAYMENT_DATE if value is None else f"`{value}`"


def test_shopify_status_tables_match_the_code() -> None:
    rows = _rows()
    for source, target in shopify.FINANCIAL_STATUSES.items():
        assert (f"`{source}`", f"`{target}`") in rows
    for key, target in shopify.FULFILLMENT_STATUSES.items():
        assert (f"`{'null' if key is None else key}`", f"`{target}`") in rows


def test_woocommerce_status_table_matches_the_code() -> None:
    rows = _rows()
    for status, (financial, fulfillment) in woocommerce.STATUSES.items():
        assert (f"`{status}`", _code(financial), _code(fulfillment)) in rows
    financial, fulfillment = woocommerce.UNKNOWN_STATUS
    assert ("any other (plugin statuses)", _code(financial), _code(fulfillment)) in rows
    drafts = ", ".join(f"`{s}`" for s in ("checkout-draft", "draft", "auto-draft"))
    assert set(woocommerce.DRAFT_STATUSES) == {"checkout-draft", "draft", "auto-draft"}
    assert (drafts, "not sent: ignored, `draft`", "") in rows


def test_shipment_status_tables_match_the_code() -> None:
    from mappers import shopify_fulfillments

    rows = _rows()
    for source, target in shopify_fulfillments.SHIPMENT_STATUSES.items():
        assert (f"`{source}`", f"`{target}`") in rows
    for source, target in shopify_fulfillments.FULFILLMENT_STATUSES.items():
        assert (f"`{source}`", f"`{target}`") in rows
    assert shopify_fulfillments.SHIPPED == "in_transit"


def test_every_subscribed_topic_is_mapped() -> None:
    from mappers import PLATFORMS

    listed = DOC.split("## Topics to subscribe to", 1)[1].split("\n## ", 1)[0]
    for topics in PLATFORMS.values():
        for topic in topics:
            assert f"`{topic}`" in listed, topic
