"""GradiumClient against a real HTTP stand-in on loopback: contract, retries, budget, redirects, pooling."""

from __future__ import annotations

import time

import pytest

from broker.errors import UpstreamError, UpstreamRateLimited, UpstreamRejectedKey, UpstreamTimeout
from broker.gradium_client import (
    DEFAULT_RATE_LIMIT_WAIT_SECONDS,
    MAX_ATTEMPT_SECONDS,
    MAX_ATTEMPTS,
    MAX_BODY_BYTES,
    GradiumClient,
)
from local.gradium_standin import GradiumStandIn, Reply
from local.network import free_port
from local.services import STANDIN_API_KEY

KEY = STANDIN_API_KEY


def deadline(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


def test_returns_token_and_expiry_exactly_as_gradium_sent_them(standin: GradiumStandIn) -> None:
    standin.queue(Reply(200, {"token": "tok-123", "expires_at": "2026-05-23T12:00:00Z", "extra": 1}))
    minted = GradiumClient(standin.token_url).mint_token(KEY, deadline())
    assert (minted.token, minted.expires_at, minted.attempts) == ("tok-123", "2026-05-23T12:00:00Z", 1)


def test_sends_a_plain_get_with_the_key_header(standin: GradiumStandIn) -> None:
    GradiumClient(standin.token_url).mint_token(KEY, deadline())
    [request] = standin.requests
    assert request.method == "GET"
    assert request.path == "/api/api-keys/token"
    assert request.headers["x-api-key"] == KEY


def test_every_call_mints_a_fresh_token(standin: GradiumStandIn) -> None:
    client = GradiumClient(standin.token_url)
    tokens = {client.mint_token(KEY, deadline()).token for _ in range(3)}
    assert len(tokens) == 3
    assert len(standin.requests) == 3


@pytest.mark.parametrize(
    "expires_at", ["2026-05-23T12:00:00Z", "2026-05-23T12:00:00.123456Z", "2026-05-23T12:00:00+00:00"]
)
def test_accepts_iso8601_variants(standin: GradiumStandIn, expires_at: str) -> None:
    standin.queue(Reply(200, {"token": "t", "expires_at": expires_at}))
    assert GradiumClient(standin.token_url).mint_token(KEY, deadline()).expires_at == expires_at


def test_one_kept_alive_connection_serves_many_calls(standin: GradiumStandIn) -> None:
    client = GradiumClient(standin.token_url)
    for _ in range(10):
        client.mint_token(KEY, deadline())
    assert standin.connections == 1
    assert len(standin.requests) == 10


def test_a_connection_the_server_closed_is_replaced(standin: GradiumStandIn) -> None:
    client = GradiumClient(standin.token_url)
    standin.queue(Reply(200, {"token": "t1", "expires_at": "2026-05-23T12:00:00Z"}, {"Connection": "close"}))
    client.mint_token(KEY, deadline())
    assert client.mint_token(KEY, deadline()).token.startswith("gtk_")
    assert standin.connections == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_retries_transient_statuses_then_succeeds(standin: GradiumStandIn, status: int) -> None:
    standin.queue(Reply(status, b"busy", {"Retry-After": "0"}))
    minted = GradiumClient(standin.token_url).mint_token(KEY, deadline())
    assert minted.attempts == 2
    assert len(standin.requests) == 2


def test_gives_up_after_the_bounded_number_of_attempts(standin: GradiumStandIn) -> None:
    standin.queue(*[Reply(503, b"down")] * (MAX_ATTEMPTS + 2))
    with pytest.raises(UpstreamError) as failure:
        GradiumClient(standin.token_url).mint_token(KEY, deadline())
    assert failure.value.kind == "http_5xx"
    assert failure.value.status == 502
    assert len(standin.requests) == MAX_ATTEMPTS


def test_retry_after_beyond_the_budget_fails_at_once(standin: GradiumStandIn) -> None:
    standin.queue(Reply(503, b"down", {"Retry-After": "60"}))
    started = time.monotonic()
    with pytest.raises(UpstreamError) as failure:
        GradiumClient(standin.token_url).mint_token(KEY, deadline(2))
    assert failure.value.kind == "http_5xx"
    assert time.monotonic() - started < 1
    assert len(standin.requests) == 1


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        ("7", 7),
        (None, DEFAULT_RATE_LIMIT_WAIT_SECONDS),
        ("\u00b9", DEFAULT_RATE_LIMIT_WAIT_SECONDS),
        ("0", 1),
    ],
)
def test_a_429_is_passed_on_at_once_with_its_wait(
    standin: GradiumStandIn, retry_after: str | None, wait: int
) -> None:
    standin.queue(Reply(429, b"slow down", {"Retry-After": retry_after} if retry_after else {}))
    with pytest.raises(UpstreamRateLimited) as failure:
        GradiumClient(standin.token_url).mint_token(KEY, deadline())
    assert (failure.value.status, failure.value.kind) == (429, "http_429")
    assert failure.value.headers() == {"Retry-After": str(wait)}
    assert len(standin.requests) == 1


