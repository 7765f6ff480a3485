"""`/wc/v3/webhooks`: list, create (with its ping), retrieve, update, delete, batch.

Worded and ordered as `WC_REST_Webhooks_V1_Controller` (v2/v3 extend it) does. Some of its
answers surprise: a missing webhook is 400 "ID is invalid." on GET and PUT but 404 "Invalid
ID." on DELETE; DELETE without `force=true` is 501 before the id is even looked at; a created
webhook is always `active` whatever `status` asked; the secret is never shown.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from bridge.emulators.woocommerce.api import (
    CREATABLE,
    DELETABLE,
    EDITABLE,
    READABLE,
    Answer,
    Call,
    Endpoint,
    page,
)
from bridge.emulators.woocommerce.rest import Args, RestError
from bridge.emulators.woocommerce.webhooks import (
    STATUSES,
    Webhook,
    generate_secret,
    valid_topic,
    valid_url,
)

PREFIX = "woocommerce_rest_shop_webhook"
BATCH_LIMIT = 100  # filter `woocommerce_rest_batch_items_limit`
ID = r"/webhooks/(?P<id>\d+)"


def _invalid_id(status: int = 400) -> RestError:
    message = "ID is invalid." if status == 400 else "Invalid ID."
    return RestError(status, f"{PREFIX}_invalid_id", message)


def _bad_url() -> RestError:
    return RestError(
        400,
        f"{PREFIX}_invalid_delivery_url",
        "Webhook delivery URL must be a valid URL starting with http:// or https://.",
    )


def _find(call: Call, status: int = 400) -> Webhook:
    webhook = call.state.webhooks.get(call.id or 0)
    if webhook is None:
        raise _invalid_id(404 if not call.id else status)
    return webhook


def _item(call: Call, webhook: Webhook) -> dict[str, Any]:
    return webhook.rest(call.state.clock, call.state.site_url)


def list_params(args: Args) -> dict[str, Any]:
    return {
        "page": args.integer("page", 1, minimum=1),
        "per_page": args.integer("per_page", 10, 1, 100),
        "offset": args.integer("offset", None),
        "order": args.enum("order", "desc", ("asc", "desc")),
        "orderby": args.enum("orderby", "date", ("date", "id", "title")),
        "status": args.enum("status", "all", ("all", *STATUSES)),
        "search": args.string("search"),
        "include": args.id_list("include"),
        "exclude": args.id_list("exclude"),
        "after": args.date_time("after"),
        "before": args.date_time("before"),
        "context": args.enum("context", "view", ("view", "edit")),
    }


async def list_webhooks(call: Call, p: dict[str, Any]) -> Answer:
    state = call.state
    found = [
        webhook
        for webhook in state.webhooks.values()
        if (p["status"] == "all" or webhook.status == p["status"])
        and (not p["include"] or webhook.id in p["include"])
        and webhook.id not in p["exclude"]
        and (not p["search"] or p["search"].lower() in webhook.name.lower())
        and (p["after"] is None or _created(webhook) >= _gmt_wall(p["after"]))
        and (p["before"] is None or _created(webhook) <= _gmt_wall(p["before"]))
    ]
    sort = {
        "date": lambda w: (w.created, w.id),
        "id": lambda w: (w.id,),
        "title": lambda w: (w.name, w.id),
    }[p["orderby"]]
    found.sort(key=sort, reverse=p["order"] == "desc")
    items = [_item(call, w) for w in found]
    # `search_webhooks` counts pages only when more than one webhook fits on a page.
    pages = math.ceil(len(items) / p["per_page"]) if p["per_page"] > 1 else 1
    return page(call, items, p["page"], p["per_page"], p["offset"], pages)


def _created(webhook: Webhook) -> datetime:
    return datetime.fromtimestamp(webhook.created, UTC).replace(tzinfo=None)


def _gmt_wall(moment: datetime) -> datetime:
    """`search_webhooks` puts the value as given into `date_created_gmt BETWEEN … AND …`."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def create_params(args: Args) -> dict[str, Any]:
    args.require(("topic", "delivery_url"))
    return {
        "name": args.string("name"),
        "status": args.enum("status", "active", STATUSES),
        "topic": args.string("topic", "") or "",
        "delivery_url": args.string("delivery_url", "") or "",
        "secret": args.string("secret"),
        "id": args.raw("id"),
    }


async def create(call: Call, p: dict[str, Any]) -> Answer:
    webhook = _create(call, p)
    answer = Answer(201, _item(call, webhook))
    answer.headers["Location"] = f"{call.state.site_url}/wp-json/wc/v3/webhooks/{webhook.id}"
    await call.deliverer.ping(webhook)
    return answer


def _create(call: Call, p: dict[str, Any]) -> Webhook:
    state = call.state
    if p.get("id"):
        raise RestError(400, f"{PREFIX}_exists", "Cannot create existing shop_webhook.")
    topic = str(p.get("topic") or "")
    if not topic or not valid_topic(topic.lower()):
        raise RestError(
            400, f"{PREFIX}_invalid_topic", "Webhook topic is required and must be valid."
        )
    url = str(p.get("delivery_url") or "")
    if not url or not valid_url(url):
        raise _bad_url()
    now = state.clock.now()
    local = datetime.fromtimestamp(now, UTC) + state.clock.offset
    name = p.get("name") or local.strftime("Webhook created on %b %d, %Y @ %I:%M %p")
    webhook = Webhook(
        id=state.next_id("webhook"),
        name=str(name),
        topic=topic if valid_topic(topic) else "",  # `set_topic` checks the topic as given
        delivery_url=url,
        secret=str(p.get("secret") or generate_secret()),
        user_id=call.key.user_id if call.key else 0,
        created=now,
        modified=now,
    )
    state.webhooks[webhook.id] = webhook
    return webhook


