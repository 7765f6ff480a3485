"""Configuration: the TOML file (or inline TOML) and the environment, validated at start-up."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge import defaults
from bridge.errors import ConfigError
from mappers import StoreContext

Platform = Literal["shopify", "woocommerce"]
TopicFamily = Literal["orders", "checkouts", "customers", "fulfillments"]

# The topic families each platform's webhooks carry (compliance topics aside: Shopify sets
# those in the app's configuration, never through the API).
PLATFORM_FAMILIES: dict[str, tuple[TopicFamily, ...]] = {
    "shopify": ("orders", "checkouts", "customers", "fulfillments"),
    "woocommerce": ("orders", "customers"),
}

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STORE_KEY = re.compile(r"^[a-z0-9-]+$")
_API_VERSION = re.compile(r"^20[0-9]{2}-(01|04|07|10)$")
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# Keys that only make sense on one platform: set on the other, they are refused by name.
SHOPIFY_ONLY = ("admin_api_token", "client_id", "client_secret", "api_version", "admin_api_url")
WOOCOMMERCE_ONLY = ("site_url", "consumer_key", "consumer_secret", "query_string_auth")


def check_base_url(value: str) -> str:
    """An absolute https URL, or http to a loopback host (emulators, tests); no trailing /."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError("must use https (plain http only to localhost, 127.0.0.1 or ::1)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must not carry a query, a fragment or credentials")
    return value.strip().rstrip("/")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KanalConfig(_Strict):
    api_url: str = "https://api.getkanal.com"
    requests_per_minute: int = Field(defaults.REQUESTS_PER_MINUTE, gt=0)
    # A call without an answer after this long is given up (and probed before a POST is sent
    # again); below the push job's own timeout, so a push is never killed mid-call.
    timeout_seconds: float = Field(defaults.KANAL_TIMEOUT, gt=0, le=defaults.KANAL_TIMEOUT_MAX)


class DeliveryConfig(_Strict):
    """How the bridge delivers: how long a new record settles before its first push, and how
    long the version Kanal holds of each record is remembered (replays older than it are
    refused)."""

    settle_seconds: float = Field(defaults.SETTLE_SECONDS, ge=0, le=300)
    remember_versions_days: float = Field(
        defaults.REMEMBER_VERSIONS_DAYS, ge=defaults.DELIVERED_RECORD_TTL / 86400, le=3660
    )


class BridgeSection(_Strict):
    """The bridge's own address and its periodic platform checks (DESIGN §4)."""

    # The base the shops' webhooks point at; PUBLIC_URL overrides it.
    public_url: str | None = None
    watchdog_every_minutes: float = Field(defaults.WATCHDOG_EVERY_MINUTES, ge=0, le=24 * 60)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return check_base_url(value) if value else None


class AlertThresholds(_Strict):
    """When a condition alerts; a store's own `[stores.X.alerts]` overrides the defaults."""

    failed_per_hour: int = Field(defaults.ALERT_FAILED_PER_HOUR, ge=1)
    oldest_pending_minutes: float = Field(defaults.ALERT_OLDEST_PENDING_MINUTES, gt=0)
    reconcile_found: int = Field(defaults.ALERT_RECONCILE_FOUND, ge=1)


class AlertsConfig(AlertThresholds):
    """Alerts to a Slack-compatible incoming webhook (off without `webhook_url`), and how
    long a condition must last (start) or stay gone (clear) before it is reported."""

    webhook_url: SecretStr | None = None
    check_every_seconds: float = Field(defaults.ALERT_EVALUATE_SECONDS, ge=1, le=3600)
    start_after_seconds: float = Field(defaults.ALERT_START_SECONDS, ge=0, le=24 * 3600)
    clear_after_seconds: float = Field(defaults.ALERT_CLEAR_SECONDS, ge=0, le=24 * 3600)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        check_base_url(value.get_secret_value())
        return value


