"""Client for Gradium's token endpoint: one pooled connection, a total time budget, safe retries.

The pool is bound to the configured host, redirects are never followed and the API key is sent
only on requests this pool makes, so the key cannot reach any other host.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from errors import UpstreamError, UpstreamRejectedKey, UpstreamTimeout

MAX_ATTEMPTS = 3
MAX_BODY_BYTES = 16 * 1024  # a token answer is a few hundred bytes
CONNECT_TIMEOUT_SECONDS = 2.0
BACKOFF_BASE_SECONDS = 0.1
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class MintedToken:
    """A fresh single-use token, exactly as Gradium returned it."""

    token: str
    expires_at: str
    attempts: int


class GradiumClient:
    """Mints Gradium tokens over one kept-alive connection that outlives invocations."""

    def __init__(self, token_url: str) -> None:
        parts = urlsplit(token_url)
        self._path = parts.path or "/"
        # maxsize=1: a Lambda environment serves one request at a time.
        self._pool = urllib3.connection_from_url(token_url, maxsize=1, retries=False)

    def mint_token(self, api_key: str, deadline: float) -> MintedToken:
        """Exchange the API key for a token, retrying transient failures until `deadline` (monotonic).

        Raises UpstreamRejectedKey on 401/403, UpstreamTimeout when the budget runs out and
        UpstreamError for every other failure.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                status, body, retry_after = self._get(api_key, deadline)
            except UpstreamTimeout:
                raise
            except UpstreamError as exc:
                if exc.kind != "connection" or attempt >= MAX_ATTEMPTS:
                    raise
                self._sleep_before_retry(attempt, None, deadline, exc)
                continue
            if 200 <= status < 300:
                return _parse_token(body, attempt)
            if status in (401, 403):
                raise UpstreamRejectedKey(status)
            failure = UpstreamError(_status_kind(status), f"Gradium answered {status}")
            if status not in RETRYABLE_STATUSES or attempt >= MAX_ATTEMPTS:
                raise failure
            self._sleep_before_retry(attempt, retry_after, deadline, failure)

    def _get(self, api_key: str, deadline: float) -> tuple[int, bytes, float | None]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UpstreamTimeout("budget spent before the request")
        timeout = urllib3.Timeout(total=remaining, connect=min(CONNECT_TIMEOUT_SECONDS, remaining))
        try:
            response = self._pool.urlopen(
                "GET",
                self._path,
                headers={"x-api-key": api_key, "accept": "application/json"},
                redirect=False,
                retries=False,
                timeout=timeout,
                preload_content=False,
            )
            body = _read_body(response)
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            if deadline - time.monotonic() <= 0.05:
                raise UpstreamTimeout(type(exc).__name__) from None
            raise UpstreamError("connection", type(exc).__name__) from None
        except (NewConnectionError, ProtocolError, HTTPError, OSError) as exc:
            # A reset kept-alive connection lands here too; the GET is safe to repeat.
            raise UpstreamError("connection", type(exc).__name__) from None
        return response.status, body, _retry_after_seconds(response.headers.get("retry-after"))

    @staticmethod
    def _sleep_before_retry(
        attempt: int, retry_after: float | None, deadline: float, failure: UpstreamError
    ) -> None:
        # Full jitter spreads retries of many environments; Retry-After wins when Gradium sends it.
        delay = (
            retry_after if retry_after is not None else random.uniform(0, BACKOFF_BASE_SECONDS * 2**attempt)  # noqa: S311 (jitter)
        )
        if time.monotonic() + delay >= deadline:
            raise failure
        time.sleep(delay)


def _read_body(response: urllib3.BaseHTTPResponse) -> bytes:
    """The body of a 2xx answer; an error answer's body is read only to free the connection."""
    try:
        return _read_limited(response)
    except UpstreamError:
        if 200 <= response.status < 300:
            raise
        return b""  # Gradium's error text is never shown or logged, so its size does not matter


def _read_limited(response: urllib3.BaseHTTPResponse) -> bytes:
    """Read at most MAX_BODY_BYTES; a larger body is refused and its connection dropped."""
    try:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            response.close()
            raise UpstreamError("oversized_body", f"Content-Length {declared}")
        body = response.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            response.close()
            raise UpstreamError("oversized_body", "body over the limit")
        return body
    finally:
        response.release_conn()


def _parse_token(body: bytes, attempts: int) -> MintedToken:
    try:
        payload = json.loads(body)
    except ValueError:
        raise UpstreamError("bad_body", "answer is not JSON") from None
    if not isinstance(payload, dict):
        raise UpstreamError("bad_body", "answer is not a JSON object")
    token, expires_at = payload.get("token"), payload.get("expires_at")
    if not isinstance(token, str) or not token.strip():
        raise UpstreamError("bad_body", "answer has no token")
    if not isinstance(expires_at, str) or not _is_iso8601(expires_at):
        raise UpstreamError("bad_body", "answer has no ISO-8601 expires_at")
    return MintedToken(token=token, expires_at=expires_at, attempts=attempts)


def _is_iso8601(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # the HTTP-date form is not worth parsing for a sub-30 s budget
    return float(value.strip())


def _status_kind(status: int) -> str:
    if 300 <= status < 400:
        return "redirect"
    if status == 429:
        return "http_429"
    return "http_5xx" if status >= 500 else "http_4xx"