def item_params(args: Args) -> dict[str, Any]:
    return {"context": args.enum("context", "view", ("view", "edit"))}


async def retrieve(call: Call, p: dict[str, Any]) -> Answer:
    return Answer(200, _item(call, _find(call)))


def update_params(args: Args) -> dict[str, Any]:
    return {
        "name": args.string("name"),
        "status": args.enum("status", "", STATUSES),
        "topic": args.string("topic"),
        "delivery_url": args.raw("delivery_url"),
        "secret": args.string("secret"),
    }


async def update(call: Call, p: dict[str, Any]) -> Answer:
    webhook = await _update(call, _find(call), p)
    return Answer(200, _item(call, webhook))


async def _update(call: Call, webhook: Webhook, p: dict[str, Any]) -> Webhook:
    topic = p.get("topic")
    if topic and not valid_topic(str(topic).lower()):
        raise RestError(400, f"{PREFIX}_invalid_topic", "Webhook topic must be valid.")
    url = p.get("delivery_url")
    if url and (not isinstance(url, str) or not valid_url(url)):
        raise _bad_url()
    status = p.get("status")
    if status and status not in STATUSES:
        raise RestError(400, f"{PREFIX}_invalid_status", "Webhook status must be valid.")
    changed_url = bool(url) and url != webhook.delivery_url
    if topic:
        webhook.topic = str(topic) if valid_topic(str(topic)) else ""
    if url:
        webhook.delivery_url = str(url)
    if p.get("secret"):
        webhook.secret = str(p["secret"])
    if status:
        webhook.status = str(status)  # the failure count stays as it is
    if p.get("name"):
        webhook.name = str(p["name"])
    await call.deliverer.save(webhook, url_changed=changed_url)
    return webhook


def delete_params(args: Args) -> dict[str, Any]:
    return {"force": args.boolean("force", False)}


async def delete(call: Call, p: dict[str, Any]) -> Answer:
    if not p["force"]:
        raise RestError(
            501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing."
        )
    webhook = _find(call, 404)
    item = _item(call, webhook)
    del call.state.webhooks[webhook.id]
    return Answer(200, item)


def batch_params(args: Args) -> dict[str, Any]:
    return {}


async def batch(call: Call, p: dict[str, Any]) -> Answer:
    """`WC_REST_Controller::batch_items`: each item runs the endpoint's own logic (no argument
    validation, no per-item permission); an item's error is `{"id", "error"}` in its place."""
    body = call.body if isinstance(call.body, dict) else {}
    groups = {name: body.get(name) or [] for name in ("create", "update", "delete")}
    if sum(len(items) for items in groups.values() if isinstance(items, list)) > BATCH_LIMIT:
        raise RestError(
            413,
            "woocommerce_rest_request_entity_too_large",
            f"Unable to accept more than {BATCH_LIMIT} items for this request.",
        )
    result: dict[str, list[Any]] = {}
    for item in groups["create"]:
        result.setdefault("create", []).append(await _batch_one(call, item, "create"))
    for item in groups["update"]:
        result.setdefault("update", []).append(await _batch_one(call, item, "update"))
    for ident in groups["delete"]:
        result.setdefault("delete", []).append(await _batch_one(call, {"id": ident}, "delete"))
    return Answer(200, result)


async def _batch_one(call: Call, item: Any, action: str) -> dict[str, Any]:
    fields = item if isinstance(item, dict) else {}
    try:
        if action == "create":
            webhook = _create(call, fields)
            created = _item(call, webhook)
            await call.deliverer.ping(webhook)
            return created
        call.id = int(fields.get("id") or 0)
        if action == "update":
            return _item(call, await _update(call, _find(call), fields))
        webhook = _find(call, 404)
        deleted = _item(call, webhook)
        del call.state.webhooks[webhook.id]
        return deleted
    except (RestError, ValueError, TypeError) as exc:
        error = exc if isinstance(exc, RestError) else _invalid_id()
        return {"id": fields.get("id", 0), "error": error.body()}


ENDPOINTS = [
    Endpoint(
        EDITABLE,
        "/webhooks/batch",
        batch_params,
        (
            "woocommerce_rest_cannot_batch",
            "Sorry, you are not allowed to batch manipulate this resource.",
        ),
        batch,
    ),
    Endpoint(
        READABLE,
        "/webhooks",
        list_params,
        ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        list_webhooks,
    ),
    Endpoint(
        CREATABLE,
        "/webhooks",
        create_params,
        ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
        create,
    ),
    Endpoint(
        READABLE,
        ID,
        item_params,
        ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
        retrieve,
    ),
    Endpoint(
        EDITABLE,
        ID,
        update_params,
        ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
        update,
    ),
    Endpoint(
        DELETABLE,
        ID,
        delete_params,
        ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
        delete,
    ),
]
