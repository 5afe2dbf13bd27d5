"""Settings of the token function and the credits monitor, read from the environment and validated once
per cold start.

Every setting and its default lives here and nowhere else; the README's configuration table and
the template's parameter descriptions document the same defaults.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

DEFAULT_TOKEN_URL = "https://api.gradium.ai/api/api-keys/token"  # noqa: S105 (a URL, not a secret)
DEFAULT_TIMEOUT_SECONDS = 8.0
DEFAULT_SECRET_CACHE_TTL_SECONDS = 300
# While Secrets Manager fails, the last good key keeps serving for this long after it was read.
DEFAULT_SECRET_MAX_STALENESS_SECONDS = 4 * 3600
MAX_SECRET_MAX_STALENESS_SECONDS = 7 * 24 * 3600
# After this many consecutive failed exchanges with Gradium, answer 503 at once for the cool-down.
DEFAULT_GRADIUM_BREAKER_FAILURES = 5
MAX_GRADIUM_BREAKER_FAILURES = 100
DEFAULT_GRADIUM_BREAKER_COOLDOWN_SECONDS = 10
MAX_GRADIUM_BREAKER_COOLDOWN_SECONDS = 300
DEFAULT_TOKENS_PER_USER_PER_MINUTE = 10
MAX_TOKENS_PER_USER_PER_MINUTE = 10_000
DEFAULT_TOKENS_PER_USER_PER_DAY = 200
MAX_TOKENS_PER_USER_PER_DAY = 1_000_000

# The function's own timeout (template) must cover the Gradium budget plus the secret reads and the
# quota update; API Gateway gives up after 29 s, so a larger budget could never be honoured.
MAX_TIMEOUT_SECONDS = 10.0
MAX_SECRET_CACHE_TTL_SECONDS = 3600
# A Cognito app client id, as the template's AllowedClientIds and ExistingUserPoolClientId accept it.
_CLIENT_ID = re.compile(r"[a-z0-9]{1,128}")


class ConfigError(ValueError):
    """The environment does not describe a usable configuration."""


@dataclass(frozen=True)
class Settings:
    """Validated configuration of the token function."""

    secret_id: str
    token_url: str
    timeout_seconds: float
    secret_cache_ttl_seconds: int
    secret_max_staleness_seconds: int
    breaker_failures: int  # 0: no circuit breaker
    breaker_cooldown_seconds: float
    required_group: str | None
    allowed_client_ids: frozenset[str]  # app clients whose ID tokens may get tokens; empty: any
    tokens_per_user_per_minute: int  # 0: no per-minute limit
    tokens_per_user_per_day: int  # 0: no daily cap; both 0: no quota table at all
    quota_table_name: str | None
    quota_fail_open: bool
    allowed_origin: str | None  # CORS origin of a browser app; None: no CORS headers
    tracing_enabled: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from environment variables, raising ConfigError on any invalid value."""
        secret_id = _secret_id(environ)
        per_minute = _whole_number(
            environ,
            "TOKENS_PER_USER_PER_MINUTE",
            DEFAULT_TOKENS_PER_USER_PER_MINUTE,
            0,
            MAX_TOKENS_PER_USER_PER_MINUTE,
        )
        per_day = _whole_number(
            environ,
            "TOKENS_PER_USER_PER_DAY",
            DEFAULT_TOKENS_PER_USER_PER_DAY,
            0,
            MAX_TOKENS_PER_USER_PER_DAY,
        )
        quota_table = environ.get("QUOTA_TABLE_NAME", "").strip() or None
        if (per_minute or per_day) and not quota_table:
            raise ConfigError("QUOTA_TABLE_NAME is required while either per-user token limit is above 0")
        return cls(
            secret_id=secret_id,
            token_url=_token_url(environ),
            timeout_seconds=_timeout_seconds(environ),
            secret_cache_ttl_seconds=int(
                _number(
                    environ,
                    "SECRET_CACHE_TTL_SECONDS",
                    DEFAULT_SECRET_CACHE_TTL_SECONDS,
                    0,
                    MAX_SECRET_CACHE_TTL_SECONDS,
                )
            ),
            secret_max_staleness_seconds=_whole_number(
                environ,
                "SECRET_MAX_STALENESS_SECONDS",
                DEFAULT_SECRET_MAX_STALENESS_SECONDS,
                0,
                MAX_SECRET_MAX_STALENESS_SECONDS,
            ),
            breaker_failures=_whole_number(
                environ,
                "GRADIUM_BREAKER_FAILURES",
                DEFAULT_GRADIUM_BREAKER_FAILURES,
                0,
                MAX_GRADIUM_BREAKER_FAILURES,
            ),
            breaker_cooldown_seconds=_number(
                environ,
                "GRADIUM_BREAKER_COOLDOWN_SECONDS",
                DEFAULT_GRADIUM_BREAKER_COOLDOWN_SECONDS,
                1,
                MAX_GRADIUM_BREAKER_COOLDOWN_SECONDS,
            ),
            required_group=environ.get("REQUIRED_GROUP", "").strip() or None,
            allowed_client_ids=_client_ids(environ),
            tokens_per_user_per_minute=per_minute,
            tokens_per_user_per_day=per_day,
            quota_table_name=quota_table,
            quota_fail_open=_flag(environ, "QUOTA_FAIL_OPEN"),
            allowed_origin=_origin(environ.get("ALLOWED_ORIGIN", "").strip()),
            tracing_enabled=_flag(environ, "TRACING_ENABLED"),
        )


