"""Settings of the token function and the credits monitor, read from the environment and validated once
per cold start.

Every setting is one row of SETTINGS (variable, template parameter, default, bounds), read by Setting.read;
the tests check the template's parameters against that table. What a parameter means is said once, in its
template Description; docs/configuration.md's table is made from both (`make docs`).
Plain dataclasses rather than pydantic: its import would cost the cold start more than the whole function.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

# A Cognito app client id, as the template's AllowedClientIds and ExistingUserPoolClientId accept it.
_CLIENT_ID = re.compile(r"[a-z0-9]{1,128}")
_REQUIRED = object()  # a setting without a default: unset is a ConfigError


class ConfigError(ValueError):
    """The environment does not describe a usable configuration."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: the template parameter that sets it, its default and bounds (and, for a
    variable no parameter sets, what it means: a parameter's meaning is its template Description)."""

    variable: str
    parameter: str | None  # None: the template sets it from a resource (the quota table's name)
    default: Any
    parse: Callable[[str, Setting], Any]  # the stripped, non-empty value -> the setting (or ConfigError)
    low: float | None = None
    high: float | None = None
    meaning: str | None = None  # only where no parameter sets the variable

    def read(self, environ: Mapping[str, str]) -> Any:
        raw = environ.get(self.variable, "").strip()
        if raw:
            return self.parse(raw, self)
        if self.default is _REQUIRED:
            raise ConfigError(f"{self.variable} is required")
        return self.default


def _text(raw: str, setting: Setting) -> str:
    return raw


def _number(raw: str, setting: Setting) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{setting.variable} must be a number, got {raw!r}") from None
    if not setting.low <= value <= setting.high:  # type: ignore[operator]
        raise ConfigError(
            f"{setting.variable} must be between {setting.low:g} and {setting.high:g}, got {raw!r}"
        )
    return value


def _whole_number(raw: str, setting: Setting) -> int:
    value = _number(raw, setting)
    if value != int(value):
        raise ConfigError(f"{setting.variable} must be a whole number")
    return int(value)


def _whole_seconds(raw: str, setting: Setting) -> int:
    """A number of seconds, its fraction dropped (a cache lifetime needs no finer grain)."""
    return int(_number(raw, setting))


def _flag(raw: str, setting: Setting) -> bool:
    value = raw.lower()
    if value in ("false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise ConfigError(f"{setting.variable} must be true or false, got {value!r}")


def _client_ids(raw: str, setting: Setting) -> frozenset[str]:
    """Comma-separated app client ids; unset or empty allows any client of the pool."""
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    for client_id in ids:
        if not _CLIENT_ID.fullmatch(client_id):
            raise ConfigError(f"{setting.variable} must be comma-separated Cognito app client ids")
    return frozenset(ids)


def _origin(origin: str, setting: Setting) -> str:
    """One exact browser origin (scheme://host[:port]); a wildcard would let any site mint tokens."""
    parts = urlsplit(origin)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or origin != f"{parts.scheme}://{parts.netloc}"
    ):
        raise ConfigError("ALLOWED_ORIGIN must be one origin such as https://app.example.com (no path, no *)")
    return origin


# The API key goes to Gradium and nowhere else: an https host under this domain, or a local stand-in.
GRADIUM_DOMAIN = "gradium.ai"
# How a container of `sam local invoke` reaches the machine that runs it (Docker Desktop maps the name;
# Linux Docker with --add-host host.docker.internal:host-gateway). Accepted only where SAM CLI says the
# function runs locally (AWS_SAM_LOCAL, which samcli/local/lambdafn/env_vars.py sets in every container).
DOCKER_HOST_NAME = "host.docker.internal"


