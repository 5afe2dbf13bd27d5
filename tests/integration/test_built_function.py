"""The built artifact (`sam build` output) under the Lambda Runtime Interface Emulator.

Every file in events/ runs through the real runtime client with the real layer; Secrets Manager is a
moto server and Gradium the loopback stand-in. These are the tests that catch a package missing from
the layer, a handler path that does not resolve, or init work that breaks under the real runtime.
"""

from __future__ import annotations

import copy
import json
import math
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.lambda_emulator import LambdaEmulator
from local.paths import BUILD_DIR, EVENTS_DIR
from local.services import STANDIN_API_KEY, LocalServices, local_services

# What each event in events/ must produce with events/env.json's settings; a new event needs a line here.
EXPECTED_STATUS = {
    "signed_in.json": 200,
    "no_claims.json": 401,
    "wrong_group.json": 403,
    "other_app_client.json": 403,  # ALLOWED_CLIENT_IDS lists signed_in.json's app client only
}


def test_the_layers_do_not_shadow_the_runtimes_sdk() -> None:
    """boto3/botocore come from the runtime; a copy in /opt/python would replace them, mismatched."""
    for layer in (BUILD_DIR / "DependenciesLayer" / "python", BUILD_DIR / "TracingLayer" / "python"):
        assert layer.is_dir(), f"{layer} is missing: run `make build`"
        assert not [p.name for p in layer.iterdir() if p.name.startswith(("boto3", "botocore", "s3transfer"))]


def test_the_tracing_layer_carries_wrapts_extension_for_either_architecture() -> None:
    """The Architecture parameter picks arm64 or x86_64; the one built layer serves both."""
    extensions = sorted(p.name for p in (BUILD_DIR / "TracingLayer" / "python" / "wrapt").glob("*.so"))
    assert extensions == [
        "_wrappers.cpython-313-aarch64-linux-gnu.so",
        "_wrappers.cpython-313-x86_64-linux-gnu.so",
    ]


def test_the_build_ships_compiled_modules() -> None:
    """Lambda cannot write .pyc files, so `make build` ships them for the code and the layer."""
    for module in (
        "TokenFunction/broker/app.py",
        "DependenciesLayer/python/aws_lambda_powertools/logging/logger.py",
    ):
        source = BUILD_DIR / module
        assert list((source.parent / "__pycache__").glob(f"{source.stem}.cpython-313*.pyc")), module


def test_each_function_ships_the_broker_package_and_nothing_else() -> None:
    """CodeUri is functions/: the package, and no record of make venv's editable install (aws_lambda_builders
    leaves *.egg-info out: python_pip/workflow.py EXCLUDED_FILES)."""
    for function in ("TokenFunction", "CreditsMonitorFunction"):
        assert sorted(p.name for p in (BUILD_DIR / function).iterdir()) == ["broker", "requirements.txt"]


def event_files() -> list[Path]:
    return sorted(p for p in EVENTS_DIR.glob("*.json") if p.name != "env.json")


@pytest.fixture(scope="module")
def running_stack() -> Iterator[LocalServices]:
    with local_services() as stack:
        yield stack


@pytest.fixture
def function_env(running_stack: LocalServices) -> Callable[..., dict[str, str]]:
    """The function's environment with a quota table of its own, so tests do not share counters."""

    def make(**overrides: str) -> dict[str, str]:
        table = f"quota-{uuid.uuid4().hex[:8]}"
        return running_stack.provision(STANDIN_API_KEY, {"QUOTA_TABLE_NAME": table}) | overrides

    return make


def test_every_event_has_an_expected_status() -> None:
    assert {p.name for p in event_files()} == set(EXPECTED_STATUS)


@pytest.mark.parametrize("event_path", event_files(), ids=lambda p: p.name)
def test_each_event_through_the_built_function(function_env, event_path: Path) -> None:
    with LambdaEmulator(function_env()) as emulator:
        answer = emulator.invoke(json.loads(event_path.read_text())).response
    assert answer["statusCode"] == EXPECTED_STATUS[event_path.name], answer
    assert answer["headers"]["Content-Type"] == "application/json"
    assert answer["headers"]["Cache-Control"] == "no-store"
    body = json.loads(answer["body"])
    if answer["statusCode"] == 200:
        assert set(body) == {"token", "expires_at"}
    else:
        assert set(body) == {"error"}


def test_warm_invocations_reuse_one_connection_and_mint_fresh_tokens(
    running_stack: LocalServices, function_env
) -> None:
    standin = running_stack.standin
    assert standin is not None
    connections_before = standin.connections
    secret_reads_before = running_stack.aws_calls["secretsmanager.GetSecretValue"]
    event = json.loads((EVENTS_DIR / "signed_in.json").read_text())
    with LambdaEmulator(function_env()) as emulator:
        tokens = [json.loads(emulator.invoke(event).response["body"])["token"] for _ in range(10)]
    assert len(set(tokens)) == 10
    assert standin.connections - connections_before == 1
    assert running_stack.aws_calls["secretsmanager.GetSecretValue"] - secret_reads_before == 1