@pytest.mark.parametrize("status", [400, 404, 422])
def test_client_errors_are_not_retried(standin: GradiumStandIn, status: int) -> None:
    standin.queue(Reply(status, {"detail": "nope"}))
    with pytest.raises(UpstreamError) as failure:
        GradiumClient(standin.token_url).mint_token(KEY, deadline())
    assert failure.value.kind == "http_4xx"
    assert len(standin.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_is_reported_without_retrying(standin: GradiumStandIn, status: int) -> None:
    standin.queue(Reply(status, b"error from server 1008: API key is revoked or expired"))
    with pytest.raises(UpstreamRejectedKey):
        GradiumClient(standin.token_url).mint_token(KEY, deadline())
    assert len(standin.requests) == 1


def test_connection_errors_are_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}/api/api-keys/token"  # nothing listens there
    with pytest.raises(UpstreamError) as failure:
        GradiumClient(url).mint_token(KEY, deadline())
    assert failure.value.kind == "connection"
    assert failure.value.status == 502


def test_the_budget_covers_the_whole_call(standin: GradiumStandIn) -> None:
    standin.queue(Reply(200, {"token": "late", "expires_at": "2026-05-23T12:00:00Z"}, delay=3))
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as failure:
        GradiumClient(standin.token_url).mint_token(KEY, deadline(0.5))
    elapsed = time.monotonic() - started
    assert failure.value.status == 504
    assert 0.4 < elapsed < 1.5  # the reply would take 3 s


def test_the_budget_is_a_deadline_over_an_answer_that_drips(standin: GradiumStandIn) -> None:
    # Each byte comes well within any read timeout; the whole answer would take about 12 s.
    standin.queue(Reply(200, {"token": "late", "expires_at": "2026-05-23T12:00:00Z"}, drip=0.1))
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        GradiumClient(standin.token_url).mint_token(KEY, deadline(0.8))
    assert time.monotonic() - started < 1.5


def test_a_hung_attempt_is_cut_and_retried_on_a_fresh_connection(standin: GradiumStandIn) -> None:
    client = GradiumClient(standin.token_url)
    client.mint_token(KEY, deadline())  # the kept-alive connection
    standin.queue(Reply(200, {"token": "never", "expires_at": "2026-05-23T12:00:00Z"}, delay=30))
    started = time.monotonic()
    minted = client.mint_token(KEY, deadline(MAX_ATTEMPT_SECONDS + 3))
    elapsed = time.monotonic() - started
    assert minted.attempts == 2 and minted.token.startswith("gtk_")
    assert MAX_ATTEMPT_SECONDS - 0.1 < elapsed < MAX_ATTEMPT_SECONDS + 1.5
    assert standin.connections == 2


def test_an_interim_answer_drops_the_connection_and_retries(standin: GradiumStandIn) -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    standin.queue(Reply(200, {"token": "behind-hints", "expires_at": "2026-05-23T12:00:00Z"}, interim=hints))
    client = GradiumClient(standin.token_url)
    first, second = client.mint_token(KEY, deadline()), client.mint_token(KEY, deadline())
    assert first.attempts == 2
    assert "behind-hints" not in (first.token, second.token)
    assert first.token != second.token


def test_an_odd_retry_after_falls_back_to_the_backoff(standin: GradiumStandIn) -> None:
    standin.queue(Reply(503, b"busy", {"Retry-After": "\u00b9"}))
    assert GradiumClient(standin.token_url).mint_token(KEY, deadline()).attempts == 2


def test_retries_stop_when_the_budget_is_spent(standin: GradiumStandIn) -> None:
    standin.queue(*[Reply(503, b"", delay=0.4)] * 3)
    started = time.monotonic()
    with pytest.raises(UpstreamError):
        GradiumClient(standin.token_url).mint_token(KEY, deadline(0.5))
    assert time.monotonic() - started < 1.1  # all three slow 503s would take 1.2 s and more


def test_redirects_are_not_followed_and_the_key_goes_nowhere_else(standin: GradiumStandIn) -> None:
    with GradiumStandIn({KEY}) as elsewhere:
        standin.queue(Reply(302, b"", {"Location": elsewhere.token_url}))
        with pytest.raises(UpstreamError) as failure:
            GradiumClient(standin.token_url).mint_token(KEY, deadline())
        assert failure.value.kind == "redirect"
        assert elsewhere.requests == []
    assert len(standin.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'"token"',
        b'{"expires_at": "2026-05-23T12:00:00Z"}',
        b'{"token": "", "expires_at": "2026-05-23T12:00:00Z"}',
        b'{"token": 42, "expires_at": "2026-05-23T12:00:00Z"}',
        b'{"token": "t"}',
        b'{"token": "t", "expires_at": "tomorrow"}',
        b'{"token": "t", "expires_at": 1790000000}',
        b'{"token": "t\\ud800", "expires_at": "2026-05-23T12:00:00Z"}',
        b'{"token": "caf\xc3\xa9", "expires_at": "2026-05-23T12:00:00Z"}',
        b'{"token": "a b", "expires_at": "2026-05-23T12:00:00Z"}',
        b"[" * 14_000,
        b'{"token": "t", "expires_at": "2026-W21-6T12:00:00Z"}',
        b'{"token": "t", "expires_at": "2026-05-23T12:00:00"}',
        b'{"token": "t", "expires_at": "2026-05-23T12:00:00+02:00"}',
        b'{"token": "t", "expires_at": "2026-02-30T12:00:00Z"}',
        b'{"token": "t", "expires_at": "2026-05-23"}',
    ],
)
def test_an_answer_without_a_valid_token_is_refused(standin: GradiumStandIn, body: bytes) -> None:
    standin.queue(Reply(200, body))
    with pytest.raises(UpstreamError) as failure:
        GradiumClient(standin.token_url).mint_token(KEY, deadline())
    assert failure.value.kind == "bad_body"


