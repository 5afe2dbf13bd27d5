"""Client for Gradium's token and credits endpoints: one pooled connection, one deadline, safe retries.

The pool is bound to the configured host, redirects are never followed and the API key is sent
only on requests this pool makes, so the key cannot reach any other host. Every failure, whatever
raised it, becomes a typed UpstreamError that carries no exception text (which could hold the key).
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
import weakref
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util import parse_url

from broker.errors import UpstreamError, UpstreamRateLimited, UpstreamRejectedKey, UpstreamTimeout

# The balance lives on the token endpoint's host; the key goes to that host and no other.
CREDITS_PATH = "/api/usages/credits"
# CloudWatch rejects a metric value of magnitude outside 8.515920e-109..1.174271e+108 (2^-359..2^359,
# PutMetricData's documentation) and NaN or infinities; an amount of credits is also never negative.
CLOUDWATCH_MIN_VALUE = 2.0**-359
CLOUDWATCH_MAX_VALUE = 2.0**359
MAX_ATTEMPTS = 3
MAX_BODY_BYTES = 16 * 1024  # a token answer is a few hundred bytes
MAX_TOKEN_CHARS = 4096
CONNECT_TIMEOUT_SECONDS = 2.0
# One attempt may take this long at most, so that a half-dead kept-alive connection leaves budget
# for a retry on a fresh one; a healthy answer takes a few hundred milliseconds.
MAX_ATTEMPT_SECONDS = 3.0
BACKOFF_BASE_SECONDS = 0.1
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
# Failures of one connection rather than of Gradium's answer: a fresh connection may succeed.
RETRYABLE_KINDS = frozenset({"connection", "attempt_timeout", "interim_answer"})
# Gradium's 429 is passed on; without a usable Retry-After the caller waits this long.
DEFAULT_RATE_LIMIT_WAIT_SECONDS = 5
MAX_RATE_LIMIT_WAIT_SECONDS = 600

_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")
# RFC 3339 in UTC, as Gradium documents it: 2026-05-23T12:00:00Z, fractions and +00:00 allowed.
_RFC3339_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|\+00:00)")


@dataclass(frozen=True)
class Credits:
    """The account's Gradium balance; `allocated` is None when Gradium does not say."""

    remaining: float
    allocated: float | None


@dataclass(frozen=True)
class MintedToken:
    """A fresh single-use token, exactly as Gradium returned it."""

    token: str
    expires_at: str
    attempts: int


class _SocketTracking:
    """Records each connection's socket so that a deadline can cut it from another thread."""

    def __init__(self, *args: Any, open_sockets: weakref.WeakSet[socket.socket], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open_sockets = open_sockets

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._open_sockets.add(self.sock)  # type: ignore[attr-defined]


class _TrackedHTTPConnection(_SocketTracking, HTTPConnection):
    pass


class _TrackedHTTPSConnection(_SocketTracking, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _Watchdog:
    """Shuts the client's sockets down when an armed deadline passes.

    A socket timeout bounds each read, not the answer: an upstream sending one byte a second would
    never trip it. Shutting the socket down ends whatever read is blocked, headers or body. One thread,
    started once and idle between exchanges, serves every exchange of the environment: a thread per
    exchange would cost more than the rest of the client's own work.
    """

    def __init__(self, sockets: weakref.WeakSet[socket.socket]) -> None:
        self._sockets = sockets
        self._changed = threading.Condition()
        self._deadline: float | None = None  # monotonic; None while disarmed
        self._armed = 0  # exchanges armed so far
        self._cut = 0  # the last exchange whose deadline passed
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> int:
        """Cut the sockets in `seconds` unless disarmed first; returns this exchange's number."""
        with self._changed:
            self._armed += 1
            self._deadline = time.monotonic() + seconds
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="gradium-deadline", daemon=True)
                self._thread.start()
            self._changed.notify()
            return self._armed

    def disarm(self, exchange: int) -> bool:
        """Stop watching; True if the exchange's deadline passed and its sockets were cut."""
        with self._changed:
            self._deadline = None
            return self._cut == exchange

    def _watch(self) -> None:
        with self._changed:
            while True:
                if self._deadline is None:
                    self._changed.wait()
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._changed.wait(remaining)
                    continue
                self._cut, self._deadline = self._armed, None
                for sock in list(self._sockets):
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)


