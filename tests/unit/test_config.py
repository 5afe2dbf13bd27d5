"""Settings.from_env: defaults, validation, and the https-or-local rule of the token URL and AWS endpoints."""

from __future__ import annotations

import pytest

from broker.config import SETTINGS, ConfigError, MonitorSettings, Settings

DEFAULT_TOKEN_URL = SETTINGS["token_url"].default
DEFAULT_TIMEOUT_SECONDS = SETTINGS["timeout_seconds"].default
DEFAULT_SECRET_CACHE_TTL_SECONDS = SETTINGS["secret_cache_ttl_seconds"].default
DEFAULT_TOKENS_PER_USER_PER_MINUTE = SETTINGS["tokens_per_user_per_minute"].default
DEFAULT_TOKENS_PER_USER_PER_DAY = SETTINGS["tokens_per_user_per_day"].default

SECRET = {
    "GRADIUM_API_KEY_SECRET_ID": "arn:aws:secretsmanager:us-east-1:123456789012:secret:gradium-AbCdEf",
    "QUOTA_TABLE_NAME": "gradium-token-quota",
}


def test_defaults() -> None:
    settings = Settings.from_env(SECRET)
    assert settings.secret_id == SECRET["GRADIUM_API_KEY_SECRET_ID"]
    assert settings.token_url == DEFAULT_TOKEN_URL == "https://api.gradium.ai/api/api-keys/token"
    assert settings.timeout_seconds == DEFAULT_TIMEOUT_SECONDS
    assert settings.secret_cache_ttl_seconds == DEFAULT_SECRET_CACHE_TTL_SECONDS
    assert settings.required_group is None
    assert settings.allowed_client_ids == frozenset()  # any app client of the pool
    assert settings.tokens_per_user_per_minute == DEFAULT_TOKENS_PER_USER_PER_MINUTE == 10
    assert settings.tokens_per_user_per_day == DEFAULT_TOKENS_PER_USER_PER_DAY == 200
    assert settings.quota_table_name == "gradium-token-quota"
    assert settings.quota_fail_open is False
    assert settings.allowed_origin is None
    assert settings.tracing_enabled is False


def test_every_setting_is_read() -> None:
    settings = Settings.from_env(
        SECRET
        | {
            "GRADIUM_TOKEN_URL": "https://eu.api.gradium.ai/token",
            "GRADIUM_TIMEOUT_SECONDS": "2.5",
            "SECRET_CACHE_TTL_SECONDS": "60",
            "REQUIRED_GROUP": " voice-users ",
            "ALLOWED_CLIENT_IDS": " 4q2h7k9m1n3p5r7t9v1x3z5b7d , 7otherwebclient0000000000,",
            "TOKENS_PER_USER_PER_MINUTE": "3",
            "TOKENS_PER_USER_PER_DAY": "50",
            "QUOTA_FAIL_OPEN": "true",
            "ALLOWED_ORIGIN": "https://app.example.com",
            "TRACING_ENABLED": "1",
        }
    )
    assert settings.token_url == "https://eu.api.gradium.ai/token"
    assert settings.timeout_seconds == 2.5
    assert settings.secret_cache_ttl_seconds == 60
    assert settings.required_group == "voice-users"
    assert settings.allowed_client_ids == {"4q2h7k9m1n3p5r7t9v1x3z5b7d", "7otherwebclient0000000000"}
    assert settings.tokens_per_user_per_minute == 3
    assert settings.tokens_per_user_per_day == 50
    assert settings.quota_fail_open is True
    assert settings.allowed_origin == "https://app.example.com"
    assert settings.tracing_enabled is True


@pytest.mark.parametrize(
    "limits",
    [{}, {"TOKENS_PER_USER_PER_MINUTE": "0"}, {"TOKENS_PER_USER_PER_DAY": "0"}],
    ids=["both limits", "daily cap only", "minute limit only"],
)
def test_a_quota_needs_its_table(limits: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="QUOTA_TABLE_NAME"):
        Settings.from_env({"GRADIUM_API_KEY_SECRET_ID": "s"} | limits)


