"""docs/openapi.yaml is a valid OpenAPI document, and the built function's real answers match it.

Every status the document promises is produced by the built function under the Lambda emulator
(401 by the function itself, as when no authorizer ran) and checked: body schema and headers.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, validate
from openapi_spec_validator import validate as validate_spec

from local.gradium_standin import Reply
from local.lambda_emulator import LambdaEmulator
from local.paths import EVENTS_DIR
from local.services import STANDIN_API_KEY, LocalServices, local_services

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())
OPERATION = SPEC["paths"]["/gradium-token"]["post"]
SIGNED_IN = json.loads((EVENTS_DIR / "signed_in.json").read_text())


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def check_against_spec(answer: dict[str, Any]) -> None:
    status = str(answer["statusCode"])
    assert status in OPERATION["responses"], f"{status} is not in docs/openapi.yaml"
    response = OPERATION["responses"][status]
    schema = resolve(response["content"]["application/json"]["schema"])
    validate(
        json.loads(answer["body"]), schema, cls=OAS30Validator, format_checker=OAS30Validator.FORMAT_CHECKER
    )
    headers = {name.lower(): value for name, value in answer["headers"].items()}
    assert headers["content-type"] == "application/json"
    for name, spec in response.get("headers", {}).items():
        spec = resolve(spec)
        if spec.get("required") or (name == "Retry-After" and status != "503"):
            assert name.lower() in headers, f"{status} lacks {name}"
        if name.lower() in headers:
            value: Any = headers[name.lower()]
            value = int(value) if spec["schema"].get("type") == "integer" else value
            validate(value, spec["schema"], cls=OAS30Validator)


def test_the_document_is_valid_openapi() -> None:
    validate_spec(SPEC)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalServices]:
    with local_services() as running:
        yield running


@pytest.fixture
def answer(stack: LocalServices) -> Callable[..., dict[str, Any]]:
    """The built function's answer to the last of `calls` invocations of `event`, in a new environment."""

    def invoke(
        event: Any = SIGNED_IN, secret: str | None = STANDIN_API_KEY, calls: int = 1, **overrides: str
    ) -> dict[str, Any]:
        names = {
            "GRADIUM_API_KEY_SECRET_ID": f"contract/{uuid.uuid4().hex[:8]}",
            "QUOTA_TABLE_NAME": f"quota-{uuid.uuid4().hex[:8]}",
        }
        # Overrides come after provisioning: a table they name (a missing one, say) is not created.
        env = stack.provision(secret, names) | overrides
        with LambdaEmulator(env) as emulator:
            return [emulator.invoke(event).response for _ in range(calls)][-1]

    return invoke


def expect(status: int, answer: dict[str, Any]) -> None:
    assert answer["statusCode"] == status, answer
    check_against_spec(answer)


def test_200(answer) -> None:
    expect(200, answer())


def test_400(answer) -> None:
    expect(400, answer(["not", "a", "proxy", "event"]))


def test_401(answer) -> None:
    expect(401, answer(json.loads((EVENTS_DIR / "no_claims.json").read_text())))


def test_403(answer) -> None:
    expect(403, answer(json.loads((EVENTS_DIR / "wrong_group.json").read_text())))


@pytest.mark.usefixtures("within_one_minute")
def test_429(answer) -> None:
    expect(429, answer(calls=2, TOKENS_PER_USER_PER_MINUTE="1"))


def test_429_from_the_daily_cap(answer) -> None:
    """Its Retry-After runs to midnight: far above Gradium's 600 s, and within the contract."""
    expect(429, answer(calls=2, TOKENS_PER_USER_PER_DAY="1"))


def test_500(answer) -> None:
    expect(500, answer(secret=None))


def test_502(answer, stack: LocalServices) -> None:
    assert stack.standin is not None
    stack.standin.queue(*[Reply(503, b"down")] * 3)
    expect(502, answer())


def test_503(answer) -> None:
    expect(503, answer(QUOTA_TABLE_NAME="no-such-table"))


def test_503_from_the_circuit_breaker(stack: LocalServices) -> None:
    assert stack.standin is not None
    env = stack.provision(STANDIN_API_KEY, {"GRADIUM_API_KEY_SECRET_ID": f"contract/{uuid.uuid4().hex[:8]}"})
    env |= {
        "TOKENS_PER_USER_PER_MINUTE": "0",
        "TOKENS_PER_USER_PER_DAY": "0",
        "DAILY_TOKEN_CEILING": "0",
        "QUOTA_TABLE_NAME": "",
        "GRADIUM_BREAKER_FAILURES": "1",
    }
    stack.standin.queue(*[Reply(503, b"down")] * 3)
    with LambdaEmulator(env) as emulator:
        assert emulator.invoke(SIGNED_IN).response["statusCode"] == 502  # the failure that opens it
        answer = emulator.invoke(SIGNED_IN).response
    expect(503, answer)
    assert json.loads(answer["body"]) == {"error": "Gradium token service is unavailable"}
    assert 1 <= int(answer["headers"]["Retry-After"]) <= 10


def test_504(answer, stack: LocalServices) -> None:
    assert stack.standin is not None
    stack.standin.queue(Reply(200, {"token": "late", "expires_at": "2026-05-23T12:00:00Z"}, delay=2))
    expect(504, answer(GRADIUM_TIMEOUT_SECONDS="0.5"))


def test_every_documented_status_is_exercised() -> None:
    exercised = {int(name.removeprefix("test_")) for name in globals() if re.fullmatch(r"test_\d{3}", name)}
    assert exercised == {int(status) for status in OPERATION["responses"]}