class GradiumClient:
    """Calls Gradium over one kept-alive connection that outlives invocations."""

    def __init__(self, token_url: str) -> None:
        """`token_url` must have passed config's validation (the same parser is used here)."""
        url = parse_url(token_url)
        self._token_path = url.path or "/"
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._watchdog = _Watchdog(self._sockets)
        pool = _HTTPSPool if url.scheme == "https" else _HTTPPool
        # maxsize=1: a Lambda environment serves one request at a time.
        port = url.port or (443 if url.scheme == "https" else 80)
        self._pool = pool(url.host, port, maxsize=1, retries=False, open_sockets=self._sockets)

    def mint_token(self, api_key: str, deadline: float) -> MintedToken:
        """Exchange the API key for a token, retrying transient failures until `deadline` (monotonic).

        Raises UpstreamRejectedKey on 401/403, UpstreamRateLimited on 429, UpstreamTimeout when the
        budget runs out and UpstreamError for every other failure.
        """
        body, attempts = self._get(self._token_path, api_key, deadline)
        return _parse_token(body, attempts)

    def get_credits(self, api_key: str, deadline: float) -> Credits:
        """The account's balance (GET /api/usages/credits), with the same retries, deadline and errors."""
        body, _ = self._get(CREDITS_PATH, api_key, deadline)
        return _parse_credits(body)

    def _get(self, path: str, api_key: str, deadline: float) -> tuple[bytes, int]:
        """The body of a 2xx answer to GET `path` and the attempts it took."""
        attempt = 0
        while True:
            attempt += 1
            try:
                status, body, retry_after = self._exchange(path, api_key, deadline)
            except UpstreamTimeout:
                raise
            except UpstreamError as exc:
                if exc.kind not in RETRYABLE_KINDS or attempt >= MAX_ATTEMPTS:
                    raise
                self._sleep_before_retry(attempt, None, deadline, exc)
                continue
            if 200 <= status < 300:
                return body, attempt
            if status in (401, 403):
                raise UpstreamRejectedKey(status)
            if status == 429:
                # Retrying against a rate limit only deepens it: the caller waits as Gradium asks.
                raise UpstreamRateLimited(_rate_limit_wait(retry_after))
            failure = UpstreamError(_status_kind(status), f"Gradium answered {status}")
            if status not in RETRYABLE_STATUSES or attempt >= MAX_ATTEMPTS:
                raise failure
            self._sleep_before_retry(attempt, retry_after, deadline, failure)

    def _exchange(self, path: str, api_key: str, deadline: float) -> tuple[int, bytes, float | None]:
        """One request and its whole answer within min(deadline, now + MAX_ATTEMPT_SECONDS)."""
        now = time.monotonic()
        if deadline - now <= 0:
            raise UpstreamTimeout("budget spent before the request")
        attempt_seconds = min(deadline - now, MAX_ATTEMPT_SECONDS)
        timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_SECONDS, attempt_seconds), read=attempt_seconds)
        exchange = self._watchdog.arm(attempt_seconds)
        try:
            response = self._pool.urlopen(
                "GET",
                path,
                headers={"x-api-key": api_key, "accept": "application/json"},
                redirect=False,
                retries=False,
                timeout=timeout,
                preload_content=False,
            )
            status, body, retry_after = _read_answer(response)
        except UpstreamError as exc:
            cut = self._watchdog.disarm(exchange)
            if not cut:
                raise
            failure = exc
        except Exception as exc:
            # Whatever raised (a reset, a timeout, a parser), only the class name is kept: urllib3's
            # and http.client's messages can quote a header value, and so the key.
            cut = self._watchdog.disarm(exchange)
            failure = UpstreamError("connection", type(exc).__name__)
        else:
            cut = self._watchdog.disarm(exchange)
            if not cut:
                return status, body, retry_after
            failure = UpstreamError("connection", "answer cut at the deadline")
        if time.monotonic() >= deadline - 0.05:
            raise UpstreamTimeout(failure.kind) from None
        if cut:
            raise UpstreamError("attempt_timeout", f"attempt cut after {attempt_seconds:.1f} s") from None
        raise failure from None

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


def _read_answer(response: urllib3.BaseHTTPResponse) -> tuple[int, bytes, float | None]:
    """Status, body (of a 2xx answer) and Retry-After; the connection is dropped unless all is clean."""
    clean = False
    try:
        status = response.status
        if status < 200:
            # http.client skips only 100 Continue: any other interim answer (103 Early Hints) arrives
            # as if final, with the real answer still unread behind it. The connection is unusable.
            raise UpstreamError("interim_answer", f"interim {status} answer")
        body = _read_limited(response)
        if not 200 <= status < 300:
            body = b""  # Gradium's error text is never shown or logged
        retry_after = _retry_after_seconds(response.headers.get("retry-after"))
        clean = True
        return status, body, retry_after
    except UpstreamError as exc:
        if 200 <= response.status < 300 or exc.kind == "interim_answer":
            raise
        return response.status, b"", None  # an error answer's status stands, whatever its body
    finally:
        if not clean:
            response.close()  # closes the connection too: the pool opens a fresh one
        response.release_conn()


