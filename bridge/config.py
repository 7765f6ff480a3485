"""Configuration: the TOML file (or inline TOML) and the environment, validated at start-up."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bridge import defaults
from bridge.errors import ConfigError
from mappers import StoreContext

Platform = Literal["shopify", "woocommerce"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STORE_KEY = re.compile(r"^[a-z0-9-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KanalConfig(_Strict):
    api_url: str = "https://api.getkanal.com"
    requests_per_minute: int = Field(defaults.REQUESTS_PER_MINUTE, gt=0)


class DeliveryConfig(_Strict):
    """How the bridge delivers: how long a new record settles before its first push."""

    settle_seconds: float = Field(defaults.SETTLE_SECONDS, ge=0, le=300)


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
            raise ValueError(f"{value!r} is not an ISO 3166 country code phonenumbers knows")
        return region

    @field_validator("shop_domain")
    @classmethod
    def _lower_domain(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else None

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
    stores: dict[str, StoreConfig] = Field(min_length=1)

    @field_validator("stores")
    @classmethod
    def _store_keys(cls, value: dict[str, StoreConfig]) -> dict[str, StoreConfig]:
        for key in value:
            if not _STORE_KEY.match(key):
                raise ValueError(f"store key {key!r} must match [a-z0-9-]+")
        return value

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
    log_level: str
    log_format: str
    web_concurrency: int

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
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            log_format=(env.get("LOG_FORMAT") or "json").lower(),
            web_concurrency=_int(env, "WEB_CONCURRENCY", 1),
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
    messages = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            messages.append(f"{location}: unknown key")
        elif error["type"] == "missing":
            messages.append(f"{location}: required key is missing")
        else:
            messages.append(f"{location}: {error['msg']}")
    return "; ".join(messages)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a whole number") from None