@dataclass(frozen=True)
class MonitorSettings:
    """Validated configuration of the credits monitor: the token function's secret, host and budget."""

    secret_id: str
    token_url: str  # the balance is read from this URL's host (gradium_client.CREDITS_PATH)
    timeout_seconds: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> MonitorSettings:
        """Build settings from environment variables, raising ConfigError on any invalid value."""
        return cls(
            secret_id=_secret_id(environ),
            token_url=_token_url(environ),
            timeout_seconds=_timeout_seconds(environ),
        )


def _secret_id(environ: Mapping[str, str]) -> str:
    secret_id = environ.get("GRADIUM_API_KEY_SECRET_ID", "").strip()
    if not secret_id:
        raise ConfigError("GRADIUM_API_KEY_SECRET_ID is required")
    return secret_id


def _timeout_seconds(environ: Mapping[str, str]) -> float:
    return _number(environ, "GRADIUM_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS, 0.1, MAX_TIMEOUT_SECONDS)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _client_ids(environ: Mapping[str, str]) -> frozenset[str]:
    """ALLOWED_CLIENT_IDS: comma-separated app client ids; unset or empty allows any client of the pool."""
    ids = [part.strip() for part in environ.get("ALLOWED_CLIENT_IDS", "").split(",") if part.strip()]
    for client_id in ids:
        if not _CLIENT_ID.fullmatch(client_id):
            raise ConfigError("ALLOWED_CLIENT_IDS must be comma-separated Cognito app client ids")
    return frozenset(ids)


def _origin(origin: str) -> str | None:
    """One exact browser origin (scheme://host[:port]); a wildcard would let any site mint tokens."""
    if not origin:
        return None
    parts = urlsplit(origin)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or origin != f"{parts.scheme}://{parts.netloc}"
    ):
        raise ConfigError("ALLOWED_ORIGIN must be one origin such as https://app.example.com (no path, no *)")
    return origin


def _number(environ: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {raw!r}")
    return value


def _whole_number(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _number(environ, name, default, low, high)
    if value != int(value):
        raise ConfigError(f"{name} must be a whole number")
    return int(value)


def _token_url(environ: Mapping[str, str]) -> str:
    """GRADIUM_TOKEN_URL: https anywhere, plain http only for loopback (local stand-ins and tests).

    Checked with urllib3's own parser, the one the Gradium client builds its connection with, so a
    URL accepted here cannot fail there (a port above 65535, a port that is not a number).
    """
    url = environ.get("GRADIUM_TOKEN_URL", "").strip() or DEFAULT_TOKEN_URL
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
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and _is_loopback(parts.host):
        return url
    raise ConfigError("GRADIUM_TOKEN_URL must use https (plain http is allowed only for loopback hosts)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
