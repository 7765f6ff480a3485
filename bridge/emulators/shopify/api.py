"""POST /admin/api/{version}/graphql.json, minus HTTP: cost, throttle, execution, answers.

One request, in Shopify's order: the `query` parameter (400 without one), parse and validate
(errors, 200), the requested cost against the single-query maximum (MAX_COST_EXCEEDED),
the app's bucket (THROTTLED when it cannot afford the query; nothing runs), execution, then
the difference between requested and actual cost goes back to the bucket. Every answer that
got as far as the cost carries `extensions.cost`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from graphql import GraphQLError, execute_sync
from graphql.language import FragmentDefinitionNode

from bridge.emulators.shopify import nodes
from bridge.emulators.shopify.cost import QueryCost
from bridge.emulators.shopify.schema import QueryError, error_json, parse_query, schema
from bridge.emulators.shopify.search import Getter, Search, parse_search
from bridge.emulators.shopify.shop import parse_time
from bridge.emulators.shopify.state import App, ShopifyState, Subscription
from bridge.emulators.shopify.topics import TOPICS

DOCS = "https://shopify.dev/api/usage/rate-limits"
ORDER_WINDOW = timedelta(days=60)  # visible without read_all_orders
_GID = re.compile(r"gid://shopify/(?P<kind>\w+)/(?P<number>[0-9]+)")
_LOOPBACK = re.compile(r"http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?(/\S*)?")
_HTTPS = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]+)?(/\S*)?")

Publish = Callable[[str, Mapping[str, Any]], None]


def _time(name: str) -> Getter:
    return lambda record: parse_time(record.get(name))


ORDER_SEARCH: dict[str, Getter] = {
    "updated_at": _time("updated_at"),
    "created_at": _time("created_at"),
    "processed_at": _time("processed_at"),
    "id": lambda r: r["id"],
    "name": lambda r: r.get("name"),
    "financial_status": lambda r: r.get("financial_status"),
    "fulfillment_status": lambda r: r.get("fulfillment_status") or "unfulfilled",
    "test": lambda r: str(bool(r.get("test"))).lower(),
    "status": lambda r: (
        "cancelled" if r.get("cancelled_at") else ("closed" if r.get("closed_at") else "open")
    ),
}
CUSTOMER_SEARCH: dict[str, Getter] = {
    "updated_at": _time("updated_at"),
    "created_at": _time("created_at"),
    "id": lambda r: r["id"],
    "email": lambda r: r.get("email"),
    "phone": lambda r: r.get("phone"),
}
CHECKOUT_SEARCH: dict[str, Getter] = {
    "updated_at": _time("updated_at"),
    "created_at": _time("created_at"),
    "id": lambda r: r["id"],
    "status": lambda r: "closed" if r.get("completed_at") or r.get("closed_at") else "open",
}

# Sort keys → the record field sorted on (ties and unknown keys: by id, as Shopify does).
SORT_FIELDS = {
    "UPDATED_AT": "updated_at",
    "CREATED_AT": "created_at",
    "PROCESSED_AT": "processed_at",
    "ORDER_NUMBER": "order_number",
}


class Answer:
    """An HTTP status and a JSON body."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


class AccessDenied(GraphQLError):
    def __init__(self, field: str, scope: str) -> None:
        required = f"`{scope}` access scope."
        super().__init__(
            f"Access denied for {field} field. Required access: {required}",
            extensions={"code": "ACCESS_DENIED", "documentation": DOCS, "requiredAccess": required},
        )


def _sorted(
    records: list[dict[str, Any]], args: Mapping[str, Any]
) -> tuple[list[Any], Callable[[Any], list[Any]]]:
    field = SORT_FIELDS.get(str(args.get("sortKey") or "ID"))

    def position(record: Mapping[str, Any]) -> list[Any]:
        if field is None:
            return [record["id"]]
        value = record.get(field)
        moment = parse_time(value)
        key: Any = moment.timestamp() if moment else (value if value is not None else 0)
        return [key, record["id"]]

    ordered = sorted(records, key=position, reverse=bool(args.get("reverse")))
    return ordered, position