def _read_limited(response: urllib3.BaseHTTPResponse) -> bytes:
    """Read at most MAX_BODY_BYTES; a larger or ill-declared body is refused."""
    declared = response.headers.get("content-length")
    if declared is not None:
        if not _ASCII_DIGITS.fullmatch(declared.strip()):
            raise UpstreamError("bad_body", "Content-Length is not a number")
        if int(declared) > MAX_BODY_BYTES:
            raise UpstreamError("oversized_body", f"Content-Length {int(declared)}")
    body = response.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise UpstreamError("oversized_body", "body over the limit")
    return body


def _json_object(body: bytes) -> dict[str, Any]:
    """A 2xx answer's body as a JSON object; anything else is a `bad_body` UpstreamError."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: a few KiB of "[" nest too deep
        raise UpstreamError("bad_body", "answer is not JSON") from None
    if not isinstance(payload, dict):
        raise UpstreamError("bad_body", "answer is not a JSON object")
    return payload


def _parse_token(body: bytes, attempts: int) -> MintedToken:
    payload = _json_object(body)
    token, expires_at = payload.get("token"), payload.get("expires_at")
    if not isinstance(token, str) or not _is_token(token):
        raise UpstreamError("bad_body", "answer has no usable token")
    if not isinstance(expires_at, str) or not _is_rfc3339_utc(expires_at):
        raise UpstreamError("bad_body", "answer has no RFC 3339 UTC expires_at")
    return MintedToken(token=token, expires_at=expires_at, attempts=attempts)


def _parse_credits(body: bytes) -> Credits:
    """The docs name the fields `remaining_credits`/`allocated_credits`, the published client
    `remaining`/`allocated`: either is taken. The first name present decides: a value there that is
    not an amount is a bad body, never a reason to read the other name."""
    payload = _json_object(body)
    remaining = _amount(payload, "remaining_credits", "remaining")
    if remaining is None:
        raise UpstreamError("bad_body", "answer has no remaining credits")
    return Credits(remaining=remaining, allocated=_amount(payload, "allocated_credits", "allocated"))


def _amount(payload: dict[str, Any], *names: str) -> float | None:
    """The first of `names` present, as an amount CloudWatch accepts as a metric; None if none is
    present. Anything else (not a JSON number, negative, out of CloudWatch's range) is a bad body."""
    name = next((name for name in names if payload.get(name) is not None), None)
    if name is None:
        return None
    value = payload[name]
    # bool is an int in Python, and JSON's true is no amount of credits.
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise UpstreamError("bad_body", f"{name} is not a number")
    try:
        amount = float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise UpstreamError("bad_body", f"{name} is out of range") from None
    if not (amount == 0 or CLOUDWATCH_MIN_VALUE <= amount <= CLOUDWATCH_MAX_VALUE):
        raise UpstreamError("bad_body", f"{name} is negative or out of CloudWatch's range")
    return amount


def _is_token(value: str) -> bool:
    """Printable ASCII without spaces: it goes into a URL query and a log digest as it is."""
    return 0 < len(value) <= MAX_TOKEN_CHARS and all("!" <= char <= "~" for char in value)


def _is_rfc3339_utc(value: str) -> bool:
    if not _RFC3339_UTC.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)  # the calendar: no 30 February, no hour 25
    except ValueError:
        return False
    return True


def _retry_after_seconds(value: str | None) -> float | None:
    """Delay-seconds in ASCII digits; the HTTP-date form is not worth parsing for a sub-30 s budget."""
    if value is None or not _ASCII_DIGITS.fullmatch(value.strip()):
        return None
    return float(value.strip())


def _rate_limit_wait(retry_after: float | None) -> int:
    if retry_after is None:
        return DEFAULT_RATE_LIMIT_WAIT_SECONDS
    return int(min(max(retry_after, 1), MAX_RATE_LIMIT_WAIT_SECONDS))


def _status_kind(status: int) -> str:
    if 300 <= status < 400:
        return "redirect"
    return "http_5xx" if status >= 500 else "http_4xx"