def test_every_limit_zero_turns_the_quota_off() -> None:
    off = {"TOKENS_PER_USER_PER_MINUTE": "0", "TOKENS_PER_USER_PER_DAY": "0", "DAILY_TOKEN_CEILING": "0"}
    settings = Settings.from_env({"GRADIUM_API_KEY_SECRET_ID": "s"} | off)
    assert (settings.tokens_per_user_per_minute, settings.tokens_per_user_per_day) == (0, 0)
    assert settings.daily_token_ceiling == 0 and not settings.quota_enabled
    assert settings.quota_table_name is None


def test_the_ceiling_alone_needs_the_quota_table() -> None:
    per_user_off = {"TOKENS_PER_USER_PER_MINUTE": "0", "TOKENS_PER_USER_PER_DAY": "0"}
    with pytest.raises(ConfigError, match="DAILY_TOKEN_CEILING"):
        Settings.from_env({"GRADIUM_API_KEY_SECRET_ID": "s"} | per_user_off)
    settings = Settings.from_env({"GRADIUM_API_KEY_SECRET_ID": "s", "QUOTA_TABLE_NAME": "t"} | per_user_off)
    assert settings.daily_token_ceiling == 10_000 and settings.quota_enabled


@pytest.mark.parametrize(
    "origin", ["*", "https://app.example.com/", "https://app.example.com/path", "app.example.com", "null"]
)
def test_allowed_origin_is_one_exact_origin(origin: str) -> None:
    with pytest.raises(ConfigError, match="ALLOWED_ORIGIN"):
        Settings.from_env(SECRET | {"ALLOWED_ORIGIN": origin})


def test_the_secret_id_is_required() -> None:
    with pytest.raises(ConfigError, match="GRADIUM_API_KEY_SECRET_ID"):
        Settings.from_env({"GRADIUM_API_KEY_SECRET_ID": "  "})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/api/api-keys/token",
        "http://localhost:8765/api/api-keys/token",
        "http://[::1]:8765/api/api-keys/token",
        "http://127.0.0.2/token",
    ],
)
def test_plain_http_is_allowed_for_loopback_only(url: str) -> None:
    assert Settings.from_env(SECRET | {"GRADIUM_TOKEN_URL": url}).token_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://api.gradium.ai/api/api-keys/token",
        "http://10.0.0.5/token",
        "http://localhost.evil.example/token",
        "ftp://api.gradium.ai/token",
        "api.gradium.ai/api/api-keys/token",
        "https://user:pass@api.gradium.ai/api/api-keys/token",
        "https://api.gradium.ai/api/api-keys/token?x=1",
        "https://api.gradium.ai/api/api-keys/token?",
        "https://api.gradium.ai/api/api-keys/token#top",
        "https://api.gradium.ai:99999/api/api-keys/token",
        "https://api.gradium.ai:abc/api/api-keys/token",
        "https://api.gradium.ai:0/api/api-keys/token",
        "https://api.gradium.ai:\u00b9/api/api-keys/token",
        "https://api.gr\u00e4dium.ai/api/api-keys/token",
        "https://api.gradium.ai/api/api keys/token",
        "https:///api/api-keys/token",
        # The key goes to Gradium alone: no other https host, however it is spelt.
        "https://gradium.example.com/token",
        "https://api.gradium.ai.evil.example/token",
        "https://evilgradium.ai/token",
        "https://127.0.0.1/token",
    ],
)
def test_other_token_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="GRADIUM_TOKEN_URL"):
        Settings.from_env(SECRET | {"GRADIUM_TOKEN_URL": url})


SAM_LOCAL = {"AWS_SAM_LOCAL": "true"}  # what SAM CLI sets in each container of `sam local invoke`
IN_DOCKER = "http://host.docker.internal:8765/api/api-keys/token"


