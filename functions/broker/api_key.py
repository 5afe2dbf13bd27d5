"""The Gradium API key, read from Secrets Manager through Powertools parameters and cached per environment.

A refresh that fails once the cache is due keeps the last good key in service (as AWS's own caching
clients and the Secrets Manager Agent do) and backs off, until the key is older than a maximum staleness.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.config import Config

from broker.errors import ApiKeyUnavailable

# Secrets Manager's SDK defaults (60 s timeouts) would outlive API Gateway's 29 s; fail fast instead.
SECRETS_MANAGER_CONFIG = Config(
    connect_timeout=1, read_timeout=1, retries={"mode": "standard", "total_max_attempts": 2}
)
# After a failed refresh the next one waits 5 s, then 10, 20, ... up to 2 minutes, each with jitter,
# so that an outage costs one slow request per environment and back-off, not every request.
REFRESH_BACKOFF_BASE_SECONDS = 5.0
REFRESH_BACKOFF_MAX_SECONDS = 120.0


class ApiKeySource:
    """Reads the key from one secret and keeps it for `ttl_seconds`.

    When a refresh fails, the last good key is served while it is younger than `max_staleness_seconds`
    and Secrets Manager is not asked again until a jittered, growing back-off has passed. A forced
    refresh (Gradium refused the cached key) never serves the old key, but it keeps the same back-off:
    while it runs, a forced refresh fails at once instead of waiting on Secrets Manager again.
    `on_failure(reason)` hears of every failed read, forced or not. Without a key to fall back on,
    failures raise.
    """

    def __init__(
        self,
        secret_id: str,
        ttl_seconds: float,
        provider: SecretsProvider,
        max_staleness_seconds: float,
        on_failure: Callable[[str], None] = lambda reason: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`provider` is best made with SECRETS_MANAGER_CONFIG as its boto_config."""
        self._secret_id = secret_id
        self._ttl_seconds = ttl_seconds
        self._max_staleness_seconds = max_staleness_seconds
        self._provider = provider
        self._on_failure = on_failure
        self._clock = clock
        self._key: str | None = None
        self._fetched_at = 0.0
        self._failures = 0
        self._next_refresh_at = 0.0

    def get(self, *, refresh: bool = False) -> str:
        """Return the API key, from the cache unless it is due or `refresh` is set.

        Raises ApiKeyUnavailable when the secret is missing, unreadable or holds no key, and no
        last good key may stand in (none yet, too old, or a forced refresh).
        """
        now = self._clock()
        if self._key is not None:
            age = now - self._fetched_at
            if age < self._ttl_seconds and not refresh:
                return self._key
            if now < self._next_refresh_at:  # backing off after a failed refresh
                if refresh:
                    raise ApiKeyUnavailable("secret could not be read moments ago; not read again yet")
                if age < self._max_staleness_seconds:
                    return self._key
                raise ApiKeyUnavailable("secret could not be read and the last good key is too old")
        try:
            raw = self._provider.get(self._secret_id, force_fetch=True)
        except GetParameterError as exc:
            # Only the AWS error's class name is kept: its text names the secret, never its value.
            cause = type(exc.__context__).__name__ if exc.__context__ else "GetParameterError"
            return self._fall_back(refresh, f"secret could not be read ({cause})")
        try:
            key = parse_api_key(raw)
        except ApiKeyUnavailable as exc:  # a malformed new value: the last good key stands in too
            return self._fall_back(refresh, str(exc))
        self._key, self._fetched_at, self._failures, self._next_refresh_at = key, now, 0, 0.0
        return key

    def _fall_back(self, refresh: bool, reason: str) -> str:
        if self._key is None:
            raise ApiKeyUnavailable(reason)
        # The back-off starts when the failure is known: a hanging refresh can outlast the first one.
        now = self._clock()
        self._failures += 1
        backoff = min(REFRESH_BACKOFF_MAX_SECONDS, REFRESH_BACKOFF_BASE_SECONDS * 2 ** (self._failures - 1))
        self._next_refresh_at = now + random.uniform(backoff / 2, backoff)  # noqa: S311 (jitter)
        self._on_failure(reason)
        if refresh:  # Gradium refused the cached key: serving it again cannot help
            raise ApiKeyUnavailable(f"{reason}; forced re-read after Gradium refused the key")
        if now - self._fetched_at >= self._max_staleness_seconds:
            raise ApiKeyUnavailable(f"{reason}; the last good key is too old")
        return self._key


def parse_api_key(raw: object) -> str:
    """Extract the key from a secret value: a bare key or a JSON object {"api_key": "..."}.

    Surrounding whitespace (a file's trailing newline) is dropped. Anything else but printable ASCII
    is refused here, with a reason and never the value: such a key cannot go into an HTTP header, and
    the HTTP library's error would quote it.
    """
    if isinstance(raw, bytes):
        raise ApiKeyUnavailable("secret is binary; store the key as a string")
    text = str(raw or "").strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get("api_key")
        except (ValueError, AttributeError, RecursionError):
            raise ApiKeyUnavailable("secret looks like JSON but is not a valid object") from None
        text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ApiKeyUnavailable("secret holds no API key")
    if not all("!" <= char <= "~" for char in text):
        raise ApiKeyUnavailable(
            "secret holds a malformed API key (whitespace inside, or characters outside printable ASCII)"
        )
    return text