def _token_url(url: str, setting: Setting) -> str:
    """GRADIUM_TOKEN_URL: https to gradium.ai or a host under it; plain http only for a local stand-in
    (loopback, or host.docker.internal under sam local). Any other host would receive the API key: a
    configuration error at cold start.

    Checked with urllib3's own parser, the one the Gradium client builds its connection with, so a
    URL accepted here cannot fail there (a port above 65535, a port that is not a number).
    """
    try:
        parts = parse_url(url)
    except LocationParseError:
        raise ConfigError("GRADIUM_TOKEN_URL is not a valid URL (check the host and port)") from None
    if (
        not url.isascii()
        or any(char.isspace() for char in url)
        or not parts.host
        or parts.auth
        or parts.query is not None
        or parts.fragment is not None
        or parts.port == 0
        or urlsplit(url).netloc.endswith(":")  # an empty port: legal, but the template refuses it
    ):
        raise ConfigError(
            "GRADIUM_TOKEN_URL must be an absolute ASCII URL without credentials, query or fragment"
        )
    if parts.scheme == "https" and _is_gradium(parts.host):
        return url
    if parts.scheme == "http" and _is_local(parts.host):
        return url
    raise ConfigError(
        f"GRADIUM_TOKEN_URL must be https on {GRADIUM_DOMAIN} or a host under it (the API key is sent "
        f"there), or plain http on a loopback host (or {DOCKER_HOST_NAME} under sam local)"
    )


def _local_endpoint(url: str, setting: Setting) -> str:
    """An AWS endpoint override (AWS_ENDPOINT_URL_*): empty in a stack; only a local stand-in otherwise, so
    that no setting can send the function's signed AWS requests (and its session token) elsewhere."""
    try:
        parts = parse_url(url)
    except LocationParseError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.host or not _is_local(parts.host):
        raise ConfigError(
            f"{setting.variable} must be empty, or the URL of a local stand-in (a loopback host, or "
            f"{DOCKER_HOST_NAME} under sam local)"
        )
    return url


def _is_gradium(host: str) -> bool:
    host = host.lower()
    return host == GRADIUM_DOMAIN or host.endswith("." + GRADIUM_DOMAIN)


def _is_local(host: str) -> bool:
    """A loopback host, or host.docker.internal (checked against AWS_SAM_LOCAL by _only_under_sam_local)."""
    return host.lower() == DOCKER_HOST_NAME or _is_loopback(host)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


SETTINGS: dict[str, Setting] = {
    "secret_id": Setting("GRADIUM_API_KEY_SECRET_ID", "ExistingSecretArn", _REQUIRED, _text),
    "token_url": Setting(
        "GRADIUM_TOKEN_URL",
        "GradiumTokenUrl",
        "https://api.gradium.ai/api/api-keys/token",
        _token_url,
    ),
    # The function's own timeout (template) must cover the Gradium budget plus the secret reads and the
    # quota update; API Gateway gives up after 29 s, so a larger budget could never be honoured.
    "timeout_seconds": Setting(
        "GRADIUM_TIMEOUT_SECONDS",
        "GradiumTimeoutSeconds",
        8.0,
        _number,
        low=0.1,
        high=10.0,
    ),
    "secret_cache_ttl_seconds": Setting(
        "SECRET_CACHE_TTL_SECONDS",
        "SecretCacheTtlSeconds",
        300,
        _whole_seconds,
        low=0,
        high=3600,
    ),
    "secret_max_staleness_seconds": Setting(
        "SECRET_MAX_STALENESS_SECONDS",
        "SecretMaxStalenessSeconds",
        4 * 3600,
        _whole_number,
        low=0,
        high=7 * 24 * 3600,
    ),
    "breaker_failures": Setting(
        "GRADIUM_BREAKER_FAILURES",
        "GradiumBreakerFailures",
        5,
        _whole_number,
        low=0,
        high=100,
    ),
    "breaker_cooldown_seconds": Setting(
        "GRADIUM_BREAKER_COOLDOWN_SECONDS",
        "GradiumBreakerCooldownSeconds",
        10.0,
        _number,
        low=1,
        high=300,
    ),
    "required_group": Setting("REQUIRED_GROUP", "RequiredGroup", None, _text),
    "allowed_client_ids": Setting(
        "ALLOWED_CLIENT_IDS",
        "AllowedClientIds",
        frozenset(),
        _client_ids,
    ),
    "tokens_per_user_per_minute": Setting(
        "TOKENS_PER_USER_PER_MINUTE",
        "TokensPerUserPerMinute",
        10,
        _whole_number,
        low=0,
        high=10_000,
    ),
    "tokens_per_user_per_day": Setting(
        "TOKENS_PER_USER_PER_DAY",
        "TokensPerUserPerDay",
        200,
        _whole_number,
        low=0,
        high=1_000_000,
    ),
    "daily_token_ceiling": Setting(
        "DAILY_TOKEN_CEILING",
        "DailyTokenCeiling",
        10_000,
        _whole_number,
        low=0,
        high=10_000_000,
    ),
    "quota_table_name": Setting(
        "QUOTA_TABLE_NAME", None, None, _text, meaning="the DynamoDB table of the counters (the stack's own)"
    ),
    "quota_fail_open": Setting("QUOTA_FAIL_OPEN", "QuotaFailOpen", False, _flag),
    "allowed_origin": Setting("ALLOWED_ORIGIN", "AllowedOrigin", None, _origin),
    "tracing_enabled": Setting("TRACING_ENABLED", "EnableTracing", False, _flag),
    # Read by botocore itself; validated here. Empty in a stack, set by `sam local invoke --env-vars`.
    "secrets_manager_endpoint": Setting(
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        None,
        None,
        _local_endpoint,
        meaning="sam local only: a local Secrets Manager (moto); empty in a stack",
    ),
    "dynamodb_endpoint": Setting(
        "AWS_ENDPOINT_URL_DYNAMODB",
        None,
        None,
        _local_endpoint,
        meaning="sam local only: a local DynamoDB (moto); empty in a stack",
    ),
}