def test_inside_sam_local_the_stand_ins_on_the_docker_host_are_allowed() -> None:
    settings = Settings.from_env(
        SECRET
        | SAM_LOCAL
        | {
            "GRADIUM_TOKEN_URL": IN_DOCKER,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://host.docker.internal:5000",
            "AWS_ENDPOINT_URL_DYNAMODB": "http://Host.Docker.Internal:5000",
        }
    )
    assert settings.token_url == IN_DOCKER
    assert settings.secrets_manager_endpoint == "http://host.docker.internal:5000"
    assert (
        MonitorSettings.from_env(SECRET | SAM_LOCAL | {"GRADIUM_TOKEN_URL": IN_DOCKER}).token_url == IN_DOCKER
    )


@pytest.mark.parametrize(
    "name", ["GRADIUM_TOKEN_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB"]
)
def test_outside_sam_local_the_docker_host_is_refused(name: str) -> None:
    """A deployed function has no AWS_SAM_LOCAL: there host.docker.internal is no stand-in of ours."""
    for environ in (SECRET | {name: IN_DOCKER}, SECRET | {name: IN_DOCKER, "AWS_SAM_LOCAL": "false"}):
        with pytest.raises(ConfigError, match=rf"{name} names host\.docker\.internal"):
            Settings.from_env(environ)


def test_the_monitor_refuses_the_docker_host_outside_sam_local_too() -> None:
    with pytest.raises(ConfigError, match=r"GRADIUM_TOKEN_URL names host\.docker\.internal"):
        MonitorSettings.from_env(SECRET | {"GRADIUM_TOKEN_URL": IN_DOCKER})


@pytest.mark.parametrize(
    "url",
    [
        "https://secretsmanager.eu-west-1.amazonaws.com",
        "http://10.0.0.5:4566",
        "http://host.docker.internal.evil.example",
        "http://docker.internal",
        "localhost:5000",
        "ftp://127.0.0.1/",
        "http://127.0.0.1:99999",
    ],
)
def test_an_aws_endpoint_may_name_only_a_local_stand_in(url: str) -> None:
    """An endpoint override would send the function's signed requests (and session token) there."""
    for name in ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB"):
        with pytest.raises(ConfigError, match=f"{name} must be empty, or the URL of a local stand-in"):
            Settings.from_env(SECRET | SAM_LOCAL | {name: url})


def test_the_aws_endpoints_are_aws_s_unless_set() -> None:
    settings = Settings.from_env(SECRET | {"AWS_ENDPOINT_URL_DYNAMODB": ""})
    assert settings.secrets_manager_endpoint is settings.dynamodb_endpoint is None
    local = Settings.from_env(SECRET | {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:5000"})
    assert local.dynamodb_endpoint == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GRADIUM_TIMEOUT_SECONDS", "soon"),
        ("GRADIUM_TIMEOUT_SECONDS", "0"),
        ("GRADIUM_TIMEOUT_SECONDS", "30"),
        ("SECRET_CACHE_TTL_SECONDS", "-1"),
        ("SECRET_CACHE_TTL_SECONDS", "86400"),
        ("TOKENS_PER_USER_PER_MINUTE", "-1"),
        ("TOKENS_PER_USER_PER_MINUTE", "2.5"),
        ("TOKENS_PER_USER_PER_DAY", "-1"),
        ("TOKENS_PER_USER_PER_DAY", "1e7"),
        ("QUOTA_FAIL_OPEN", "maybe"),
        ("TRACING_ENABLED", "on"),
        ("ALLOWED_CLIENT_IDS", "4q2h7k9m1n3p5r7t9v1x3z5b7d *"),
        ("ALLOWED_CLIENT_IDS", "*"),
    ],
)
def test_numbers_out_of_range_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(SECRET | {name: value})


def test_every_field_of_the_settings_has_one_row_in_the_table() -> None:
    """Settings and MonitorSettings are read field by field through SETTINGS: no field without a row."""
    from dataclasses import fields

    names = {field.name for cls in (Settings, MonitorSettings) for field in fields(cls)}
    assert names == set(SETTINGS)
    assert len({setting.variable for setting in SETTINGS.values()}) == len(SETTINGS)


def test_an_unset_setting_takes_its_default_and_a_blank_one_too() -> None:
    blank = {setting.variable: "  " for setting in SETTINGS.values()} | SECRET
    assert Settings.from_env(blank) == Settings.from_env(SECRET)
