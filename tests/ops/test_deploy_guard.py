"""The deploy guard against a real CloudFormation API (a moto server): what it refuses and what it lets by."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.stack import moto_client, moto_server
from ops.deploy_guard import check
from ops.samconfig import SAMCONFIG, Environment, load, set_overrides

POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbC123xyz"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gradium/api-key-AbCdEf"
PARAMETERS = ("ExistingUserPoolArn", "ExistingSecretArn", "ConfigureApiGatewayLogsRole")
# A stand-in for the broker's stack: the guard reads only its status and its parameters.
TEMPLATE = json.dumps(
    {
        "Parameters": {name: {"Type": "String", "Default": ""} for name in PARAMETERS},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as (url, _):
        yield url


@pytest.fixture
def cloudformation(moto_url: str) -> Any:
    return moto_client(moto_url, "cloudformation")


def deployed(cloudformation: Any, name: str, **parameters: str) -> None:
    """The stack `name`, (re)created with these parameter values."""
    cloudformation.delete_stack(StackName=name)
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )


def environment(stack: str, **overrides: str) -> Environment:
    return Environment("prod", stack, "us-east-1", {"StageName": "v1"} | overrides)


def test_a_first_deploy_goes_ahead(cloudformation: Any) -> None:
    assert check(environment("never-deployed"), cloudformation) == []


@pytest.mark.parametrize(
    ("live", "harm"),
    [
        ({"ExistingUserPoolArn": POOL}, "empty user pool"),
        ({"ExistingSecretArn": SECRET}, "empty secret"),
        ({"ConfigureApiGatewayLogsRole": "true"}, "logs role"),
    ],
)
def test_undoing_a_one_time_choice_is_refused_with_the_way_to_keep_it(
    cloudformation: Any, live: dict[str, str], harm: str
) -> None:
    stack = f"guarded-{next(iter(live)).lower()}"
    deployed(cloudformation, stack, **live)
    found = check(environment(stack), cloudformation)
    assert harm in found[0]
    [(name, value)] = live.items()
    assert found[-1] == f'Keep them for good with: make config ENV=prod SET="{name}={value}"'


def test_a_deploy_that_keeps_the_choices_goes_ahead(cloudformation: Any) -> None:
    deployed(cloudformation, "kept", ExistingUserPoolArn=POOL, ConfigureApiGatewayLogsRole="true")
    env = environment("kept", ExistingUserPoolArn=POOL, ConfigureApiGatewayLogsRole="true")
    assert check(env, cloudformation) == []


class FailedFirstDeploy:
    """What CloudFormation describes after a failed first deploy (moto cannot make a stack fail)."""

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackName": StackName, "StackStatus": "ROLLBACK_COMPLETE", "Parameters": []}]}


def test_a_stack_in_rollback_complete_is_explained() -> None:
    [first, second] = check(environment("failed-first"), FailedFirstDeploy())
    assert "ROLLBACK_COMPLETE" in first
    assert "aws cloudformation delete-stack --region us-east-1 --stack-name failed-first" in second


def test_a_one_time_override_kept_with_make_config_passes_every_later_deploy(
    cloudformation: Any, moto_url: str, tmp_path: Path
) -> None:
    """The trap of the issue, end to end: deploy once with a brought-in pool, then deploy plainly."""
    deployed(cloudformation, "gradium-token-broker-prod", ExistingUserPoolArn=POOL)
    samconfig = tmp_path / "samconfig.toml"
    shutil.copy(SAMCONFIG, samconfig)
    assert check(load("prod", samconfig), cloudformation) != []  # a plain deploy would lose the pool
    set_overrides("prod", {"ExistingUserPoolArn": POOL}, samconfig)  # make config, once
    assert check(load("prod", samconfig), cloudformation) == []  # every plain deploy keeps it now


def run_guard(moto_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "AWS_ENDPOINT_URL_CLOUDFORMATION": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return subprocess.run(
        [sys.executable, "-m", "ops.deploy_guard", "--env", "prod", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_command_refuses_and_force_overrides(cloudformation: Any, moto_url: str) -> None:
    deployed(cloudformation, "gradium-token-broker-prod", ExistingUserPoolArn=POOL)
    refused = run_guard(moto_url)
    assert refused.returncode == 1
    assert "ExistingUserPoolArn" in refused.stderr and "make config ENV=prod" in refused.stderr
    forced = run_guard(moto_url, "--force")
    assert forced.returncode == 0 and "anyway" in forced.stderr