class StoreConfig(_Strict):
    """One shop: where its webhooks come from and which Kanal store they feed."""

    platform: Platform
    kanal_store_id: int = Field(gt=0)
    kanal_api_key: SecretStr
    webhook_secrets: list[SecretStr] = Field(min_length=1)
    default_country: str | None = None
    shop_domain: str | None = None
    requests_per_minute: int | None = Field(None, gt=0)
    abandoned_after_minutes: float = Field(defaults.ABANDONED_AFTER_MINUTES, ge=0, le=7 * 24 * 60)
    skip_test_orders: bool = False
    checkouts_require_consent: bool = defaults.CHECKOUTS_REQUIRE_CONSENT
    completed_means_shipped: bool = False
    # Prepended to every external id this store sends; required (and distinct) when several
    # stores feed one Kanal store, whose external ids are one namespace.
    external_id_prefix: str = ""
    # Platform API access (optional): webhooks alone work without it.
    # Shopify: a legacy custom app's static token, or a Dev Dashboard app's client id + secret.
    admin_api_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    api_version: str = defaults.SHOPIFY_API_VERSION
    admin_api_url: str | None = None  # default: https://<shop_domain>
    # WooCommerce: the site and a Read/Write REST key.
    site_url: str | None = None
    consumer_key: SecretStr | None = None
    consumer_secret: SecretStr | None = None
    query_string_auth: bool = False  # key and secret as query parameters (servers that strip
    # the Authorization header); HTTPS only, like Basic auth
    # The topic families `connect` and the watchdog subscribe to (default: all the platform
    # has); a Shopify app without read_customers, say, leaves "customers" out.
    subscribe: list[TopicFamily] | None = Field(None, min_length=1)
    reconcile_every_minutes: float = Field(defaults.RECONCILE_EVERY_MINUTES, ge=0, le=7 * 24 * 60)
    reconcile_customers_every_hours: float = Field(
        defaults.RECONCILE_CUSTOMERS_EVERY_HOURS, ge=0, le=30 * 24
    )
    quiet_hours: float | None = Field(None, gt=0)
    alerts: AlertThresholds | None = None

    @field_validator("kanal_api_key")
    @classmethod
    def _key_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets_not_empty(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(not secret.get_secret_value() for secret in value):
            raise ValueError("a secret is empty")
        return value

    @field_validator("default_country")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be an ISO 3166 country code phonenumbers knows (e.g. FR)")
        return region

    @field_validator("shop_domain")
    @classmethod
    def _lower_domain(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else None

    @field_validator("external_id_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not _PREFIX.match(value):
            raise ValueError("must be 1-32 characters: letters, digits and _ . : - (not first)")
        return value

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if not _API_VERSION.match(value):
            raise ValueError("must be a Shopify API version (YYYY-01, -04, -07 or -10)")
        return value

    @field_validator("admin_api_url", "site_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return check_base_url(value) if value else None

    @field_validator("admin_api_token", "client_secret", "consumer_key", "consumer_secret")
    @classmethod
    def _no_blank_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be empty (leave the key out instead)")
        return value

    @model_validator(mode="after")
    def _platform_credentials(self) -> StoreConfig:
        foreign = WOOCOMMERCE_ONLY if self.platform == "shopify" else SHOPIFY_ONLY
        for name in foreign:
            if name in self.model_fields_set:
                raise ValueError(f"{name}: not a {self.platform} setting")
        for family in self.subscribe or ():
            if family not in PLATFORM_FAMILIES[self.platform]:
                known = ", ".join(PLATFORM_FAMILIES[self.platform])
                raise ValueError(f"subscribe: {self.platform} webhooks carry {known} only")
        if self.platform == "shopify":
            if self.admin_api_token and (self.client_id or self.client_secret):
                raise ValueError(
                    "admin_api_token: give either admin_api_token or client_id + client_secret"
                )
            if bool(self.client_id) != bool(self.client_secret):
                missing = "client_secret" if self.client_id else "client_id"
                raise ValueError(f"{missing}: client_id and client_secret go together")
            if self.has_api_access and not (self.admin_api_url or self.shop_domain):
                raise ValueError("shop_domain: required with API credentials (or admin_api_url)")
        else:
            given = [n for n in ("site_url", "consumer_key", "consumer_secret") if getattr(self, n)]
            if given and len(given) < 3:
                missing = next(
                    n for n in ("site_url", "consumer_key", "consumer_secret") if n not in given
                )
                raise ValueError(
                    f"{missing}: site_url, consumer_key and consumer_secret go together"
                )
        return self

    @property
    def has_api_access(self) -> bool:
        """Whether the bridge can call the shop's own API (connect, watchdog, reconciliation)."""
        if self.platform == "shopify":
            return bool(self.admin_api_token or (self.client_id and self.client_secret))
        return bool(self.site_url and self.consumer_key and self.consumer_secret)

    @property
    def subscribed_families(self) -> tuple[TopicFamily, ...]:
        """The topic families the bridge subscribes this shop to, in the platform's order."""
        chosen = set(self.subscribe or PLATFORM_FAMILIES[self.platform])
        return tuple(f for f in PLATFORM_FAMILIES[self.platform] if f in chosen)

    @property
    def shop_api_url(self) -> str | None:
        """The base URL of the shop's admin API: Shopify's admin host, WooCommerce's site."""
        if self.platform == "woocommerce":
            return self.site_url
        if self.admin_api_url:
            return self.admin_api_url
        return f"https://{self.shop_domain}" if self.shop_domain else None

    def thresholds(self, alerts: AlertThresholds) -> AlertThresholds:
        """This store's alert thresholds: its own where set, else the `[alerts]` defaults."""
        if self.alerts is None:
            return AlertThresholds(**alerts.model_dump(include=set(AlertThresholds.model_fields)))
        own = self.alerts.model_dump(exclude_unset=True)
        base = alerts.model_dump(include=set(AlertThresholds.model_fields))
        return AlertThresholds(**{**base, **own})

    def context(self) -> StoreContext:
        """What the mappers may know about this store."""
        return StoreContext(
            default_country=self.default_country,
            skip_test_orders=self.skip_test_orders,
            abandoned_after_minutes=self.abandoned_after_minutes,
            checkouts_require_consent=self.checkouts_require_consent,
            completed_means_shipped=self.completed_means_shipped,
        )


class BridgeConfig(_Strict):
    """The whole file: Kanal's address and limit, and the stores by key."""

    kanal: KanalConfig = KanalConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    bridge: BridgeSection = BridgeSection()
    alerts: AlertsConfig = AlertsConfig()
    stores: dict[str, StoreConfig] = Field(min_length=1)

    @field_validator("stores")
    @classmethod
    def _store_keys(cls, value: dict[str, StoreConfig]) -> dict[str, StoreConfig]:
        for key in value:
            if not _STORE_KEY.match(key):
                raise ValueError(f"store key {key!r} must match [a-z0-9-]+")
        return value

    @model_validator(mode="after")
    def _one_namespace_per_kanal_store(self) -> BridgeConfig:
        """Kanal keys records by (store, external_id): stores sharing a Kanal store must
        not be able to send the same external id, so each sets a prefix no other one starts
        with."""
        by_kanal: dict[int, list[str]] = {}
        for key, store in sorted(self.stores.items()):
            by_kanal.setdefault(store.kanal_store_id, []).append(key)
        for keys in by_kanal.values():
            if len(keys) < 2:
                continue
            for key in keys:
                prefix = self.stores[key].external_id_prefix
                if not prefix:
                    raise ValueError(
                        f"stores.{key}.external_id_prefix: required, because stores "
                        f"{', '.join(keys)} all feed one Kanal store (kanal_store_id) and "
                        "their ids could collide there"
                    )
                for other in keys:
                    theirs = self.stores[other].external_id_prefix
                    if other != key and theirs and theirs.startswith(prefix):
                        raise ValueError(
                            f"stores.{other}.external_id_prefix: must not start with "
                            f"stores.{key}'s prefix (both feed one Kanal store)"
                        )
        return self

    def shared_secrets(self) -> list[list[str]]:
        """Store keys whose webhook secrets overlap, in groups: a body signed for one of them
        is validly signed for the others (one Shopify app installed on several shops signs
        all their webhooks with its one client secret)."""
        by_secret: dict[str, set[str]] = {}
        for key, store in self.stores.items():
            for secret in store.webhook_secrets:
                by_secret.setdefault(secret.get_secret_value(), set()).add(key)
        groups = {tuple(sorted(keys)) for keys in by_secret.values() if len(keys) > 1}
        return [list(group) for group in sorted(groups)]

    def warnings(self) -> list[str]:
        """What is valid but weakens the bridge, naming keys only (start-up and check-config)."""
        found = []
        for group in self.shared_secrets():
            unpinned = [
                key
                for key in group
                if self.stores[key].platform == "shopify" and not self.stores[key].shop_domain
            ]
            advice = (
                f"; set shop_domain on {', '.join(unpinned)}"
                if unpinned
                else " (bodies that name no shop cannot be told apart)"
            )
            found.append(
                f"stores {', '.join(group)} share a webhook secret: a delivery signed for one "
                f"is accepted by the others{advice} (README, Security)"
            )
        return found

    def public_url(self, env: Mapping[str, str] | None = None) -> str | None:
        """Where the shops' webhooks point: PUBLIC_URL, else `[bridge] public_url`."""
        env = os.environ if env is None else env
        override = env.get("PUBLIC_URL")
        if not override:
            return self.bridge.public_url
        try:
            return check_base_url(override)
        except ValueError as exc:
            raise ConfigError(f"PUBLIC_URL: {exc}") from None

    def rate_for(self, kanal_store_id: int) -> int:
        """Requests per minute allowed for one Kanal store (the lowest any bridge store sets)."""
        rates = [
            store.requests_per_minute or self.kanal.requests_per_minute
            for store in self.stores.values()
            if store.kanal_store_id == kanal_store_id
        ]
        return min(rates, default=self.kanal.requests_per_minute)


@dataclass(frozen=True)
class Settings:
    """Process settings from the environment (DESIGN §1)."""

    redis_url: str
    config_path: str
    config_toml: str | None
    kanal_api_url: str | None
    port: int
    dashboard_user: str
    dashboard_password: str | None
    metrics_token: str | None
    log_level: str
    log_format: str
    web_concurrency: int
    redis_pool_size: int = defaults.REDIS_POOL_SIZE
    # Addresses whose X-Forwarded-For/-Proto uvicorn believes: any on Heroku (DYNO is set),
    # where the router is the only way to a dyno and sets them; else only the local host.
    forwarded_allow_ips: str = "127.0.0.1"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; bad numbers raise ConfigError naming the variable."""
        env = os.environ if env is None else env
        return cls(
            redis_url=env.get("REDIS_URL") or "redis://localhost:6379/0",
            config_path=env.get("BRIDGE_CONFIG") or "bridge.toml",
            config_toml=env.get("BRIDGE_CONFIG_TOML") or None,
            kanal_api_url=env.get("KANAL_API_URL") or None,
            port=_int(env, "PORT", 8000),
            dashboard_user=env.get("DASHBOARD_USER") or "admin",
            dashboard_password=env.get("DASHBOARD_PASSWORD") or None,
            metrics_token=env.get("METRICS_TOKEN") or None,
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            log_format=(env.get("LOG_FORMAT") or "json").lower(),
            web_concurrency=_int(env, "WEB_CONCURRENCY", 1),
            redis_pool_size=_int(env, "REDIS_POOL_SIZE", defaults.REDIS_POOL_SIZE, minimum=1),
            forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS")
            or ("*" if env.get("DYNO") else "127.0.0.1"),
        )


def load_config(settings: Settings, env: Mapping[str, str] | None = None) -> BridgeConfig:
    """Read, expand and validate the bridge configuration, or raise ConfigError naming the key."""
    env = os.environ if env is None else env
    if settings.config_toml:
        source, text = "BRIDGE_CONFIG_TOML", settings.config_toml
    else:
        path = Path(settings.config_path)
        if not path.is_file():
            raise ConfigError(f"BRIDGE_CONFIG: no configuration file at {path}")
        source, text = str(path), path.read_text(encoding="utf-8")
    return parse_config(text, env, source=source, kanal_api_url=settings.kanal_api_url)


def parse_config(
    text: str,
    env: Mapping[str, str],
    *,
    source: str = "config",
    kanal_api_url: str | None = None,
) -> BridgeConfig:
    """Validate TOML text; `${VAR}` reads `env`, and a missing variable is an error."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    data = _expand(raw, env, path=())
    if kanal_api_url:
        data.setdefault("kanal", {})["api_url"] = kanal_api_url
    try:
        return BridgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def _expand(value: Any, env: Mapping[str, str], path: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, env, (*path, str(key))) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, env, (*path, str(index))) for index, item in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(f"{'.'.join(path)}: environment variable {name} is not set")
            return env[name]

        return _VARIABLE.sub(substitute, value)
    return value


def _describe(exc: ValidationError) -> str:
    """Every error as `key.path: what is wrong`; never the value (it may be a secret typed
    into the wrong key)."""
    messages = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            messages.append(f"{location}: unknown key")
        elif error["type"] == "missing":
            messages.append(f"{location}: required key is missing")
        else:
            message = _without_input(error["msg"].removeprefix("Value error, "), error["input"])
            messages.append(f"{location}: {message}" if location else message)
    return "; ".join(messages)


def _without_input(message: str, value: object) -> str:
    """`message` with the offending value hidden, should a validator ever quote it."""
    if isinstance(value, str | int | float) and len(text := str(value)) >= 3 and text in message:
        return message.replace(text, "***")
    return message


def _int(env: Mapping[str, str], name: str, default: int, minimum: int | None = None) -> int:
    value = env.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: must be a whole number") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}")
    return number
