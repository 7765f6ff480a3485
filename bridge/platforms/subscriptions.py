"""What a shop's webhook subscriptions should be, and the changes that get them there (pure).

`connect` and the watchdog read a shop's subscriptions (bridge/platforms/connect.py), and
`plan` compares them with what the bridge needs:

- wanted: one subscription per topic of the store's topic families (`StoreConfig.subscribe`,
  default all that the mappers handle; compliance topics aside, which Shopify sets in the
  app's configuration), delivering JSON to `<public_url>/webhooks/<platform>/<store>`,
  active, and on WooCommerce signed with the store's first webhook secret;
- ours: a subscription the bridge made or adopted before (its id is remembered in Redis), or
  one that delivers to this store's exact URL. Everything else belongs to someone else
  (WooCommerce lists every integration's webhooks to any REST key; a Shopify app may have
  subscriptions of its own): it is never changed, only reported.

For each wanted topic, the best of our subscriptions is kept (right address first, then
active, then JSON) and corrected where needed; the others of that topic are duplicates and
are deleted, as are ours whose topic is no longer wanted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from bridge.config import StoreConfig
from bridge.metrics import FAMILIES_BY_TOPIC
from mappers import PLATFORMS

State = Literal["active", "disabled", "paused", "missing", "wrong_address", "wrong_format"]
Action = Literal["create", "update", "delete"]

# Repair kinds (also a metric label). Those in DEAF_KINDS mean the shop was not delivering
# that topic to the bridge: the watchdog records a deaf window for reconciliation.
CREATED = "created"  # missing
REACTIVATED = "reactivated"  # WooCommerce disabled or paused
READDRESSED = "readdressed"  # delivering elsewhere (an old public_url)
REFORMATTED = "reformatted"  # XML, or a Shopify filter or field list that trims bodies
SECRET = "secret"  # WooCommerce signing secret set (adopted webhook, or a rotation)
REMOVED = "removed"  # a duplicate, or a topic no longer wanted
DEAF_KINDS = frozenset({CREATED, REACTIVATED, READDRESSED, REFORMATTED})


def wanted_topics(store: StoreConfig) -> tuple[str, ...]:
    """The topics the bridge subscribes `store` to, in the mappers' order."""
    families = set(store.subscribed_families)
    return tuple(
        topic for topic in PLATFORMS[store.platform] if FAMILIES_BY_TOPIC.get(topic) in families
    )


def webhook_url(public_url: str, platform: str, key: str) -> str:
    """Where the shop delivers `key`'s webhooks."""
    return f"{public_url.rstrip('/')}/webhooks/{platform}/{key}"


@dataclass(frozen=True)
class Subscription:
    """One subscription as the platform shows it, in the bridge's terms."""

    id: str
    topic: str  # the topic its deliveries carry: orders/create, order.created
    address: str
    status: str = "active"  # WooCommerce: active, paused, disabled
    whole_json: bool = True  # JSON with the whole body (Shopify: no filter, no field list)

    def state(self, url: str) -> State:
        if self.status in ("disabled", "paused"):
            return "disabled" if self.status == "disabled" else "paused"
        if self.address != url:
            return "wrong_address"
        if not self.whole_json:
            return "wrong_format"
        return "active"


@dataclass(frozen=True)
class Change:
    """One write to the shop. `was` is the state found ("duplicate", "unwanted" for a
    deletion); `kinds` are the repairs it makes."""

    action: Action
    topic: str
    was: str
    kinds: tuple[str, ...]
    id: str | None = None
    address: str | None = None  # the new address (create, readdress)
    old_address: str | None = None
    reactivate: bool = False
    reformat: bool = False
    secret: bool = False


@dataclass
class Plan:
    """The states found per wanted topic, the changes to make, and what is left alone."""

    url: str
    states: dict[str, State] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)  # topic -> id of our subscription
    others: list[Subscription] = field(default_factory=list)

    @property
    def in_line(self) -> bool:
        return not self.changes


def plan(
    wanted: Iterable[str],
    url: str,
    found: Iterable[Subscription],
    owned: Mapping[str, str],
    fingerprint: str | None = None,
) -> Plan:
    """The changes that bring `found` to `wanted` at `url`. `owned` maps the ids the bridge
    made or adopted to the fingerprint of the secret it set ("" unknown); `fingerprint` is
    the current secret's (None: the platform signs by itself, as Shopify does)."""
    result = Plan(url)
    found = list(found)
    order = {sub.id: index for index, sub in enumerate(found)}
    ours: dict[str, list[Subscription]] = {}
    for sub in found:
        if sub.id in owned or sub.address == url:
            ours.setdefault(sub.topic, []).append(sub)
        else:
            result.others.append(sub)
    for topic in wanted:
        candidates = sorted(
            ours.pop(topic, []),
            key=lambda s: (s.address != url, s.status != "active", not s.whole_json, order[s.id]),
        )
        if not candidates:
            result.states[topic] = "missing"
            result.changes.append(Change("create", topic, "missing", (CREATED,), address=url))
            continue
        keeper, *duplicates = candidates
        result.states[topic] = keeper.state(url)
        result.kept[topic] = keeper.id
        fix = _fix(keeper, url, owned.get(keeper.id, ""), fingerprint)
        if fix is not None:
            result.changes.append(fix)
        for extra in duplicates:
            result.changes.append(Change("delete", topic, "duplicate", (REMOVED,), id=extra.id))
    for topic, subs in ours.items():
        for sub in subs:
            result.changes.append(Change("delete", topic, "unwanted", (REMOVED,), id=sub.id))
    return result


def _fix(sub: Subscription, url: str, known: str, fingerprint: str | None) -> Change | None:
    kinds = []
    reactivate = sub.status != "active"
    readdress = sub.address != url
    reformat = not sub.whole_json
    secret = fingerprint is not None and known != fingerprint
    if reactivate:
        kinds.append(REACTIVATED)
    if readdress:
        kinds.append(READDRESSED)
    if reformat:
        kinds.append(REFORMATTED)
    if secret:
        kinds.append(SECRET)
    if not kinds:
        return None
    return Change(
        "update",
        sub.topic,
        sub.state(url),
        tuple(kinds),
        id=sub.id,
        address=url if readdress else None,
        old_address=sub.address if readdress else None,
        reactivate=reactivate,
        reformat=reformat,
        secret=secret,
    )
