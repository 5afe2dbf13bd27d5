"""Hostile inputs through the built function under the Lambda emulator: every one is a JSON answer.

A secret holding an odd value, Lambda's own logging switches, an upstream that drips, sends interim
answers or odd bytes, and a malformed token URL: each must end in the documented JSON error, never a
Lambda error (whose payload and log line carry the exception's text), and nothing secret in the logs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local.gradium_standin import GradiumStandIn, Reply
from local.lambda_emulator import LambdaEmulator
from local.paths import EVENTS_DIR
from local.services import STANDIN_API_KEY, LocalServices, local_services

SIGNED_IN = json.loads((EVENTS_DIR / "signed_in.json").read_text())
EXPIRES = "2026-05-23T12:00:00Z"


@pytest.fixture(scope="module")
def running_stack() -> Iterator[LocalServices]:
    with local_services() as stack:
        yield stack


@pytest.fixture
def standin(running_stack: LocalServices) -> GradiumStandIn:
    assert running_stack.standin is not None
    running_stack.standin.script.clear()
    return running_stack.standin


def environment(stack: LocalServices, api_key: str = STANDIN_API_KEY, **overrides: str) -> dict[str, str]:
    """The function's environment with a secret of its own holding `api_key`, and no quota."""
    secret = f"gradium-token-broker/failure/{uuid.uuid4().hex[:8]}"
    stack.put_api_key(secret, api_key)
    return stack.function_env(
        {
            "GRADIUM_API_KEY_SECRET_ID": secret,
            "TOKENS_PER_USER_PER_MINUTE": "0",
            "TOKENS_PER_USER_PER_DAY": "0",
            "DAILY_TOKEN_CEILING": "0",
            "QUOTA_TABLE_NAME": "",
        }
        | overrides
    )


def answered(response: dict[str, Any], status: int, error: str) -> None:
    """A proxy answer with `status` and exactly {"error": error}, not a Lambda error payload."""
    assert "errorMessage" not in response, f"the function crashed: {response}"
    assert response["statusCode"] == status, response
    assert response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"]) == {"error": error}


@pytest.mark.parametrize(
    ("secret_value", "pieces"),
    [
        ("gd_first_line_4f1c\ngd_second_line_9a7e", ["gd_first_line_4f1c", "gd_second_line_9a7e"]),
        ('{"api_key": "gd_json_line_5b2d\\ngd_json_rest_0c3f"}', ["gd_json_line_5b2d", "gd_json_rest_0c3f"]),
        ("gd_smart\u201cquote_7d8e", ["gd_smart", "quote_7d8e"]),
        ("gd_inner space_3a4b", ["gd_inner", "space_3a4b"]),
    ],
    ids=["two-lines", "json-with-newline", "smart-quote", "inner-space"],
)
def test_a_malformed_key_is_500_and_never_reaches_logs_or_gradium(
    running_stack: LocalServices, standin: GradiumStandIn, secret_value: str, pieces: list[str]
) -> None:
    requests_before = len(standin.requests)
    with LambdaEmulator(environment(running_stack, secret_value)) as emulator:
        response = emulator.invoke(SIGNED_IN).response
        logs = emulator.logs()
    answered(response, 500, "Gradium API key is not available")
    assert "secret holds a malformed API key" in logs
    for piece in pieces:
        assert piece not in json.dumps(response) and piece not in logs
    assert len(standin.requests) == requests_before


def test_lambda_debug_logging_never_prints_the_secret(running_stack: LocalServices) -> None:
    """The console's log level and format switches set the root logger; botocore must stay quiet."""
    env = environment(running_stack, AWS_LAMBDA_LOG_LEVEL="DEBUG", AWS_LAMBDA_LOG_FORMAT="JSON")
    with LambdaEmulator(env) as emulator:
        response = emulator.invoke(SIGNED_IN).response
        logs = emulator.logs()
    assert response["statusCode"] == 200
    token = json.loads(response["body"])["token"]
    # The runtime's own JSON handler on the root logger is in place: it prints botocore's INFO lines.
    assert '"logger": "botocore.credentials"' in logs
    for secret in (STANDIN_API_KEY, token, SIGNED_IN["headers"]["Authorization"]):
        assert secret not in logs


