"""Planning a shop's subscriptions: what is wanted, what is ours, what is left alone."""

from __future__ import annotations

from bridge.config import parse_config
from bridge.platforms.subscriptions import (
    CREATED,
    REACTIVATED,
    READDRESSED,
    REFORMATTED,
    REMOVED,
    SECRET,
    Subscription,
    plan,
    wanted_topics,
    webhook_url,
)

URL = "https://bridge.example.com/webhooks/woocommerce/eu-shop"
OLD = "https://old-bridge.herokuapp.com/webhooks/woocommerce/eu-shop"
OTHER = "https://hooks.zapier.com/hooks/catch/123/abc/"
WANTED = ("order.created", "order.updated")

STORES = """
[stores.main-shop]
platform = "shopify"
kanal_store_id = 1
kanal_api_key = "kanal-key-1"
webhook_secrets = ["secret-1"]
{shopify}

[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 2
kanal_api_key = "kanal-key-2"
webhook_secrets = ["secret-2"]
{woocommerce}
"""


def stores(shopify: str = "", woocommerce: str = "") -> dict[str, object]:
    config = parse_config(STORES.format(shopify=shopify, woocommerce=woocommerce), {})
    return dict(config.stores)


def test_every_topic_the_mappers_handle_is_wanted_but_compliance_topics() -> None:
    shop = stores()["main-shop"]
    topics = wanted_topics(shop)  # type: ignore[arg-type]
    assert topics[:6] == (
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "orders/cancelled",
    )
    assert {"checkouts/create", "customers/purchasing_summary", "fulfillment_events/create"} <= set(
        topics
    )
    assert not {"customers/redact", "customers/data_request", "shop/redact"} & set(topics)
    assert len(topics) == 15
    woo = stores()["eu-shop"]
    assert wanted_topics(woo) == (  # type: ignore[arg-type]
        "order.created",
        "order.updated",
        "order.restored",
        "order.deleted",
        "customer.created",
        "customer.updated",
        "customer.deleted",
    )


def test_subscribe_chooses_the_topic_families() -> None:
    chosen = stores(
        shopify='subscribe = ["orders", "fulfillments"]', woocommerce='subscribe = ["orders"]'
    )
    shop_topics = wanted_topics(chosen["main-shop"])  # type: ignore[arg-type]
    assert [t for t in shop_topics if not t.startswith("orders/")] == [
        "fulfillments/create",
        "fulfillments/update",
        "fulfillment_events/create",
    ]
    assert wanted_topics(chosen["eu-shop"]) == (  # type: ignore[arg-type]
        "order.created",
        "order.updated",
        "order.restored",
        "order.deleted",
    )


def test_the_url_is_the_public_url_and_the_store_path() -> None:
    assert webhook_url("https://bridge.example.com/", "shopify", "main-shop") == (
        "https://bridge.example.com/webhooks/shopify/main-shop"
    )


def test_an_empty_shop_gets_every_topic_created() -> None:
    result = plan(WANTED, URL, [], {}, "fp")
    assert result.states == {"order.created": "missing", "order.updated": "missing"}
    assert [(c.action, c.topic, c.kinds, c.address) for c in result.changes] == [
        ("create", "order.created", (CREATED,), URL),
        ("create", "order.updated", (CREATED,), URL),
    ]


def test_subscriptions_in_line_need_nothing() -> None:
    found = [Subscription("1", "order.created", URL), Subscription("2", "order.updated", URL)]
    result = plan(WANTED, URL, found, {"1": "fp", "2": "fp"}, "fp")
    assert result.in_line
    assert result.states == {"order.created": "active", "order.updated": "active"}
    assert result.kept == {"order.created": "1", "order.updated": "2"}


def test_another_integrations_webhook_for_the_same_topic_is_left_alone() -> None:
    theirs = Subscription("9", "order.created", OTHER)
    mine = Subscription("1", "order.updated", URL)
    result = plan(WANTED, URL, [theirs, mine], {"1": "fp"}, "fp")
    assert result.others == [theirs]
    assert [(c.action, c.topic) for c in result.changes] == [("create", "order.created")]
    assert all(c.id != "9" for c in result.changes)


def test_a_subscription_at_an_old_address_is_ours_only_if_the_bridge_made_it() -> None:
    old = Subscription("5", "order.created", OLD)
    found = [old, Subscription("1", "order.updated", URL)]
    adopted = plan(WANTED, URL, found, {"5": "fp", "1": "fp"}, "fp")
    assert adopted.states["order.created"] == "wrong_address"
    [change] = adopted.changes
    assert (change.action, change.id, change.kinds) == ("update", "5", (READDRESSED,))
    assert (change.address, change.old_address) == (URL, OLD)
    # Unknown to this bridge (say another deployment's, with the same store key): not ours.
    stranger = plan(WANTED, URL, [old], {}, "fp")
    assert stranger.others == [old]
    assert [c.action for c in stranger.changes] == ["create", "create"]


def test_a_disabled_or_paused_webhook_is_reactivated_and_a_wrong_format_reformatted() -> None:
    found = [
        Subscription("1", "order.created", URL, status="disabled"),
        Subscription("2", "order.updated", URL, status="paused", whole_json=False),
    ]
    result = plan(WANTED, URL, found, {"1": "fp", "2": "fp"}, "fp")
    assert result.states == {"order.created": "disabled", "order.updated": "paused"}
    assert [(c.id, c.kinds, c.reactivate, c.reformat) for c in result.changes] == [
        ("1", (REACTIVATED,), True, False),
        ("2", (REACTIVATED, REFORMATTED), True, True),
    ]
    xml = plan(
        ("orders/create",), URL, [Subscription("g1", "orders/create", URL, whole_json=False)], {}
    )
    assert xml.states == {"orders/create": "wrong_format"}
    assert xml.changes[0].kinds == (REFORMATTED,)


def test_duplicates_keep_the_best_one_and_unwanted_topics_at_our_url_are_removed() -> None:
    found = [
        Subscription("1", "order.created", URL, status="disabled"),
        Subscription("2", "order.created", URL),
        Subscription("3", "order.updated", URL),
        Subscription("4", "customer.deleted", URL),  # no longer wanted
        Subscription("5", "customer.created", OTHER),  # someone else's
    ]
    result = plan(WANTED, URL, found, {k: "fp" for k in "1234"}, "fp")
    assert result.kept == {"order.created": "2", "order.updated": "3"}
    assert [(c.action, c.id, c.was, c.kinds) for c in result.changes] == [
        ("delete", "1", "duplicate", (REMOVED,)),
        ("delete", "4", "unwanted", (REMOVED,)),
    ]
    assert [sub.id for sub in result.others] == ["5"]


def test_a_webhook_not_known_to_carry_the_current_secret_gets_it() -> None:
    found = [Subscription("1", "order.created", URL), Subscription("2", "order.updated", URL)]
    result = plan(WANTED, URL, found, {"1": "old-fp"}, "fp")  # 2: adopted, secret unknown
    assert [(c.id, c.kinds, c.secret) for c in result.changes] == [
        ("1", (SECRET,), True),
        ("2", (SECRET,), True),
    ]
    assert result.states == {"order.created": "active", "order.updated": "active"}
    # Shopify signs with the app's secret: nothing to set.
    assert plan(WANTED, URL, found, {}, None).in_line