class AdminAPI:
    """The GraphQL Admin API over one `ShopifyState`."""

    def __init__(self, state: ShopifyState) -> None:
        self.state = state

    def handle(self, app: App, version: str, body: object) -> Answer:
        state = self.state
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("query"), str)
            or not body["query"].strip()
        ):
            return Answer(400, {"errors": {"query": "Required parameter missing or invalid"}})
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return Answer(400, {"errors": {"variables": "must be a JSON object"}})
        operation_name = (
            body.get("operationName") if isinstance(body.get("operationName"), str) else None
        )
        try:
            document, operation = parse_query(body["query"], operation_name)
        except QueryError as exc:
            self._log(app, version, operation_name, 0, 0, "invalid")
            return Answer(200, {"errors": exc.errors})
        name = operation.name.value if operation.name else None
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        cost = QueryCost(schema(), fragments, variables)
        requested = cost.requested(operation)
        bucket = state.buckets[app.client_id]
        spent = state.spent[app.client_id]
        if requested > state.max_query_cost:
            self._log(app, version, name, requested, 0, "max_cost_exceeded")
            return Answer(
                200,
                {
                    "errors": [
                        {
                            "message": _max_cost_message(requested, state.max_query_cost),
                            "extensions": {
                                "code": "MAX_COST_EXCEEDED",
                                "cost": requested,
                                "maxCost": state.max_query_cost,
                                "documentation": DOCS,
                            },
                        }
                    ],
                    "extensions": {"cost": self._cost(requested, None, bucket.status())},
                },
            )
        if not bucket.take(requested):
            spent["throttled"] += 1
            self._log(app, version, name, requested, 0, "throttled")
            return Answer(
                200,
                {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {"code": "THROTTLED", "documentation": DOCS},
                        }
                    ],
                    "extensions": {"cost": self._cost(requested, None, bucket.status())},
                },
            )
        searches: list[dict[str, Any]] = []
        root = Resolvers(self.state, app, version, searches).root()
        result = execute_sync(
            schema(),
            document,
            root_value=root,
            variable_values=variables,
            operation_name=operation_name,
        )
        actual = cost.actual(operation, result.data) if result.data is not None else requested
        bucket.give_back(requested - actual)
        spent["requested"] += requested
        spent["actual"] += actual
        spent["queries"] += 1
        answer: dict[str, Any] = {}
        if result.errors:
            answer["errors"] = [error_json(error) for error in result.errors]
        answer["data"] = result.data
        extensions: dict[str, Any] = {"cost": self._cost(requested, actual, bucket.status())}
        if searches:
            extensions["search"] = searches
        answer["extensions"] = extensions
        self._log(app, version, name, requested, actual, "errors" if result.errors else "ok")
        return Answer(200, answer)

    @staticmethod
    def _cost(requested: int, actual: int | None, status: dict[str, float]) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": status,
        }

    def _log(
        self, app: App, version: str, name: str | None, requested: int, actual: int, outcome: str
    ) -> None:
        self.state.log(
            {
                "app": app.client_id,
                "version": version,
                "operation": name,
                "requested_cost": requested,
                "actual_cost": actual,
                "outcome": outcome,
            }
        )


