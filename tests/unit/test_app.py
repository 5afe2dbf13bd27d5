"""The handler in-process: boto3 against a moto server, Gradium as a real HTTP stand-in on loopback.

Each test loads app.py afresh with its own environment (as a new Lambda environment would) and a
service name of its own, so Powertools' logger writes to the output this test captures.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.gradium_standin import GradiumStandIn, Reply
from local.services import STANDIN_API_KEY, LocalServices
from tests.unit.harness import FakeContext, emitted_metrics, json_records

EVENTS = Path(__file__).resolve().parents[2] / "events"
CODE_URI = Path(__file__).resolve().parents[2] / "functions"  # the template's CodeUri, /var/task in Lambda
SIGNED_IN = json.loads((EVENTS / "signed_in.json").read_text())
JWT = SIGNED_IN["headers"]["Authorization"]
SIGNED_IN_SUB = SIGNED_IN["requestContext"]["authorizer"]["claims"]["sub"]


@dataclass
class Outcome:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    output: str  # everything the function printed: logs and EMF metrics

    def records(self) -> list[dict[str, Any]]:
        return json_records(self.output)

    def metrics(self) -> dict[str, Any]:
        return emitted_metrics(self.output)


Loader = Callable[..., ModuleType]


@pytest.fixture
def load_app(
    monkeypatch: pytest.MonkeyPatch, stack: LocalServices, standin: GradiumStandIn, secret_name: str
) -> Loader:
    def load(**overrides: str) -> ModuleType:
        quota_table = f"quota-{uuid.uuid4().hex[:8]}"
        stack.create_quota_table(quota_table)
        env = stack.function_env(
            {
                "GRADIUM_API_KEY_SECRET_ID": secret_name,
                "GRADIUM_TOKEN_URL": standin.token_url,
                "QUOTA_TABLE_NAME": quota_table,
                "POWERTOOLS_SERVICE_NAME": f"test-{uuid.uuid4().hex[:8]}",
            }
            | overrides
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        from broker import app

        return importlib.reload(app)

    return load


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[[ModuleType, Any], Outcome]:
    def invoke(app: ModuleType, event: Any) -> Outcome:
        capsys.readouterr()
        response = app.handler(copy.deepcopy(event), FakeContext())
        captured = capsys.readouterr()
        return Outcome(
            response["statusCode"],
            response["headers"],
            json.loads(response["body"]),
            captured.out + captured.err,
        )

    return invoke


def event_file(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_a_signed_in_user_gets_a_fresh_token(
    load_app: Loader, run, stack: LocalServices, secret_name, standin
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app()
    first, second = run(app, SIGNED_IN), run(app, SIGNED_IN)
    assert first.status == second.status == 200
    assert first.body == {"token": standin.issued_tokens[0], "expires_at": first.body["expires_at"]}
    assert second.body["token"] == standin.issued_tokens[1] != first.body["token"]
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Cache-Control"] == "no-store"


def test_one_audit_line_per_token_without_the_token(load_app: Loader, run, stack, secret_name) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    outcome = run(load_app(), SIGNED_IN)
    token = outcome.body["token"]
    # One line for the token: the audit record is the metrics line's metadata.
    [line] = [line for line in outcome.output.splitlines() if line.startswith("{")]
    audit = json.loads(line)
    assert audit["audit"] == "token_issued"
    assert audit["caller_sub"] == SIGNED_IN["requestContext"]["authorizer"]["claims"]["sub"]
    assert audit["correlation_id"] == SIGNED_IN["requestContext"]["requestId"]
    assert audit["expires_at"] == outcome.body["expires_at"]
    assert audit["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()[:16]
    assert audit["upstream_attempts"] == 1 and audit["key_refreshed"] is False
    assert audit["TokensIssued"] == [1.0] and audit["UpstreamLatency"][0] > 0
    assert len(line.encode()) <= 600
    assert token not in outcome.output


def test_metrics_count_tokens_and_upstream_latency(load_app: Loader, run, stack, secret_name) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    metrics = run(load_app(), SIGNED_IN).metrics()
    assert metrics["TokensIssued"] == [1.0]
    assert metrics["UpstreamLatency"][0] > 0
    names = {m["Name"] for d in metrics["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"TokensIssued", "UpstreamLatency"} <= names
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "GradiumTokenBroker"


def test_no_claims_is_401_without_calling_gradium(load_app: Loader, run, stack, secret_name, standin) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    outcome = run(load_app(), event_file("no_claims.json"))
    assert (outcome.status, outcome.body) == (401, {"error": "Unauthorized"})
    assert standin.requests == []


def test_wrong_group_is_403_without_calling_gradium(
    load_app: Loader, run, stack, secret_name, standin
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    outcome = run(load_app(REQUIRED_GROUP="voice-users"), event_file("wrong_group.json"))
    assert (outcome.status, outcome.body) == (403, {"error": "Forbidden"})
    assert standin.requests == []


def quota_spent(stack: LocalServices, app: ModuleType, sub: str = SIGNED_IN_SUB) -> int:
    """Tokens counted today for `sub` in the quota table of `app`'s environment."""
    table = os.environ["QUOTA_TABLE_NAME"]
    item = stack.dynamodb.get_item(TableName=table, Key={"pk": {"S": f"{sub}#{int(time.time()) // 86_400}"}})
    return int(item.get("Item", {}).get("tokens", {}).get("N", "0"))


