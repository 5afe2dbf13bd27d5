"""`make put-key` against Secrets Manager and CloudFormation on a moto server: the key goes in from stdin,
checked as the function checks it, never echoed."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.services import moto_client, moto_server
from tests.ops.command import run_command

REPO = Path(__file__).resolve().parents[2]
KEY = "gd_live_0123456789abcdefghijklmnop"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as (url, _):
        yield url


def put_key(moto_url: str, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "AWS_ENDPOINT_URL_CLOUDFORMATION": moto_url,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
        "AWS_ENDPOINT_URL_STS": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return run_command("ops.put_api_key", *args, env=env, stdin=stdin)


def secret_value(moto_url: str, secret_id: str) -> str:
    return moto_client(moto_url, "secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]


def test_the_key_goes_into_the_stacks_secret_from_stdin(moto_url: str) -> None:
    secrets: Any = moto_client(moto_url, "secretsmanager")
    arn = secrets.create_secret(Name="gradium-token-broker-dev/gradium-api-key")["ARN"]
    moto_client(moto_url, "cloudformation").create_stack(
        StackName="gradium-token-broker-dev",
        TemplateBody=json.dumps(
            {
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"SecretArn": {"Value": arn}},
            }
        ),
    )
    result = put_key(moto_url, KEY + "\n")  # a file's or a pipe's trailing newline is dropped
    assert result.returncode == 0, result.stderr
    assert secret_value(moto_url, arn) == KEY
    assert KEY not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("typed", "reason"),
    [("gd_first\ngd_second", "malformed"), ("gd_smart\u201dquote", "malformed"), ("", "no API key")],
    ids=["two lines", "a pasted smart quote", "nothing"],
)
def test_a_key_the_function_would_refuse_is_not_stored(moto_url: str, typed: str, reason: str) -> None:
    secrets: Any = moto_client(moto_url, "secretsmanager")
    name = f"refused-{abs(hash(typed))}"
    secrets.create_secret(Name=name, SecretString="gd_previous_key")
    # Only the first line is read from a pipe, so a two-line paste arrives in one line here.
    result = put_key(moto_url, typed.replace("\n", " "), "--secret-id", name)
    assert result.returncode == 1
    assert reason in result.stderr
    assert secret_value(moto_url, name) == "gd_previous_key"
    for part in typed.split():
        assert part not in result.stdout + result.stderr
