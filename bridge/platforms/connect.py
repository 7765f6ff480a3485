"""Bringing one shop's webhook subscriptions in line: read them, plan, apply, remember.

Used by `kanal-bridge connect` (bridge/platforms/report.py) and by the watchdog
(bridge/platforms/watchdog.py): both call `connect_store`, which reads the shop's
subscriptions through its platform client, plans the changes (bridge/platforms/subscriptions.py)
and, unless it is a dry run, makes them one by one (a change that fails does not stop the
others, and says what to fix). One store is worked on by one process at a time (a Redis lock).

Redis:
    kb:subscriptions:{store}   hash: id of a subscription the bridge made or adopted -> the
                               fingerprint of the secret it set on it (WooCommerce; "" when
                               not known, and on Shopify, where the app's secret signs). A
                               subscription listed here stays ours when public_url changes
                               (it is pointed at the new address); one not listed is ours
                               only while it delivers to this store's exact URL.
    kb:lock:subscriptions:{store}   held while a run changes the store's subscriptions.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Protocol

import redis

from bridge import defaults
from bridge.config import StoreConfig
from bridge.errors import (
    PlatformAuthError,
    PlatformError,
    PlatformThrottled,
    PlatformUnavailable,
    ShopifyGraphQLError,
    ShopifyUserErrors,
    WooCommerceError,
)
from bridge.platforms import subscriptions
from bridge.platforms.http import JOB_BACKOFF, JOB_TIMEOUT, PlatformHTTP, shared_client
from bridge.platforms.shopify_admin import ShopifyAdmin, graphql_topic
from bridge.platforms.subscriptions import Change, Plan, State, Subscription
from bridge.platforms.woocommerce_rest import WooCommerceREST
from mappers import PLATFORMS

OWNED_PREFIX = f"{defaults.KEY_PREFIX}:subscriptions:"
LOCK_PREFIX = f"{defaults.KEY_PREFIX}:lock:subscriptions:"
# A run holds the store's lock at most this long (a crashed run's lock then expires).
LOCK_SECONDS = 300
# Periodic checks run in a worker between pushes (bridge/platforms/http.py's job profile): a
# wait for Shopify's cost bucket longer than this reschedules the check.
QUICK_MAX_WAIT = 5.0


def owned_key(store: str) -> str:
    return OWNED_PREFIX + store


def lock_key(store: str) -> str:
    return LOCK_PREFIX + store


@functools.lru_cache(maxsize=64)
def fingerprint(store: str, secret: str) -> str:
    """A fingerprint of a webhook secret, to tell whether a webhook carries the current one
    (slow to reverse: PBKDF2, salted with the store key)."""
    salt = f"kanal-bridge:{store}".encode()
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, 100_000)
    return digest[:8].hex()


class Hooks(Protocol):
    """One shop's webhook subscriptions, through its platform's API."""

    platform: str
    signs_itself: bool  # True: the platform signs with the app's own secret (Shopify)

    def list(self) -> list[Subscription]: ...

    def create(self, topic: str, url: str) -> str: ...

    def update(self, change: Change) -> None: ...

    def delete(self, ident: str) -> None: ...


class ShopifyHooks:
    """The app's subscriptions on a Shopify shop (GraphQL Admin API)."""

    platform = "shopify"
    signs_itself = True

    def __init__(self, admin: ShopifyAdmin) -> None:
        self.admin = admin
        # GraphQL enums back to the topics deliveries carry (ORDERS_CREATE -> orders/create);
        # a topic the bridge does not handle keeps its enum.
        self._names = {graphql_topic(topic): topic for topic in PLATFORMS["shopify"]}

    def list(self) -> list[Subscription]:
        return [
            Subscription(
                id=sub.id,
                topic=self._names.get(sub.topic, sub.topic),
                address=sub.uri,
                whole_json=sub.format == "JSON" and not sub.filter and not sub.include_fields,
            )
            for sub in self.admin.webhook_subscriptions()
        ]

    def create(self, topic: str, url: str) -> str:
        return self.admin.create_webhook_subscription(topic, url, format="JSON").id

    def update(self, change: Change) -> None:
        assert change.id is not None
        whole = change.reformat
        self.admin.update_webhook_subscription(
            change.id,
            uri=change.address,
            format="JSON" if whole else None,
            filter="" if whole else None,
            include_fields=[] if whole else None,
        )

    def delete(self, ident: str) -> None:
        self.admin.delete_webhook_subscription(ident)


