"""The emulator's SDL names only what Shopify's Admin API has, with Shopify's types."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLObjectType,
    build_schema,
    print_ast,
)

from bridge.emulators.shopify.schema import schema

EXTRACT = Path(__file__).parents[4] / "tests/fixtures/shopify/admin-2026-01-schema-extract.graphql"
# Enums the SDL declares only in part, on purpose (see the comment above each in the SDL).
PARTIAL_ENUMS = {"WebhookSubscriptionTopic"}

ours = schema()
real = build_schema(EXTRACT.read_text(encoding="utf-8"), assume_valid=True)


def _named_types() -> list[GraphQLNamedType]:
    builtin = {"String", "Int", "Float", "Boolean", "ID"}
    return [
        t for n, t in sorted(ours.type_map.items()) if not n.startswith("__") and n not in builtin
    ]


def _default(definition: object) -> str | None:
    node = getattr(definition, "ast_node", None)
    value = getattr(node, "default_value", None)
    return print_ast(value) if value is not None else None


@pytest.mark.parametrize("type_", _named_types(), ids=lambda t: t.name)
def test_each_type_exists_at_shopify_with_the_same_fields(type_: GraphQLNamedType) -> None:
    theirs = real.type_map.get(type_.name)
    assert theirs is not None, f"{type_.name} is not a type of the Admin API"
    assert type(theirs) is type(type_), f"{type_.name} is a {type(theirs).__name__} at Shopify"
    if isinstance(type_, GraphQLEnumType):
        assert isinstance(theirs, GraphQLEnumType)
        unknown = set(type_.values) - set(theirs.values)
        assert not unknown, f"{type_.name} has no values {sorted(unknown)}"
        if type_.name not in PARTIAL_ENUMS:
            assert set(type_.values) == set(theirs.values), f"{type_.name} lacks values"
    if isinstance(type_, GraphQLObjectType | GraphQLInputObjectType):
        assert isinstance(theirs, GraphQLObjectType | GraphQLInputObjectType)
        for name, field in type_.fields.items():
            real_field = theirs.fields.get(name)
            assert real_field is not None, f"{type_.name}.{name} does not exist"
            assert str(field.type) == str(real_field.type), (
                f"{type_.name}.{name}: {real_field.type}"
            )
            assert _default(field) == _default(real_field), f"{type_.name}.{name} default"
            for arg_name, arg in getattr(field, "args", {}).items():
                real_arg = real_field.args.get(arg_name)  # type: ignore[union-attr]
                where = f"{type_.name}.{name}({arg_name})"
                assert real_arg is not None, f"{where} does not exist"
                assert str(arg.type) == str(real_arg.type), f"{where}: {real_arg.type}"
                assert _default(arg) == _default(real_arg), f"{where} default"


def test_the_subscription_url_field_is_uri_as_from_2025_10() -> None:
    subscription = ours.type_map["WebhookSubscription"]
    assert isinstance(subscription, GraphQLObjectType)
    assert "uri" in subscription.fields
    assert "callbackUrl" not in subscription.fields


def test_every_topic_the_bridge_maps_can_be_subscribed() -> None:
    from bridge.platforms.shopify_admin import graphql_topic
    from mappers import PLATFORMS

    compliance = {"customers/redact", "customers/data_request", "shop/redact"}
    topics = ours.type_map["WebhookSubscriptionTopic"]
    assert isinstance(topics, GraphQLEnumType)
    wanted = {graphql_topic(t) for t in PLATFORMS["shopify"] if t not in compliance}
    assert wanted <= set(topics.values)
