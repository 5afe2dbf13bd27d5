"""Settings.from_env: defaults, validation, and the https-or-loopback rule for the token URL."""

from __future__ import annotations

import pytest

from config import (
    DEFAULT_SECRET_CACHE_TTL_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_TOKEN_URL,
    ConfigError,
    Settings,
)

SECRET = {"GRADIUM_API_KEY_SECRET_ID": "arn:aws:secretsmanager:us-east-1:123456789012:secret:gradium-AbCdEf"}


def test_defaults() -> None:
    settings = Settings.from_env(SECRET)
    assert settings.secret_id == SECRET["GRADIUM_API_KEY_SECRET_ID"]
    assert settings.token_url == DEFAULT_TOKEN_URL == "https://api.gradium.ai/api/api-keys/token"
    assert settings.timeout_seconds == DEFAULT_TIMEOUT_SECONDS
    assert settings.secret_cache_ttl_seconds == DEFAULT_SECRET_CACHE_TTL_SECONDS
    assert settings.required_group is None


def test_every_setting_is_read() -> None:
    settings = Settings.from_env(
        SECRET
        | {
            "GRADIUM_TOKEN_URL": "https://gradium.example.com/token",
            "GRADIUM_TIMEOUT_SECONDS": "2.5",
            "SECRET_CACHE_TTL_SECONDS": "60",
            "REQUIRED_GROUP": " voice-users ",
        }
    )
    assert settings.token_url == "https://gradium.example.com/token"
    assert settings.timeout_seconds == 2.5
    assert settings.secret_cache_ttl_seconds == 60
    assert settings.required_group == "voice-users"


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
    ],
)
def test_other_token_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="GRADIUM_TOKEN_URL"):
        Settings.from_env(SECRET | {"GRADIUM_TOKEN_URL": url})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GRADIUM_TIMEOUT_SECONDS", "soon"),
        ("GRADIUM_TIMEOUT_SECONDS", "0"),
        ("GRADIUM_TIMEOUT_SECONDS", "30"),
        ("SECRET_CACHE_TTL_SECONDS", "-1"),
        ("SECRET_CACHE_TTL_SECONDS", "86400"),
    ],
)
def test_numbers_out_of_range_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(SECRET | {name: value})
