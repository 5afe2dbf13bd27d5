"""`make pause` / `make resume` against Lambda and CloudFormation on a moto server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from local.services import moto_client, moto_server
from tests.ops.command import run_command

REPO = Path(__file__).resolve().parents[2]
STACK = "gradium-token-broker-prod"  # samconfig.toml's prod stack


def code() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def deployed(url: str, reserved: str) -> str:
    """The token function and a stack that names it, with its ReservedConcurrency parameter."""
    role = moto_client(url, "iam").create_role(
        RoleName=f"token-{reserved}", AssumeRolePolicyDocument=json.dumps({"Statement": []})
    )["Role"]["Arn"]
    name = f"{STACK}-TokenFunction-{reserved}"
    moto_client(url, "lambda").create_function(
        FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler", Code={"ZipFile": code()}
    )
    cloudformation = moto_client(url, "cloudformation")
    cloudformation.delete_stack(StackName=STACK)
    template = {
        "Parameters": {"ReservedConcurrency": {"Type": "String"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"TokenFunctionName": {"Value": name}},
    }
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "ReservedConcurrency", "ParameterValue": reserved}],
    )
    return name


def emergency(url: str, action: str) -> subprocess.CompletedProcess[str]:
    return run_ops(url, "ops.emergency", action, "--env", "prod")


def run_ops(url: str, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """An ops command, its AWS calls answered by the moto server at `url`."""
    env = os.environ | {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "x"}
    return run_command(module, *args, env=env)


def concurrency(url: str, name: str) -> Any:
    return (
        moto_client(url, "lambda")
        .get_function_concurrency(FunctionName=name)
        .get("ReservedConcurrentExecutions")
    )


@pytest.mark.parametrize(("reserved", "after"), [("0", None), ("20", 20)])
def test_pause_stops_every_invocation_and_resume_restores_the_stacks_setting(
    reserved: str, after: int | None
) -> None:
    with moto_server() as (url, _):
        name = deployed(url, reserved)
        paused = emergency(url, "pause")
        assert paused.returncode == 0, paused.stderr
        assert concurrency(url, name) == 0 and "make resume ENV=prod" in paused.stdout
        resumed = emergency(url, "resume")
        assert resumed.returncode == 0, resumed.stderr
        assert concurrency(url, name) == after