def test_an_upstream_that_drips_gets_the_504_within_the_budget(
    running_stack: LocalServices, standin: GradiumStandIn
) -> None:
    with LambdaEmulator(environment(running_stack, GRADIUM_TIMEOUT_SECONDS="1")) as emulator:
        emulator.invoke(SIGNED_IN)  # the cold start, timed apart from the budget
        # About 120 bytes at 0.1 s each: 12 s per answer, each byte well within any per-read timeout.
        standin.queue(*[Reply(200, {"token": "gtk_drip", "expires_at": EXPIRES}, drip=0.1)] * 3)
        started = time.monotonic()
        response = emulator.invoke(SIGNED_IN).response
        elapsed = time.monotonic() - started
    answered(response, 504, "Gradium token service timed out")
    assert elapsed < 2.5, f"a 1 s budget took {elapsed:.1f} s"


def test_an_interim_answer_is_not_taken_for_the_token(
    running_stack: LocalServices, standin: GradiumStandIn
) -> None:
    early_hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    standin.queue(Reply(200, {"token": "gtk_after_hints", "expires_at": EXPIRES}, interim=early_hints))
    with LambdaEmulator(environment(running_stack)) as emulator:
        first = emulator.invoke(SIGNED_IN).response
        second = emulator.invoke(SIGNED_IN).response
    assert first["statusCode"] == 200, first
    assert second["statusCode"] == 200, second
    tokens = [json.loads(answer["body"])["token"] for answer in (first, second)]
    # Never the answer left behind the interim one on the connection, and never one token twice.
    assert "gtk_after_hints" not in tokens[1:]
    assert len(set(tokens)) == 2


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, {"token": "gtk_\ud800", "expires_at": EXPIRES}),
        Reply(200, {"token": "gtk_caf\u00e9", "expires_at": EXPIRES}),
        Reply(200, b"[" * 14_000),
        Reply(200, {"token": "gtk_ok", "expires_at": "2026-W21-6T12:00:00Z"}),
        Reply(200, {"token": "gtk_ok", "expires_at": "2026-05-23T12:00:00"}),
        Reply(200, {"token": "gtk_ok", "expires_at": "\u0662\u0660\u0662\u0666-05-23T12:00:00Z"}),
        Reply(
            200,
            {"token": "gtk_ok", "expires_at": EXPIRES},
            {"Content-Length": "\u00b2", "Connection": "close"},
        ),
    ],
    ids=[
        "lone-surrogate",
        "non-ascii-token",
        "deep-nesting",
        "week-date",
        "no-time-zone",
        "arabic-digits",
        "superscript-length",
    ],
)
def test_an_odd_answer_is_502_and_counts_no_token(
    running_stack: LocalServices, standin: GradiumStandIn, reply: Reply
) -> None:
    standin.queue(reply)
    with LambdaEmulator(environment(running_stack)) as emulator:
        response = emulator.invoke(SIGNED_IN).response
        logs = emulator.logs()
    answered(response, 502, "Gradium token service failed")
    assert '"TokensIssued"' not in logs


def test_an_odd_retry_after_is_ignored(running_stack: LocalServices, standin: GradiumStandIn) -> None:
    standin.queue(Reply(503, b"busy", {"Retry-After": "\u00b9"}))
    with LambdaEmulator(environment(running_stack)) as emulator:
        response = emulator.invoke(SIGNED_IN).response
    assert response.get("statusCode") == 200, response  # retried after its own backoff


def test_a_gradium_429_is_passed_on_with_its_wait(
    running_stack: LocalServices, standin: GradiumStandIn
) -> None:
    standin.queue(Reply(429, b"slow down", {"Retry-After": "7"}))
    with LambdaEmulator(environment(running_stack)) as emulator:
        response = emulator.invoke(SIGNED_IN).response
    answered(response, 429, "Gradium is rate limiting token requests; retry later")
    assert response["headers"]["Retry-After"] == "7"


@pytest.mark.parametrize(
    "url",
    ["https://api.gradium.ai:99999/api/api-keys/token", "https://api.gradium.ai:abc/api/api-keys/token"],
)
def test_a_malformed_token_url_is_500_misconfigured(running_stack: LocalServices, url: str) -> None:
    with LambdaEmulator(environment(running_stack, GRADIUM_TOKEN_URL=url)) as emulator:
        responses = [emulator.invoke(SIGNED_IN).response for _ in range(2)]
        logs = emulator.logs()
    for response in responses:
        answered(response, 500, "Token service is misconfigured")
    assert "GRADIUM_TOKEN_URL" in logs