def test_logs_of_the_built_function_never_hold_secrets(function_env) -> None:
    """Even with the event logging switch on and DEBUG level, as an operator debugging might set."""
    env = function_env(POWERTOOLS_LOGGER_LOG_EVENT="true", POWERTOOLS_LOG_LEVEL="DEBUG")
    events = [json.loads(p.read_text()) for p in event_files()]
    jwt = json.loads((EVENTS_DIR / "signed_in.json").read_text())["headers"]["Authorization"]
    with LambdaEmulator(env) as emulator:
        answers = [emulator.invoke(event).response for event in events]
        logs = emulator.logs()
    tokens = [json.loads(a["body"])["token"] for a in answers if a["statusCode"] == 200]
    assert tokens, "no token was issued, so the check below would prove nothing"
    assert '"audit":"token_issued"' in logs and "REPORT RequestId" in logs
    for secret in (STANDIN_API_KEY, jwt, jwt.split(".")[1], *tokens):
        assert secret not in logs


def test_a_cold_start_is_timed(function_env) -> None:
    event = json.loads((EVENTS_DIR / "signed_in.json").read_text())
    with LambdaEmulator(
        function_env(TOKENS_PER_USER_PER_MINUTE="1000", TOKENS_PER_USER_PER_DAY="0")
    ) as emulator:
        cold = emulator.invoke(event)
        warm = [emulator.invoke(event).elapsed_ms for _ in range(20)]
        init_ms = emulator.init_duration_ms()
    assert init_ms is not None and init_ms > 0
    warm.sort()
    print(
        f"\nbuilt function: cold {cold.elapsed_ms:.0f} ms (init {init_ms:.0f} ms), warm p50 {warm[10]:.1f} ms"
    )
    assert warm[10] < cold.elapsed_ms


@pytest.mark.usefixtures("within_one_minute")
def test_the_quota_answers_429_with_retry_after(function_env) -> None:
    event = json.loads((EVENTS_DIR / "signed_in.json").read_text())
    with LambdaEmulator(function_env(TOKENS_PER_USER_PER_MINUTE="3")) as emulator:
        answers = [emulator.invoke(event).response for _ in range(4)]
    assert [a["statusCode"] for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[3]["headers"]["Retry-After"]) <= 60
    assert json.loads(answers[3]["body"]) == {"error": "Too many token requests; retry later"}


def test_the_daily_cap_answers_429_until_midnight_and_spares_other_users(function_env) -> None:
    event = json.loads((EVENTS_DIR / "signed_in.json").read_text())
    other = copy.deepcopy(event)
    other["requestContext"]["authorizer"]["claims"]["sub"] = "7d1e0c6a-another-user"
    with LambdaEmulator(function_env(TOKENS_PER_USER_PER_DAY="2")) as emulator:
        answers = [emulator.invoke(event).response for _ in range(2)]
        before = time.time()
        answers.append(emulator.invoke(event).response)
        after = time.time()
        others = emulator.invoke(other).response
    assert [a["statusCode"] for a in answers] == [200, 200, 429]
    # The seconds to midnight UTC, rounded up, as the function saw them while answering.
    to_midnight = [math.ceil(86_400 - t % 86_400) for t in (after, before)]
    assert to_midnight[0] <= int(answers[2]["headers"]["Retry-After"]) <= to_midnight[1]
    assert json.loads(answers[2]["body"]) == {"error": "Daily token limit reached; retry tomorrow"}
    assert others["statusCode"] == 200


def test_the_daily_ceiling_holds_for_all_users_together_and_calls_gradium_no_more(
    function_env, running_stack: LocalServices
) -> None:
    """Several users, one ceiling: past it everyone gets the service's 429 until midnight, Gradium is not
    called, and two environments (a scale-out) share the one count."""
    event = json.loads((EVENTS_DIR / "signed_in.json").read_text())

    def as_user(number: int) -> dict[str, Any]:
        other = copy.deepcopy(event)
        other["requestContext"]["authorizer"]["claims"]["sub"] = f"7d1e0c6a-0000-4000-8000-{number:012d}"
        return other

    standin = running_stack.standin
    assert standin is not None
    env = function_env(DAILY_TOKEN_CEILING="5", TOKENS_PER_USER_PER_DAY="3")
    with LambdaEmulator(env) as first, LambdaEmulator(env) as second:
        minted_before = len(standin.issued_tokens)
        answers = [
            environment.invoke(as_user(n % 3)).response for n, environment in enumerate([first, second] * 3)
        ]
        minted = len(standin.issued_tokens) - minted_before
        before = time.time()
        late = [first.invoke(as_user(7)).response, second.invoke(as_user(8)).response]
        after = time.time()
        assert len(standin.issued_tokens) - minted_before == minted  # no Gradium call past the ceiling
        logs = first.logs() + second.logs()
    assert [a["statusCode"] for a in answers] == [200] * 5 + [429]
    assert minted == 5
    to_midnight = [math.ceil(86_400 - t % 86_400) for t in (after, before)]
    for answer in [answers[-1], *late]:
        assert answer["statusCode"] == 429
        assert json.loads(answer["body"]) == {
            "error": "The service's daily token limit is reached for everyone; retry tomorrow"
        }
        assert to_midnight[0] <= int(answer["headers"]["Retry-After"]) <= to_midnight[1]
    assert '"DailyCeilingRejections"' in logs  # the alarm's metric


def test_without_a_quota_no_table_is_needed(running_stack: LocalServices) -> None:
    env = running_stack.provision(
        STANDIN_API_KEY,
        {
            "TOKENS_PER_USER_PER_MINUTE": "0",
            "TOKENS_PER_USER_PER_DAY": "0",
            "DAILY_TOKEN_CEILING": "0",
            "QUOTA_TABLE_NAME": "",
        },
    )
    event = json.loads((EVENTS_DIR / "signed_in.json").read_text())
    with LambdaEmulator(env) as emulator:
        assert [emulator.invoke(event).response["statusCode"] for _ in range(12)] == [200] * 12