def test_another_app_client_of_the_pool_is_403_before_the_quota_and_gradium(
    load_app: Loader, run, stack, secret_name, standin
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app(ALLOWED_CLIENT_IDS="4q2h7k9m1n3p5r7t9v1x3z5b7d")
    outcome = run(app, event_file("other_app_client.json"))
    assert (outcome.status, outcome.body) == (403, {"error": "Forbidden"})
    assert standin.requests == [] and quota_spent(stack, app) == 0
    assert run(app, SIGNED_IN).status == 200  # the listed app client


def test_no_allowed_client_ids_lets_any_app_client_of_the_pool_in(
    load_app: Loader, run, stack, secret_name
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    assert run(load_app(ALLOWED_CLIENT_IDS=""), event_file("other_app_client.json")).status == 200


def test_a_gradium_outage_spends_only_the_calls_that_reached_gradium(
    load_app: Loader, run, stack, secret_name, standin
) -> None:
    """The review's reproduction: a daily cap of 6 and a breaker at 2 failures. The breaker's fast 503s
    never reach Gradium, so they spend nothing, and the user still has tokens once Gradium is back."""
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app(
        TOKENS_PER_USER_PER_MINUTE="0",
        TOKENS_PER_USER_PER_DAY="6",
        GRADIUM_BREAKER_FAILURES="2",
        GRADIUM_BREAKER_COOLDOWN_SECONDS="1",
    )
    standin.queue(*[Reply(503, b"down")] * 6)  # two requests of three attempts each
    outage = [run(app, SIGNED_IN).status for _ in range(10)]
    assert outage == [502, 502] + [503] * 8
    assert quota_spent(stack, app) == 2 and len(standin.requests) == 6
    time.sleep(1.1)  # the cool-down: the next request is the probe, and Gradium is healthy again
    assert [run(app, SIGNED_IN).status for _ in range(5)] == [200, 200, 200, 200, 429]
    assert quota_spent(stack, app) == 6


def test_a_refused_key_in_its_cool_down_spends_nothing(
    load_app: Loader, run, stack, secret_name, standin
) -> None:
    stack.put_api_key(secret_name, "gd_revoked")
    app = load_app(TOKENS_PER_USER_PER_MINUTE="0", TOKENS_PER_USER_PER_DAY="3")
    assert [run(app, SIGNED_IN).status for _ in range(6)] == [502] * 6
    assert len(standin.requests) == 1 and quota_spent(stack, app) == 1  # only the call Gradium judged


def test_no_required_group_lets_any_signed_in_user_in(load_app: Loader, run, stack, secret_name) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    assert run(load_app(REQUIRED_GROUP=""), event_file("wrong_group.json")).status == 200


@pytest.mark.parametrize("bad_event", [None, [], "POST /gradium-token", 7])
def test_an_event_that_is_not_an_object_is_400(load_app: Loader, run, bad_event: object) -> None:
    outcome = run(load_app(), bad_event)
    assert (outcome.status, outcome.body) == (400, {"error": "Malformed request"})


@pytest.mark.parametrize("bad_event", [{}, {"requestContext": None}, {"requestContext": {"authorizer": []}}])
def test_an_event_missing_its_parts_is_401(load_app: Loader, run, bad_event: object) -> None:
    assert run(load_app(), bad_event).status == 401


def test_a_missing_secret_is_500_without_calling_gradium(load_app: Loader, run, standin) -> None:
    outcome = run(load_app(), SIGNED_IN)
    assert (outcome.status, outcome.body) == (500, {"error": "Gradium API key is not available"})
    assert standin.requests == []


def test_a_blank_secret_is_500(load_app: Loader, run, stack, secret_name, standin) -> None:
    stack.put_api_key(secret_name, "   ")
    assert run(load_app(), SIGNED_IN).status == 500
    assert standin.requests == []


def test_a_gradium_failure_is_502_and_never_echoes_gradium(
    load_app: Loader, run, stack, secret_name, standin
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    standin.queue(*[Reply(500, b"error from server: internal detail 7f3a")] * 3)
    outcome = run(load_app(), SIGNED_IN)
    assert (outcome.status, outcome.body) == (502, {"error": "Gradium token service failed"})
    assert "7f3a" not in outcome.output
    metrics = outcome.metrics()
    [by_kind] = [r for r in outcome.records() if "UpstreamErrorsByKind" in r]
    assert by_kind["kind"] == "http_5xx"
    # The dashboard's SEARCH and the alarm's metric math name exactly these dimensions.
    assert by_kind["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["kind", "service"]]
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert "UpstreamErrors" in metrics


def test_a_bad_gradium_answer_is_502(load_app: Loader, run, stack, secret_name, standin) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    standin.queue(Reply(200, {"token": "", "expires_at": "2026-05-23T12:00:00Z"}))
    assert run(load_app(), SIGNED_IN).status == 502


def test_a_rejected_key_is_502(load_app: Loader, run, stack, secret_name) -> None:
    stack.put_api_key(secret_name, "gd_not_a_key_gradium_knows")
    outcome = run(load_app(), SIGNED_IN)
    assert outcome.status == 502
    assert "gd_not_a_key_gradium_knows" not in outcome.output


def test_a_slow_gradium_is_504_within_the_budget(load_app: Loader, run, stack, secret_name, standin) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    standin.queue(Reply(200, {"token": "late", "expires_at": "2026-05-23T12:00:00Z"}, delay=3))
    outcome = run(load_app(GRADIUM_TIMEOUT_SECONDS="0.5"), SIGNED_IN)
    assert (outcome.status, outcome.body) == (504, {"error": "Gradium token service timed out"})


def test_a_refused_configuration_is_500_and_sends_the_key_nowhere(
    load_app: Loader, run, stack, secret_name, standin
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app(GRADIUM_TOKEN_URL="http://api.gradium.example/api/api-keys/token")
    outcome = run(app, SIGNED_IN)
    assert (outcome.status, outcome.body) == (500, {"error": "Token service is misconfigured"})
    assert run(app, event_file("no_claims.json")).status == 401


def test_an_unexpected_exception_is_500_without_its_text(
    load_app: Loader, run, stack, secret_name, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net for a bug: the runtime would print the text (here holding a key) everywhere."""
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app()

    def bug(**_: object) -> None:
        raise ValueError(f"Invalid header value {STANDIN_API_KEY!r}")

    monkeypatch.setattr(app.SERVICE.broker, "issue", bug)
    outcome = run(app, SIGNED_IN)
    assert (outcome.status, outcome.body) == (500, {"error": "Internal error"})
    assert STANDIN_API_KEY not in outcome.output
    [failure] = [r for r in outcome.records() if r.get("message") == "Unexpected failure"]
    assert failure["error"] == "ValueError" and failure["where"].startswith("test_app.py:")
    assert outcome.metrics()["UnexpectedErrors"] == [1.0]
    assert "TokensIssued" not in outcome.metrics()


def test_logs_never_hold_the_key_the_token_or_the_jwt(load_app: Loader, run, stack, secret_name) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app(POWERTOOLS_LOGGER_LOG_EVENT="true", POWERTOOLS_LOG_LEVEL="DEBUG")
    outcomes = [
        run(app, SIGNED_IN),
        run(app, event_file("wrong_group.json")),
        run(app, event_file("no_claims.json")),
    ]
    token = outcomes[0].body["token"]
    output = "".join(o.output for o in outcomes)
    assert '"audit":"token_issued"' in output and "Request refused" in output  # the logs were captured
    for secret in (STANDIN_API_KEY, token, JWT, JWT.split(".")[1]):
        assert secret not in output


def test_over_the_quota_is_429_without_the_secret_or_gradium(
    load_app: Loader, run, stack, secret_name, standin
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app(TOKENS_PER_USER_PER_MINUTE="2")
    assert [run(app, SIGNED_IN).status for _ in range(2)] == [200, 200]
    refused = run(app, SIGNED_IN)
    assert (refused.status, refused.body) == (429, {"error": "Too many token requests; retry later"})
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.metrics()["QuotaRejections"] == [1.0]
    assert len(standin.requests) == 2


def test_the_quota_is_per_user(load_app: Loader, run, stack, secret_name) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app(TOKENS_PER_USER_PER_MINUTE="1")
    other = copy.deepcopy(SIGNED_IN)
    other["requestContext"]["authorizer"]["claims"]["sub"] = "0a1b2c3d-other-user"
    assert [run(app, SIGNED_IN).status, run(app, SIGNED_IN).status, run(app, other).status] == [200, 429, 200]


def test_over_the_daily_cap_is_429_until_midnight_and_others_are_unaffected(
    load_app: Loader, run, stack, secret_name, standin
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app(TOKENS_PER_USER_PER_MINUTE="10", TOKENS_PER_USER_PER_DAY="2")
    other = copy.deepcopy(SIGNED_IN)
    other["requestContext"]["authorizer"]["claims"]["sub"] = "0a1b2c3d-other-user"
    assert [run(app, SIGNED_IN).status for _ in range(2)] == [200, 200]
    before = time.time()
    refused = run(app, SIGNED_IN)
    after = time.time()
    assert (refused.status, refused.body) == (429, {"error": "Daily token limit reached; retry tomorrow"})
    # The seconds to midnight UTC, rounded up, as the function saw them while answering.
    to_midnight = [math.ceil(86_400 - t % 86_400) for t in (after, before)]
    assert to_midnight[0] <= int(refused.headers["Retry-After"]) <= to_midnight[1]
    assert refused.metrics()["DailyQuotaRejections"] == [1.0]
    assert "QuotaRejections" not in refused.metrics()
    assert run(app, other).status == 200
    assert len(standin.requests) == 3


def test_a_failing_quota_table_fails_closed_with_503(
    load_app: Loader, run, stack, secret_name, standin
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    outcome = run(load_app(QUOTA_TABLE_NAME="missing-table"), SIGNED_IN)
    assert (outcome.status, outcome.body) == (503, {"error": "Token service is temporarily unavailable"})
    assert outcome.metrics()["QuotaCheckFailures"] == [1.0]
    assert standin.requests == []


def test_fail_open_issues_the_token_and_counts_the_failure(load_app: Loader, run, stack, secret_name) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    outcome = run(load_app(QUOTA_TABLE_NAME="missing-table", QUOTA_FAIL_OPEN="true"), SIGNED_IN)
    assert outcome.status == 200
    assert outcome.metrics()["QuotaCheckFailures"] == [1.0]
    assert any("Quota check failed" in r.get("message", "") for r in outcome.records())


def test_the_quota_off_needs_no_table(load_app: Loader, run, stack, secret_name) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app(
        TOKENS_PER_USER_PER_MINUTE="0",
        TOKENS_PER_USER_PER_DAY="0",
        DAILY_TOKEN_CEILING="0",
        QUOTA_TABLE_NAME="",
    )
    assert {run(app, SIGNED_IN).status for _ in range(12)} == {200}


def test_cors_headers_on_every_answer_when_an_origin_is_set(
    load_app: Loader, run, stack, secret_name
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app(ALLOWED_ORIGIN="https://app.example.com")
    for outcome in (run(app, SIGNED_IN), run(app, event_file("no_claims.json"))):
        assert outcome.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert outcome.headers["Access-Control-Expose-Headers"] == "Retry-After"
        assert outcome.headers["Vary"] == "Origin"


def test_no_cors_headers_without_an_origin(load_app: Loader, run, stack, secret_name) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    app = load_app(ALLOWED_ORIGIN="")
    for outcome in (run(app, SIGNED_IN), run(app, event_file("no_claims.json"))):
        assert not [h for h in outcome.headers if h.lower().startswith("access-control-")]


@pytest.mark.parametrize(("tracing", "loaded"), [("false", False), ("true", True)])
def test_the_xray_sdk_is_loaded_only_when_tracing_is_on(
    tracing: str, loaded: bool, stack: LocalServices
) -> None:
    """In a fresh interpreter, as a cold start: tracing off must not pay for the X-Ray SDK's import."""
    env = os.environ | stack.function_env(
        {
            "TRACING_ENABLED": tracing,
            "AWS_LAMBDA_FUNCTION_NAME": "TokenFunction",
        }
    )
    # Run from the code directory, as Lambda runs from /var/task: `broker` is found there.
    probe = "import sys, broker.app; print('aws_xray_sdk' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, cwd=CODE_URI
    )
    assert result.stdout.strip().splitlines()[-1] == str(loaded)
