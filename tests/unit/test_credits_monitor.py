"""The credits monitor in-process: Secrets Manager on a moto server, Gradium as a real HTTP stand-in."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from local.gradium_standin import CREDITS_PATH, GradiumStandIn, Reply
from local.services import STANDIN_API_KEY, LocalServices
from tests.unit.harness import FakeContext, emitted_metrics, json_records

SCHEDULED = {"check": "gradium-credits"}


@dataclass
class Run:
    result: dict[str, Any]
    output: str

    def metrics(self) -> dict[str, Any]:
        return emitted_metrics(self.output)


@pytest.fixture
def monitor(
    monkeypatch: pytest.MonkeyPatch,
    stack: LocalServices,
    standin: GradiumStandIn,
    secret_name: str,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    """Load credits_monitor.py afresh (a new environment) with `overrides`, then run it once."""

    def run(**overrides: str) -> Run:
        env = {
            "GRADIUM_API_KEY_SECRET_ID": secret_name,
            "GRADIUM_TOKEN_URL": standin.token_url,
            "GRADIUM_TIMEOUT_SECONDS": "2",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": stack.moto_url,
            "POWERTOOLS_SERVICE_NAME": f"test-{uuid.uuid4().hex[:8]}",
            "POWERTOOLS_METRICS_NAMESPACE": "GradiumTokenBroker",
        } | overrides
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        from broker import credits_monitor

        module: ModuleType = importlib.reload(credits_monitor)
        capsys.readouterr()
        result = module.handler(SCHEDULED, FakeContext(function_name="CreditsMonitorFunction"))
        captured = capsys.readouterr()
        return Run(result, captured.out + captured.err)

    return run


def test_publishes_the_balance_as_documented(monitor, stack: LocalServices, secret_name, standin) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    run = monitor()
    assert run.result == {"status": "ok", "remaining_credits": 84250.0, "allocated_credits": 100000.0}
    metrics = run.metrics()
    assert metrics["GradiumCreditsRemaining"] == [84250.0]
    assert metrics["GradiumCreditsAllocated"] == [100000.0]
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "GradiumTokenBroker"
    assert "CreditsCheckFailures" not in metrics
    [request] = standin.requests
    assert (request.path, request.headers["x-api-key"]) == (CREDITS_PATH, STANDIN_API_KEY)
    assert STANDIN_API_KEY not in run.output


def test_takes_the_published_clients_spelling(monitor, stack: LocalServices, secret_name, standin) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    standin.credits = {"remaining": 12, "allocated": 500}
    run = monitor()
    assert run.metrics()["GradiumCreditsRemaining"] == [12.0]
    assert run.metrics()["GradiumCreditsAllocated"] == [500.0]


def test_without_an_allocation_only_the_remainder_is_published(
    monitor, stack: LocalServices, secret_name, standin
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    standin.credits = {"remaining_credits": 0}
    run = monitor()
    assert run.result == {"status": "ok", "remaining_credits": 0.0}
    assert run.metrics()["GradiumCreditsRemaining"] == [0.0]
    assert "GradiumCreditsAllocated" not in run.metrics()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(500, b"error from server 1011: internal"), "UpstreamError"),
        (Reply(401, {"detail": "API key is revoked or expired"}), "UpstreamRejectedKey"),
        (Reply(200, {"remaining_credits": "lots"}), "UpstreamError"),
        (Reply(200, {"remaining_credits": True}), "UpstreamError"),
        (Reply(200, {"remaining_credits": -5}), "UpstreamError"),
        (Reply(200, {"remaining_credits": -5, "remaining": 10}), "UpstreamError"),
        (Reply(200, {"remaining_credits": 1e308}), "UpstreamError"),
        (Reply(200, {"remaining_credits": 1e-200}), "UpstreamError"),
        (Reply(200, b"[" * 20_000), "UpstreamError"),
        (Reply(200, {"remaining_credits": 1}, delay=4), "UpstreamTimeout"),
    ],
    ids=[
        "500 text",
        "401",
        "a string",
        "a boolean",
        "negative",
        "negative beside the other spelling",
        "over cloudwatch's range",
        "under cloudwatch's range",
        "deep nesting",
        "a timeout",
    ],
)
def test_a_failed_check_is_counted_and_leaks_nothing(
    monitor, stack: LocalServices, secret_name, standin, reply: Reply, error: str
) -> None:
    stack.put_api_key(secret_name, STANDIN_API_KEY)
    standin.queue(*[reply] * 3)
    run = monitor()
    assert run.result["status"] == "failed"
    metrics = run.metrics()
    assert metrics["CreditsCheckFailures"] == [1.0]
    assert "GradiumCreditsRemaining" not in metrics
    [failure] = [r for r in json_records(run.output) if r.get("message") == "Credits check failed"]
    assert failure["error"] == error
    for leak in (STANDIN_API_KEY, "revoked", "error from server"):
        assert leak not in run.output and leak not in str(run.result)


def test_a_missing_secret_is_a_counted_failure(monitor) -> None:
    run = monitor()
    assert run.result == {"status": "failed", "error": "Gradium API key is not available"}
    assert run.metrics()["CreditsCheckFailures"] == [1.0]


def test_a_refused_configuration_is_a_counted_failure(monitor) -> None:
    run = monitor(GRADIUM_TOKEN_URL="http://gradium.example.com/token")  # plain http off loopback
    assert run.result == {"status": "failed", "error": "Token service is misconfigured"}
    assert run.metrics()["CreditsCheckFailures"] == [1.0]