class WooCommerceHooks:
    """Every webhook of a WooCommerce shop (REST API v3, a Read/Write key)."""

    platform = "woocommerce"
    signs_itself = False

    def __init__(self, rest: WooCommerceREST, store_key: str, secret: str) -> None:
        self.rest = rest
        self.store_key = store_key
        self.secret = secret

    def list(self) -> list[Subscription]:
        return [
            Subscription(str(hook.id), hook.topic, hook.delivery_url, hook.status)
            for hook in self.rest.list_webhooks("all")
        ]

    def create(self, topic: str, url: str) -> str:
        name = f"kanal-bridge {self.store_key} {topic}"
        hook = self.rest.create_webhook(
            topic=topic, delivery_url=url, secret=self.secret, name=name
        )
        return str(hook.id)

    def update(self, change: Change) -> None:
        assert change.id is not None
        self.rest.update_webhook(
            int(change.id),
            status="active" if change.reactivate else None,
            delivery_url=change.address,
            secret=self.secret if change.secret else None,
        )

    def delete(self, ident: str) -> None:
        self.rest.delete_webhook(int(ident))


def hooks_for(key: str, store: StoreConfig, *, quick: bool = False) -> Hooks:
    """The subscriptions of a store with API access; `quick` for periodic checks."""
    if store.platform == "shopify":
        options: dict[str, object] = {}
        if quick and store.shop_api_url:
            options["http"] = PlatformHTTP.for_job(store.shop_api_url)
            options["max_wait"] = QUICK_MAX_WAIT
        admin = ShopifyAdmin.for_store(store, **options)
        return ShopifyHooks(admin)
    rest_options: dict[str, object] = {}
    if quick:
        rest_options = {"client": shared_client(JOB_TIMEOUT), "backoff": JOB_BACKOFF}
    rest = WooCommerceREST.for_store(key, store, **rest_options)
    return WooCommerceHooks(rest, key, store.webhook_secrets[0].get_secret_value())


@dataclass
class Outcome:
    """A change and how it went (`error`: what failed and what to do)."""

    change: Change
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.error is None


@dataclass
class StoreReport:
    """What one run found and did for one store."""

    key: str
    platform: str
    url: str
    dry_run: bool
    plan: Plan | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None  # the shop could not be read (or the run not started)
    problems: list[str] = field(default_factory=list)  # configuration to fix before connecting

    @property
    def ok(self) -> bool:
        """In line now (or, for a dry run, readable)."""
        return self.error is None and all(outcome.done for outcome in self.outcomes)

    @property
    def done(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.done]

    def states_after(self) -> dict[str, State]:
        """Each wanted topic's state once the changes that worked are made."""
        if self.plan is None:
            return {}
        states = dict(self.plan.states)
        if self.dry_run:
            return states
        for outcome in self.done:
            change = outcome.change
            if change.action != "delete" and change.topic in states:
                states[change.topic] = "active"
        return states

    def repairs(self) -> list[str]:
        """The kinds of deaf repairs made (created, reactivated...), without repeats."""
        found: list[str] = []
        for outcome in self.done if not self.dry_run else []:
            for kind in outcome.change.kinds:
                if kind in subscriptions.DEAF_KINDS and kind not in found:
                    found.append(kind)
        return found


def connect_store(
    key: str,
    store: StoreConfig,
    public_url: str,
    client: redis.Redis,
    *,
    dry_run: bool = False,
    hooks: Hooks | None = None,
    quick: bool = False,
    wait_for_lock: float = 30.0,
) -> StoreReport:
    """Bring `key`'s subscriptions in line (or, with `dry_run`, say what that would take).

    Raises PlatformThrottled when the shop's API budget needs a longer wait than `quick`
    allows (the watchdog reschedules); every other failure is in the report."""
    url = subscriptions.webhook_url(public_url, store.platform, key)
    report = StoreReport(key, store.platform, url, dry_run)
    report.problems = config_problems(store)
    if not store.has_api_access:
        report.error = "no API credentials (see the README: connecting a shop)"
        return report
    if report.problems:
        report.error = "fix the configuration first (subscriptions made now would fail)"
        return report
    try:
        hooks = hooks or hooks_for(key, store, quick=quick)
    except PlatformError as exc:
        report.error = str(exc)
        return report
    lock = client.lock(lock_key(key), timeout=LOCK_SECONDS, blocking_timeout=wait_for_lock)
    if not dry_run and not lock.acquire():
        report.error = "another connect (or the watchdog) is changing this store's subscriptions"
        return report
    try:
        _run(report, store, hooks, client)
    finally:
        if not dry_run:
            # A lock that expired meanwhile may be someone else's now: not ours to release.
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()
    return report