@dataclass(frozen=True)
class Settings:
    """Validated configuration of the token function: SETTINGS' rows, by name."""

    secret_id: str
    token_url: str
    timeout_seconds: float
    secret_cache_ttl_seconds: int
    secret_max_staleness_seconds: int
    breaker_failures: int  # 0: no circuit breaker
    breaker_cooldown_seconds: float
    required_group: str | None
    allowed_client_ids: frozenset[str]  # empty: any app client of the pool
    tokens_per_user_per_minute: int  # 0: no per-minute limit
    tokens_per_user_per_day: int  # 0: no daily cap
    daily_token_ceiling: int  # 0: no ceiling; all three 0: no quota table at all
    quota_table_name: str | None
    quota_fail_open: bool
    allowed_origin: str | None  # None: no CORS headers
    tracing_enabled: bool
    secrets_manager_endpoint: str | None  # None: AWS's (always, in a stack)
    dynamodb_endpoint: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from environment variables, raising ConfigError on any invalid value."""
        settings = cls(**_read(cls, environ))
        _only_under_sam_local(settings, environ)
        if settings.quota_enabled and not settings.quota_table_name:
            raise ConfigError(
                "QUOTA_TABLE_NAME is required while a per-user token limit or DAILY_TOKEN_CEILING is above 0"
            )
        return settings

    @property
    def quota_enabled(self) -> bool:
        """Whether any limit is on, and so the quota table is needed."""
        return bool(
            self.tokens_per_user_per_minute or self.tokens_per_user_per_day or self.daily_token_ceiling
        )


@dataclass(frozen=True)
class MonitorSettings:
    """Validated configuration of the credits monitor: the token function's secret, host and budget."""

    secret_id: str
    token_url: str  # the balance is read from this URL's host (gradium_client.CREDITS_PATH)
    timeout_seconds: float
    secrets_manager_endpoint: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> MonitorSettings:
        """Build settings from environment variables, raising ConfigError on any invalid value."""
        settings = cls(**_read(cls, environ))
        _only_under_sam_local(settings, environ)
        return settings


def _only_under_sam_local(settings: Settings | MonitorSettings, environ: Mapping[str, str]) -> None:
    """host.docker.internal names this machine only inside a container of `sam local`: anywhere else (a
    deployed function) it is no local stand-in, and no URL may name it."""
    if environ.get("AWS_SAM_LOCAL") == "true":
        return
    for name in ("token_url", "secrets_manager_endpoint", "dynamodb_endpoint"):
        url = getattr(settings, name, None)
        if url and (parse_url(url).host or "").lower() == DOCKER_HOST_NAME:
            raise ConfigError(
                f"{SETTINGS[name].variable} names {DOCKER_HOST_NAME}, which only `sam local` containers "
                "reach (AWS_SAM_LOCAL is not set)"
            )


def _read(settings_class: type, environ: Mapping[str, str]) -> dict[str, Any]:
    """Each field of `settings_class`, read through its row of SETTINGS."""
    return {field.name: SETTINGS[field.name].read(environ) for field in fields(settings_class)}