class Resolvers:
    """The root fields of one request, for one app (its scopes, its subscriptions)."""

    def __init__(
        self, state: ShopifyState, app: App, version: str, searches: list[dict[str, Any]]
    ) -> None:
        self.state = state
        self.shop = state.shop
        self.app = app
        self.version = version
        self.searches = searches

    def root(self) -> dict[str, Any]:
        return {
            "shop": self.shop_node,
            "order": self.order,
            "orders": self.orders,
            "ordersCount": self.orders_count,
            "customer": self.customer,
            "customers": self.customers,
            "customersCount": self.customers_count,
            "abandonedCheckouts": self.checkouts,
            "abandonedCheckoutsCount": self.checkouts_count,
            "webhookSubscription": self.subscription,
            "webhookSubscriptions": self.subscriptions,
            "webhookSubscriptionCreate": self.subscription_create,
            "webhookSubscriptionUpdate": self.subscription_update,
            "webhookSubscriptionDelete": self.subscription_delete,
        }

    # -- access ---------------------------------------------------------------------------

    def _require(self, field: str, scope: str) -> None:
        if scope not in self.app.scopes and scope.replace("read_", "write_") not in self.app.scopes:
            raise AccessDenied(field, scope)

    def _search(self, field: str, query: str | None, fields: dict[str, Getter]) -> Search:
        search = parse_search(query, fields)
        if search.warnings:
            self.searches.append(search.report(field))
        return search

    def _visible_orders(self) -> list[dict[str, Any]]:
        orders = list(self.shop.orders.values())
        if "read_all_orders" in self.app.scopes:
            return orders
        oldest = self.shop.now() - ORDER_WINDOW
        return [o for o in orders if (parse_time(o.get("created_at")) or oldest) >= oldest]

    def _find(self, kind: str, ident: str) -> dict[str, Any] | None:
        match = _GID.fullmatch(ident or "")
        if match is None:
            raise GraphQLError(
                f"Invalid global id '{ident}'", extensions={"code": "argumentLiteralsIncompatible"}
            )
        if match["kind"] != kind:
            return None
        return self.shop.find(kind, int(match["number"]))

    # -- shop and records -----------------------------------------------------------------

    def shop_node(self, info: Any) -> dict[str, Any]:
        shop = self.shop
        return {
            "id": f"gid://shopify/Shop/{shop.shop_id}",
            "name": shop.name,
            "email": f"owner@{shop.domain}",
            "contactEmail": f"owner@{shop.domain}",
            "myshopifyDomain": shop.domain,
            "url": f"https://{shop.domain}",
            "currencyCode": shop.currency,
            "ianaTimezone": shop.iana_timezone(),
            "plan": {
                "publicDisplayName": "Basic",
                "partnerDevelopment": False,
                "shopifyPlus": False,
            },
        }

    def order(self, info: Any, id: str) -> dict[str, Any] | None:
        self._require("order", "read_orders")
        record = self._find("Order", id)
        if record is None or record not in self._visible_orders():
            return None
        return nodes.order(record, self.shop)

    def orders(self, info: Any, **args: Any) -> dict[str, Any]:
        self._require("orders", "read_orders")
        search = self._search("orders", args.get("query"), ORDER_SEARCH)
        found = [o for o in self._visible_orders() if search.matches(o, ORDER_SEARCH)]
        ordered, position = _sorted(found, args)
        return nodes.connection(
            ordered, args, position=position, node=lambda r: nodes.order(r, self.shop)
        )

    def orders_count(
        self, info: Any, limit: int | None = 10000, query: str | None = None
    ) -> dict[str, Any]:
        self._require("ordersCount", "read_orders")
        search = self._search("ordersCount", query, ORDER_SEARCH)
        count = sum(1 for o in self._visible_orders() if search.matches(o, ORDER_SEARCH))
        return _count(count, limit)

    def customer(self, info: Any, id: str) -> dict[str, Any] | None:
        self._require("customer", "read_customers")
        record = self._find("Customer", id)
        return nodes.customer(record, self.shop) if record is not None else None

    def customers(self, info: Any, **args: Any) -> dict[str, Any]:
        self._require("customers", "read_customers")
        search = self._search("customers", args.get("query"), CUSTOMER_SEARCH)
        found = [c for c in self.shop.customers.values() if search.matches(c, CUSTOMER_SEARCH)]
        ordered, position = _sorted(found, args)
        return nodes.connection(
            ordered, args, position=position, node=lambda r: nodes.customer(r, self.shop)
        )

    def customers_count(
        self, info: Any, limit: int | None = 10000, query: str | None = None
    ) -> dict[str, Any]:
        self._require("customersCount", "read_customers")
        search = self._search("customersCount", query, CUSTOMER_SEARCH)
        return _count(
            sum(1 for c in self.shop.customers.values() if search.matches(c, CUSTOMER_SEARCH)),
            limit,
        )

    def checkouts(self, info: Any, **args: Any) -> dict[str, Any]:
        self._require("abandonedCheckouts", "read_orders")
        search = self._search("abandonedCheckouts", args.get("query"), CHECKOUT_SEARCH)
        found = [c for c in self.shop.checkouts.values() if search.matches(c, CHECKOUT_SEARCH)]
        ordered, position = _sorted(found, args)
        return nodes.connection(
            ordered, args, position=position, node=lambda r: nodes.checkout(r, self.shop)
        )

    def checkouts_count(
        self, info: Any, limit: int | None = 10000, query: str | None = None
    ) -> dict[str, Any]:
        self._require("abandonedCheckoutsCount", "read_orders")
        search = self._search("abandonedCheckoutsCount", query, CHECKOUT_SEARCH)
        return _count(
            sum(1 for c in self.shop.checkouts.values() if search.matches(c, CHECKOUT_SEARCH)),
            limit,
        )

    # -- webhook subscriptions ----------------------------------------------------------------

    def _own(self) -> list[Subscription]:
        return [s for s in self.state.subscriptions.values() if s.app == self.app.client_id]

    def _subscription_node(self, sub: Subscription) -> dict[str, Any]:
        return {
            "id": f"gid://shopify/WebhookSubscription/{sub.id}",
            "legacyResourceId": str(sub.id),
            "topic": sub.topic,
            "format": sub.format,
            "uri": sub.uri,
            "filter": sub.filter,
            "includeFields": list(sub.include_fields),
            "apiVersion": {
                "handle": sub.api_version,
                "displayName": sub.api_version,
                "supported": True,
            },
            "createdAt": nodes.datetime_value(sub.created_at),
            "updatedAt": nodes.datetime_value(sub.updated_at),
        }

    def _own_by_gid(self, ident: str) -> Subscription | None:
        match = _GID.fullmatch(ident or "")
        if match is None or match["kind"] != "WebhookSubscription":
            raise GraphQLError(
                f"Invalid global id '{ident}'", extensions={"code": "argumentLiteralsIncompatible"}
            )
        sub = self.state.subscriptions.get(int(match["number"]))
        return sub if sub is not None and sub.app == self.app.client_id else None

    def subscription(self, info: Any, id: str) -> dict[str, Any] | None:
        sub = self._own_by_gid(id)
        return self._subscription_node(sub) if sub else None

    def subscriptions(self, info: Any, **args: Any) -> dict[str, Any]:
        found = self._own()
        if args.get("topics"):
            found = [s for s in found if s.topic in args["topics"]]
        if args.get("uri") is not None:
            found = [s for s in found if s.uri == args["uri"]]
        if args.get("format") is not None:
            found = [s for s in found if s.format == args["format"]]
        ordered = sorted(found, key=lambda s: s.id, reverse=bool(args.get("reverse")))
        return nodes.connection(
            ordered, args, position=lambda s: [s.id], node=self._subscription_node
        )

    def _check_input(
        self, topic: str, given: Mapping[str, Any], current: Subscription | None
    ) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        uri = given.get("uri", current.uri if current else None)
        if not uri:
            errors.append(
                {"field": ["webhookSubscription", "uri"], "message": "Address can't be blank"}
            )
        elif not (_HTTPS.fullmatch(uri) or _LOOPBACK.fullmatch(uri)):
            errors.append(
                {"field": ["webhookSubscription", "uri"], "message": "Address is invalid"}
            )
        elif any(s.topic == topic and s.uri == uri and s is not current for s in self._own()):
            errors.append(
                {
                    "field": ["webhookSubscription", "uri"],
                    "message": "Address for this topic has already been taken",
                }
            )
        scope = TOPICS[topic][1]
        if scope and scope not in self.app.scopes:
            errors.append(
                {
                    "field": ["topic"],
                    "message": f"You do not have permission to create or update webhooks "
                    f"with {TOPICS[topic][0]} topic. This topic requires the `{scope}` "
                    "access scope.",
                }
            )
        return errors

    def subscription_create(
        self, info: Any, topic: str, webhookSubscription: dict[str, Any]
    ) -> dict[str, Any]:
        errors = self._check_input(topic, webhookSubscription, None)
        if errors:
            return {"webhookSubscription": None, "userErrors": errors}
        now = self.shop.stamp()
        sub = Subscription(
            id=self.state.next_id(),
            app=self.app.client_id,
            topic=topic,
            uri=webhookSubscription["uri"],
            format=webhookSubscription.get("format") or "JSON",
            api_version=self.version,
            created_at=now,
            updated_at=now,
            filter=webhookSubscription.get("filter"),
            include_fields=list(webhookSubscription.get("includeFields") or []),
        )
        self.state.subscriptions[sub.id] = sub
        return {"webhookSubscription": self._subscription_node(sub), "userErrors": []}

    def subscription_update(
        self, info: Any, id: str, webhookSubscription: dict[str, Any]
    ) -> dict[str, Any]:
        sub = self._own_by_gid(id)
        if sub is None:
            return {
                "webhookSubscription": None,
                "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}],
            }
        errors = self._check_input(sub.topic, webhookSubscription, sub)
        if errors:
            return {"webhookSubscription": None, "userErrors": errors}
        for key, attribute in (("uri", "uri"), ("format", "format"), ("filter", "filter")):
            if webhookSubscription.get(key) is not None:
                setattr(sub, attribute, webhookSubscription[key])
        if webhookSubscription.get("includeFields") is not None:
            sub.include_fields = list(webhookSubscription["includeFields"])
        sub.api_version = self.version
        sub.updated_at = self.shop.stamp(sub.updated_at)
        return {"webhookSubscription": self._subscription_node(sub), "userErrors": []}

    def subscription_delete(self, info: Any, id: str) -> dict[str, Any]:
        sub = self._own_by_gid(id)
        if sub is None:
            return {
                "deletedWebhookSubscriptionId": None,
                "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}],
            }
        del self.state.subscriptions[sub.id]
        return {
            "deletedWebhookSubscriptionId": f"gid://shopify/WebhookSubscription/{sub.id}",
            "userErrors": [],
        }


def _count(count: int, limit: int | None) -> dict[str, Any]:
    if limit is not None and count > limit:
        return {"count": limit, "precision": "AT_LEAST"}
    return {"count": count, "precision": "EXACT"}


def _max_cost_message(cost: int, limit: int) -> str:
    return (
        f"Query cost is {cost}, which exceeds the single query max cost limit ({limit}).\n\n"
        f"See {DOCS} for more information on how the\ncost of a query is calculated.\n\n"
        "To query larger amounts of data with fewer limits, bulk operations should be used "
        "instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api "
        "for usage details.\n"
    )