def test_a_content_length_that_is_not_ascii_digits_is_refused(standin: GradiumStandIn) -> None:
    standin.queue(
        Reply(200, {"token": "t", "expires_at": "2026-05-23T12:00:00Z"}, {"Content-Length": "\u00b2"})
    )
    client = GradiumClient(standin.token_url)
    with pytest.raises(UpstreamError) as failure:
        client.mint_token(KEY, deadline())
    assert failure.value.kind == "bad_body"
    assert client.mint_token(KEY, deadline()).token.startswith("gtk_")  # on a fresh connection


def test_an_oversized_answer_is_refused(standin: GradiumStandIn) -> None:
    padding = "x" * (MAX_BODY_BYTES + 1)
    standin.queue(Reply(200, {"token": "t", "expires_at": "2026-05-23T12:00:00Z", "pad": padding}))
    client = GradiumClient(standin.token_url)
    with pytest.raises(UpstreamError) as failure:
        client.mint_token(KEY, deadline())
    assert failure.value.kind == "oversized_body"
    assert client.mint_token(KEY, deadline()).token  # the pool recovers with a new connection


def test_an_oversized_error_body_still_counts_as_the_status(standin: GradiumStandIn) -> None:
    standin.queue(Reply(503, b"<html>" + b"x" * (MAX_BODY_BYTES * 2)))
    assert GradiumClient(standin.token_url).mint_token(KEY, deadline()).attempts == 2


@pytest.mark.parametrize(
    ("body", "remaining", "allocated"),
    [
        ({"remaining_credits": 8425, "allocated_credits": 10000, "plan_name": "Pro"}, 8425.0, 10000.0),
        ({"remaining": 12.5, "allocated": 500}, 12.5, 500.0),
        ({"remaining_credits": 0}, 0.0, None),
        ({"remaining_credits": None, "remaining": 7}, 7.0, None),
        ({"remaining_credits": 1e108, "allocated_credits": 8.6e-109}, 1e108, 8.6e-109),
    ],
    ids=["documented fields", "the published client's fields", "no allocation", "null", "cloudwatch's range"],
)
def test_reads_the_balance_in_either_spelling(
    standin: GradiumStandIn, body: dict, remaining: float, allocated: float | None
) -> None:
    standin.queue(Reply(200, body))
    credits = GradiumClient(standin.token_url).get_credits(KEY, deadline())
    assert (credits.remaining, credits.allocated) == (remaining, allocated)
    [request] = standin.requests
    assert (request.path, request.headers["x-api-key"]) == ("/api/usages/credits", KEY)


@pytest.mark.parametrize(
    "body",
    [
        b'{"remaining_credits": true}',
        b'{"remaining_credits": -1}',
        b'{"remaining_credits": NaN}',
        b'{"remaining_credits": 1e999}',
        b'{"remaining_credits": ' + b"9" * 400 + b"}",
        b'{"remaining_credits": "100"}',
        b'{"credits": 100}',
        b"[100]",
        b"not json",
        # CloudWatch refuses these as metric values: the alarm would go blind, not fire.
        b'{"remaining_credits": 1e308}',
        b'{"remaining_credits": 1e-200}',
        b'{"remaining_credits": 5, "allocated_credits": 1e200}',
        b'{"remaining_credits": 5, "allocated_credits": -3}',
        # A value that is there but unusable is a bad body, not a reason to read the other spelling.
        b'{"remaining_credits": -1, "remaining": 7}',
        b'{"remaining_credits": "n/a", "remaining": 7}',
    ],
)
def test_a_balance_that_is_not_a_plain_amount_is_refused(standin: GradiumStandIn, body: bytes) -> None:
    standin.queue(Reply(200, body))
    with pytest.raises(UpstreamError) as failure:
        GradiumClient(standin.token_url).get_credits(KEY, deadline())
    assert failure.value.kind == "bad_body"


def test_the_balance_call_retries_and_keeps_its_deadline(standin: GradiumStandIn) -> None:
    standin.queue(Reply(503, b"down"), Reply(200, {"remaining_credits": 3}))
    assert GradiumClient(standin.token_url).get_credits(KEY, deadline()).remaining == 3.0
    standin.queue(Reply(200, {"remaining_credits": 3}, delay=2))
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        GradiumClient(standin.token_url).get_credits(KEY, deadline(0.5))
    assert time.monotonic() - started < 1.5
