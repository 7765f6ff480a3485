"""Configuration: expansion, validation, and an error that names the key for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import Settings, load_config, parse_config
from bridge.errors import ConfigError

ENV = {"KEY": "k" * 24, "SECRET": "s3cret", "OLD": "old-s3cret"}
GOOD = """
[kanal]
api_url = "https://api.getkanal.com"
requests_per_minute = 60

[stores.main-shop]
platform = "shopify"
kanal_store_id = 123
kanal_api_key = "${KEY}"
webhook_secrets = ["${SECRET}", "${OLD}"]
default_country = "fr"
shop_domain = "Main-Shop.myshopify.com"
external_id_prefix = "ms-"

[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 123
kanal_api_key = "${KEY}"
webhook_secrets = ["${SECRET}"]
requests_per_minute = 30
abandoned_after_minutes = 0.5
external_id_prefix = "eu-"
"""


def error_for(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, ENV if env is None else env)
    return str(caught.value)


def test_variables_are_expanded_and_values_normalised() -> None:
    config = parse_config(GOOD, ENV)
    store = config.stores["main-shop"]
    assert store.kanal_api_key.get_secret_value() == "k" * 24
    assert [s.get_secret_value() for s in store.webhook_secrets] == ["s3cret", "old-s3cret"]
    assert store.default_country == "FR"
    assert store.shop_domain == "main-shop.myshopify.com"
    assert config.stores["eu-shop"].abandoned_after_minutes == 0.5


def test_secrets_never_show_in_the_config_repr() -> None:
    text = repr(parse_config(GOOD, ENV))
    assert "s3cret" not in text
    assert "k" * 24 not in text


def test_a_kanal_store_shared_by_two_shops_gets_the_lowest_rate() -> None:
    assert parse_config(GOOD, ENV).rate_for(123) == 30
    assert parse_config(GOOD, ENV).rate_for(999) == 60


def test_the_kanal_call_timeout_is_a_setting_with_a_default() -> None:
    assert parse_config(GOOD, ENV).kanal.timeout_seconds == 15
    fast = parse_config(GOOD.replace("requests_per_minute = 60", "timeout_seconds = 1.5"), ENV)
    assert fast.kanal.timeout_seconds == 1.5


def test_versions_are_remembered_for_90_days_unless_configured() -> None:
    assert parse_config(GOOD, ENV).delivery.remember_versions_days == 90
    shorter = GOOD.replace(
        "[stores.main-shop]", "[delivery]\nremember_versions_days = 30\n[stores.main-shop]"
    )
    assert parse_config(shorter, ENV).delivery.remember_versions_days == 30


def test_the_environment_overrides_the_kanal_url() -> None:
    config = parse_config(GOOD, ENV, kanal_api_url="http://127.0.0.1:8099")
    assert config.kanal.api_url == "http://127.0.0.1:8099"


def test_the_context_carries_the_store_options_to_the_mappers() -> None:
    context = parse_config(GOOD, ENV).stores["main-shop"].context()
    assert context.default_country == "FR"
    assert context.abandoned_after_minutes == 15


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('platform = "shopify"', 'platfrom = "shopify"'), "stores.main-shop.platfrom"),
        (("[kanal]", "[kanal]\nretries = 3"), "kanal.retries"),
        (("[kanal]", "surprise = 1\n[kanal]"), "surprise"),
        (("${OLD}", "${NOT_SET}"), "NOT_SET"),
        (('default_country = "fr"', 'default_country = "XX"'), "default_country"),
        (('["${SECRET}", "${OLD}"]', "[]"), "webhook_secrets"),
        (('["${SECRET}", "${OLD}"]', '[""]'), "webhook_secrets"),
        (
            (
                'kanal_api_key = "${KEY}"\nwebhook_secrets = ["${SECRET}", "${OLD}"]',
                'kanal_api_key = " "\nwebhook_secrets = ["${SECRET}", "${OLD}"]',
            ),
            "kanal_api_key",
        ),
        (('platform = "shopify"', 'platform = "magento"'), "platform"),
        (
            (
                'kanal_store_id = 123\nkanal_api_key = "${KEY}"\nwebhook_secrets = ["${SECRET}", ',
                'kanal_api_key = "${KEY}"\nwebhook_secrets = ["${SECRET}", ',
            ),
            "kanal_store_id",
        ),
        (("[stores.main-shop]", "[stores.Main_Shop]"), "Main_Shop"),
        (("requests_per_minute = 30", "requests_per_minute = 0"), "requests_per_minute"),
        (("requests_per_minute = 60", 'requests_per_minute = "lots"'), "requests_per_minute"),
        (
            ("abandoned_after_minutes = 0.5", "abandoned_after_minutes = -1"),
            "abandoned_after_minutes",
        ),
        (("requests_per_minute = 60", "timeout_seconds = 0"), "kanal.timeout_seconds"),
        (("requests_per_minute = 60", "timeout_seconds = 60"), "kanal.timeout_seconds"),
        (
            ("[stores.main-shop]", "[delivery]\nremember_versions_days = 1\n[stores.main-shop]"),
            "delivery.remember_versions_days",
        ),
    ],
)
def test_every_bad_value_is_refused_naming_its_key(change: tuple[str, str], named: str) -> None:
    old, new = change
    assert old in GOOD
    assert named in error_for(GOOD.replace(old, new))


def test_no_store_at_all_is_refused() -> None:
    assert "stores" in error_for('[kanal]\napi_url = "http://x"\n')


def test_invalid_toml_is_refused_with_its_source() -> None:
    message = error_for("[stores.main-shop\n")
    assert message.startswith("config: not valid TOML")


def test_inline_toml_takes_precedence_over_the_file(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"BRIDGE_CONFIG": str(tmp_path / "absent.toml"), "BRIDGE_CONFIG_TOML": GOOD}
    )
    assert load_config(settings, ENV).stores["main-shop"].kanal_store_id == 123


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    settings = Settings.from_env({"BRIDGE_CONFIG": str(tmp_path / "absent.toml")})
    with pytest.raises(ConfigError, match="BRIDGE_CONFIG"):
        load_config(settings, ENV)


def test_the_file_is_read_from_bridge_config(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text(GOOD)
    settings = Settings.from_env({"BRIDGE_CONFIG": str(path), "KANAL_API_URL": "http://k"})
    assert load_config(settings, ENV).kanal.api_url == "http://k"


def test_settings_have_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.config_path == "bridge.toml"
    assert (settings.port, settings.web_concurrency) == (8000, 1)
    assert settings.redis_pool_size == 5
    assert settings.dashboard_user == "admin"
    assert settings.dashboard_password is None
    assert (settings.log_level, settings.log_format) == ("INFO", "json")


def test_forwarded_headers_are_believed_from_anyone_only_behind_herokus_router() -> None:
    assert Settings.from_env({}).forwarded_allow_ips == "127.0.0.1"
    assert Settings.from_env({"DYNO": "web.1"}).forwarded_allow_ips == "*"
    override = {"DYNO": "web.1", "FORWARDED_ALLOW_IPS": "10.0.0.0/8"}
    assert Settings.from_env(override).forwarded_allow_ips == "10.0.0.0/8"


@pytest.mark.parametrize("name", ["PORT", "WEB_CONCURRENCY", "REDIS_POOL_SIZE"])
def test_a_number_that_is_not_one_is_named(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: "eighty"})


def test_the_redis_pool_size_is_a_setting_of_at_least_one() -> None:
    assert Settings.from_env({"REDIS_POOL_SIZE": "12"}).redis_pool_size == 12
    with pytest.raises(ConfigError, match="REDIS_POOL_SIZE: must be at least 1"):
        Settings.from_env({"REDIS_POOL_SIZE": "0"})


API = """
[bridge]
public_url = "https://bridge.example.com/"

[alerts]
webhook_url = "${HOOK}"
failed_per_hour = 5

[stores.main-shop]
platform = "shopify"
kanal_store_id = 1
kanal_api_key = "${KEY}"
webhook_secrets = ["${SECRET}"]
shop_domain = "main-shop.myshopify.com"
client_id = "abc123"
client_secret = "${SECRET}"
quiet_hours = 12

[stores.main-shop.alerts]
oldest_pending_minutes = 5

[stores.eu-shop]
platform = "woocommerce"
kanal_store_id = 2
kanal_api_key = "${KEY}"
webhook_secrets = ["${SECRET}"]
site_url = "https://eu-shop.example"
consumer_key = "${CK}"
consumer_secret = "${CS}"
"""
API_ENV = {**ENV, "HOOK": "https://hooks.slack.com/services/T/B/x", "CK": "ck", "CS": "cs"}


def test_platform_api_access_and_its_defaults() -> None:
    config = parse_config(API, API_ENV)
    shop, woo = config.stores["main-shop"], config.stores["eu-shop"]
    assert shop.has_api_access and woo.has_api_access
    assert shop.shop_api_url == "https://main-shop.myshopify.com"
    assert woo.shop_api_url == "https://eu-shop.example"
    assert shop.api_version == "2026-04"
    assert shop.reconcile_every_minutes == 15 and woo.reconcile_customers_every_hours == 24
    assert config.public_url({}) == "https://bridge.example.com"
    assert config.public_url({"PUBLIC_URL": "http://127.0.0.1:9000"}) == "http://127.0.0.1:9000"
    assert config.bridge.watchdog_every_minutes == 10
    assert parse_config(GOOD, ENV).stores["main-shop"].has_api_access is False
    assert shop.subscribed_families == ("orders", "checkouts", "customers", "fulfillments")
    assert woo.subscribed_families == ("orders", "customers")
    chosen = parse_config(
        API.replace("quiet_hours = 12", 'subscribe = ["fulfillments", "orders"]'), API_ENV
    )
    assert chosen.stores["main-shop"].subscribed_families == ("orders", "fulfillments")


def test_a_bad_public_url_in_the_environment_is_named() -> None:
    config = parse_config(API, API_ENV)
    with pytest.raises(ConfigError, match="PUBLIC_URL: must use https"):
        config.public_url({"PUBLIC_URL": "http://bridge.example.com"})


def test_a_store_overrides_the_alert_thresholds_it_names() -> None:
    config = parse_config(API, API_ENV)
    own = config.stores["main-shop"].thresholds(config.alerts)
    assert (own.failed_per_hour, own.oldest_pending_minutes) == (5, 5)
    assert own.reconcile_found == 1
    assert (config.alerts.check_every_seconds, config.alerts.start_after_seconds) == (30, 60)
    assert config.alerts.clear_after_seconds == 300
    other = config.stores["eu-shop"].thresholds(config.alerts)
    assert (other.failed_per_hour, other.oldest_pending_minutes) == (5, 30)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('public_url = "https://', 'public_url = "http://'), "bridge.public_url"),
        (
            ('site_url = "https://eu-shop.example"', 'site_url = "http://eu-shop.example"'),
            "site_url",
        ),
        (('client_id = "abc123"\n', ""), "client_id"),
        (
            ('client_id = "abc123"', 'admin_api_token = "${SECRET}"\nclient_id = "abc123"'),
            "admin_api_token",
        ),
        (('consumer_key = "${CK}"\n', ""), "consumer_key"),
        (('site_url = "https://eu-shop.example"\n', ""), "site_url"),
        (("quiet_hours = 12", 'quiet_hours = 12\nconsumer_key = "x"'), "consumer_key"),
        (('consumer_secret = "${CS}"', 'consumer_secret = "${CS}"\nclient_id = "x"'), "client_id"),
        (('shop_domain = "main-shop.myshopify.com"\n', ""), "shop_domain"),
        (("quiet_hours = 12", 'quiet_hours = 12\napi_version = "2026-11"'), "api_version"),
        (("quiet_hours = 12", "quiet_hours = 0"), "quiet_hours"),
        (("failed_per_hour = 5", "failed_per_hour = 0"), "failed_per_hour"),
        (("failed_per_hour = 5", "failed_per_hour = 5\nreconcile_found = 0"), "reconcile_found"),
        (("failed_per_hour = 5", "failed_per_hour = 5\ncheck_every_seconds = 0"), "check_every"),
        (("failed_per_hour = 5", "failed_per_hour = 5\nstart_after_seconds = -1"), "start_after"),
        (("failed_per_hour = 5", "failed_per_hour = 5\nclear_after_seconds = -1"), "clear_after"),
        (("oldest_pending_minutes = 5", "clear_after_seconds = 5"), "clear_after_seconds"),
        (('webhook_url = "${HOOK}"', 'webhook_url = "ftp://x"'), "webhook_url"),
        (("quiet_hours = 12", 'quiet_hours = 12\nsubscribe = ["orders", "refunds"]'), "subscribe"),
        (("quiet_hours = 12", "quiet_hours = 12\nsubscribe = []"), "subscribe"),
        (
            ('consumer_secret = "${CS}"', 'consumer_secret = "${CS}"\nsubscribe = ["checkouts"]'),
            "subscribe: woocommerce webhooks carry orders, customers only",
        ),
    ],
)
def test_every_bad_api_setting_is_refused_naming_its_key(
    change: tuple[str, str], named: str
) -> None:
    old, new = change
    assert old in API
    assert named in error_for(API.replace(old, new), API_ENV)


def test_stores_feeding_one_kanal_store_need_prefixes_none_starts_another() -> None:
    assert "stores.eu-shop.external_id_prefix: required" in error_for(
        GOOD.replace('external_id_prefix = "eu-"\n', "")
    )
    clash = GOOD.replace('external_id_prefix = "eu-"', 'external_id_prefix = "ms-eu-"')
    assert "stores.eu-shop.external_id_prefix: must not start with" in error_for(clash)
    assert "external_id_prefix" in error_for(GOOD.replace('"eu-"', '"-eu"'))


# A secret typed into the wrong key must not come back in the error (it is shown by /readyz
# and logged before the masking knows the secrets of a configuration that failed to load).
LEAKED = "shpss-leaked-0123456789abcdef"


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('default_country = "fr"', f'default_country = "{LEAKED}"', "default_country"),
        ('platform = "shopify"', f'platform = "{LEAKED}"', "platform"),
        ("kanal_store_id = 123", f'kanal_store_id = "{LEAKED}"', "kanal_store_id"),
        ("requests_per_minute = 30", f'requests_per_minute = "{LEAKED}"', "requests_per_minute"),
        (
            "abandoned_after_minutes = 0.5",
            f'abandoned_after_minutes = "{LEAKED}"',
            "abandoned_after_minutes",
        ),
        ('external_id_prefix = "eu-"', f'external_id_prefix = "{LEAKED}!"', "external_id_prefix"),
        ('shop_domain = "Main-Shop.myshopify.com"', f'shop_domain = ["{LEAKED}"]', "shop_domain"),
        ("requests_per_minute = 60", f'requests_per_minute = "{LEAKED}"', "kanal.requests_"),
        ("[kanal]", f'[bridge]\npublic_url = "http://{LEAKED}"\n[kanal]', "bridge.public_url"),
        ("[kanal]", f'[delivery]\nsettle_seconds = "{LEAKED}"\n[kanal]', "settle_seconds"),
    ],
)
def test_an_error_names_the_key_and_never_echoes_the_value(old: str, new: str, named: str) -> None:
    assert old in GOOD
    message = error_for(GOOD.replace(old, new))
    assert named in message
    assert LEAKED not in message
    assert LEAKED[:12] not in message


def test_a_bad_api_version_is_not_echoed() -> None:
    text = API.replace("quiet_hours = 12", f'quiet_hours = 12\napi_version = "{LEAKED}"')
    message = error_for(text, API_ENV)
    assert "api_version" in message and LEAKED not in message


@pytest.mark.parametrize("name", ["PORT", "WEB_CONCURRENCY"])
def test_a_bad_environment_number_is_named_not_echoed(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: LEAKED})
    assert name in str(caught.value) and LEAKED not in str(caught.value)


SHARED = """
[stores.shop-a]
platform = "shopify"
kanal_store_id = 1
kanal_api_key = "k"
webhook_secrets = ["${SECRET}"]
shop_domain = "shop-a.myshopify.com"

[stores.shop-b]
platform = "shopify"
kanal_store_id = 2
kanal_api_key = "k"
webhook_secrets = ["other", "${SECRET}"]

[stores.shop-c]
platform = "shopify"
kanal_store_id = 3
kanal_api_key = "k"
webhook_secrets = ["${OLD}"]
"""


def test_stores_sharing_a_webhook_secret_are_named_in_a_warning() -> None:
    config = parse_config(SHARED, ENV)
    assert config.shared_secrets() == [["shop-a", "shop-b"]]
    [warning] = config.warnings()
    assert warning.startswith("stores shop-a, shop-b share a webhook secret")
    assert "set shop_domain on shop-b" in warning
    assert "s3cret" not in warning
    assert (
        parse_config(GOOD.replace('"${SECRET}"]\nrequests', '"x"]\nrequests'), ENV).warnings() == []
    )