def _run(report: StoreReport, store: StoreConfig, hooks: Hooks, client: redis.Redis) -> None:
    key = report.key
    owned = read_owned(client, key)
    mark = None
    if not hooks.signs_itself:
        mark = fingerprint(key, store.webhook_secrets[0].get_secret_value())
    try:
        found = hooks.list()
    except PlatformThrottled:
        raise
    except PlatformError as exc:
        report.error = explain(exc, store)
        return
    report.plan = subscriptions.plan(
        subscriptions.wanted_topics(store), report.url, found, owned, mark
    )
    if report.dry_run:
        report.outcomes = [Outcome(change) for change in report.plan.changes]
        return
    kept = dict(report.plan.kept)
    undeleted = []
    for change in report.plan.changes:
        outcome = Outcome(change)
        report.outcomes.append(outcome)
        try:
            if change.action == "create":
                kept[change.topic] = hooks.create(change.topic, report.url)
                if mark is not None:
                    owned[kept[change.topic]] = mark
            elif change.action == "update":
                hooks.update(change)
                if change.secret and mark is not None and change.id is not None:
                    owned[change.id] = mark
            else:
                assert change.id is not None
                hooks.delete(change.id)
        except PlatformThrottled:
            raise
        except PlatformError as exc:
            outcome.error = explain(exc, store)
            if change.action == "delete" and change.id is not None:
                undeleted.append(change.id)
    # Remember what is ours now: the subscriptions kept or made (with the fingerprint of
    # their secret), and those a failed deletion left.
    mine = [*kept.values(), *undeleted]
    with client.pipeline() as pipe:
        pipe.delete(owned_key(key))
        if mine:
            pipe.hset(owned_key(key), mapping={ident: owned.get(ident, "") for ident in mine})
        pipe.execute()


def read_owned(client: redis.Redis, key: str) -> dict[str, str]:
    """The subscriptions the bridge made or adopted on `key`'s shop: id -> secret
    fingerprint ("" unknown)."""
    raw: dict[bytes, bytes] = client.hgetall(owned_key(key))  # type: ignore[assignment]
    return {ident.decode(): mark.decode() for ident, mark in raw.items()}


def config_problems(store: StoreConfig) -> list[str]:
    """What in a store's configuration keeps its webhooks from verifying (for check-config
    and connect): a Dev Dashboard app's client secret signs its webhooks, so it must be among
    the store's webhook_secrets."""
    problems = []
    if store.platform == "shopify" and store.client_secret is not None:
        secrets = {secret.get_secret_value() for secret in store.webhook_secrets}
        if store.client_secret.get_secret_value() not in secrets:
            problems.append(
                "client_secret is not among webhook_secrets: Shopify signs the app's webhooks "
                "with it, so every delivery would be refused (401); add it to webhook_secrets"
            )
    return problems


_SCOPE = re.compile(r"requires the `?([a-z_]+)`? access scope")


def explain(exc: Exception, store: StoreConfig) -> str:
    """What failed and what to fix, without a secret."""
    text = str(exc)
    if isinstance(exc, ShopifyUserErrors):
        scope = _SCOPE.search(text)
        if scope:
            return (
                f"{text} -> give the app the {scope.group(1)} scope (Dev Dashboard: the app's "
                "access scopes, then release and install the new version), or leave that topic "
                "family out of the store's `subscribe`"
            )
        if "protected customer data" in text.lower():
            return (
                f"{text} -> request protected customer data access, level 2 (name, email, "
                "phone, address), for the app"
            )
        if "address is invalid" in text.lower():
            return f"{text} -> Shopify delivers to https addresses only: check PUBLIC_URL"
        return text
    if isinstance(exc, ShopifyGraphQLError) and "ACCESS_DENIED" in exc.codes:
        return f"{text} -> the app lacks a scope this needs (read_orders, read_customers...)"
    if isinstance(exc, WooCommerceError):
        return text  # WooCommerce's errors already say what to change
    if isinstance(exc, PlatformAuthError):
        if store.admin_api_token is not None:
            return f"{text} -> check admin_api_token (the legacy app's Admin API token)"
        return (
            f"{text} -> check client_id and client_secret, and that the app is installed on "
            f"{store.shop_domain or 'the shop'}"
        )
    if isinstance(exc, PlatformUnavailable):
        return f"{text} -> is the shop up, and is {store.shop_api_url} its address?"
    return text
