"""The Gradium API key, read from Secrets Manager through Powertools parameters and cached per environment."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.config import Config

from errors import ApiKeyUnavailable

# Secrets Manager's SDK defaults (60 s timeouts) would outlive API Gateway's 29 s; fail fast instead.
SECRETS_MANAGER_CONFIG = Config(
    connect_timeout=1, read_timeout=1, retries={"mode": "standard", "total_max_attempts": 2}
)


class ApiKeySource:
    """Reads the key from one secret; the cache keeps it for `ttl_seconds`, failures are never cached."""

    def __init__(self, secret_id: str, ttl_seconds: int, provider: SecretsProvider) -> None:
        """`provider` is best made with SECRETS_MANAGER_CONFIG as its boto_config."""
        self._secret_id = secret_id
        self._ttl_seconds = ttl_seconds
        self._provider = provider

    def get(self, *, refresh: bool = False) -> str:
        """Return the API key, from the cache unless `refresh` is set.

        Raises ApiKeyUnavailable when the secret is missing, unreadable or holds no key.
        """
        try:
            raw = self._provider.get(self._secret_id, max_age=self._ttl_seconds, force_fetch=refresh)
        except GetParameterError as exc:
            # Only the AWS error's class name is kept: its text names the secret, never its value.
            cause = type(exc.__context__).__name__ if exc.__context__ else "GetParameterError"
            raise ApiKeyUnavailable(f"secret could not be read ({cause})") from None
        return parse_api_key(raw)


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
