"""The deploy guard against a real CloudFormation API (a moto server): what SAM will send, the diff it
prints, what it refuses and what it lets by."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.services import moto_client, moto_server
from ops import template_parameters
from ops.deploy_guard import check, command_line_overrides
from ops.samconfig import SAMCONFIG, Environment, load, set_overrides
from tests.ops.command import run_command

REPO = Path(__file__).resolve().parents[2]
POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbC123xyz"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gradium/api-key-AbCdEf"
WAF = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/broker/1a2b3c"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# A stand-in for the broker's stack with the template's own parameters: the guard reads its status and
# its parameter values (moto cannot create the broker's resources).
TEMPLATE = json.dumps(
    {
        "Parameters": {
            name: {"Type": "String", "Default": parameter.default}
            for name, parameter in template_parameters.load().items()
        },
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


def test_a_first_deploy_goes_ahead_and_lists_its_settings(cloudformation: Any) -> None:
    verdict = check(environment("never-deployed", RequiredGroup="voice"), cloudformation)
    assert verdict.refusals == []
    assert verdict.diff == ["first deploy of never-deployed", "RequiredGroup: 'voice'"]


@pytest.mark.parametrize(
    ("live", "samconfig", "harm"),
    [
        ({"RequiredGroup": "voice"}, {"RequiredGroup": ""}, "every signed-in user"),
        ({"WebAclArn": WAF}, {"WebAclArn": ""}, "web ACL"),
        ({"ExistingSecretKmsKeyArn": KMS}, {"ExistingSecretKmsKeyArn": ""}, "decrypted"),
        ({"TokensPerUserPerDay": "200"}, {"TokensPerUserPerDay": "0"}, "daily cap"),
        ({"ExistingUserPoolArn": POOL}, {"ExistingUserPoolArn": ""}, "user pool"),
        ({"ExistingSecretArn": SECRET}, {"ExistingSecretArn": SECRET + "x"}, "secret"),
        ({"ConfigureApiGatewayLogsRole": "true"}, {"ConfigureApiGatewayLogsRole": "false"}, "logs role"),
        ({"ReservedConcurrency": "20"}, {"ReservedConcurrency": "0"}, "cap on spend"),
        ({"AllowedClientIds": ""}, {"AllowedClientIds": "*"}, "every app client"),
        ({"SelfSignUp": "false"}, {"SelfSignUp": "true"}, "anyone create an account"),
        # The second review's replays, each through the guard's own check.
        ({"ExistingUserPoolClientId": "4q2h7k9m1n3p"}, {"ExistingUserPoolClientId": ""}, "every app client"),
        (
            {"GradiumTokenUrl": "https://api.gradium.ai/api/api-keys/token"},
            {"GradiumTokenUrl": "https://eu.api.gradium.ai/api/api-keys/token"},
            "API key to another host",
        ),
        ({"QuotaFailOpen": "false"}, {"QuotaFailOpen": "true"}, "without any quota"),
        ({"DailyTokenCeiling": "10000"}, {"DailyTokenCeiling": "0"}, "a whole day's spend"),
    ],
)
def test_a_samconfig_value_that_weakens_the_live_stack_is_refused(
    cloudformation: Any, live: dict[str, str], samconfig: dict[str, str], harm: str
) -> None:
    """The review's cases: samconfig wins over the live value, since SAM sends what it names."""
    [name] = live
    stack = f"weakened-{name.lower()}"
    deployed(cloudformation, stack, **live)
    verdict = check(environment(stack, **samconfig), cloudformation)
    assert harm in verdict.refusals[0]
    assert f"{name}: {live[name]!r} -> {samconfig[name]!r}" in verdict.diff
    assert verdict.refusals[-1] == f'To keep the live values: make config ENV=prod SET="{name}={live[name]}"'


def test_the_reviews_replay_refuses_all_four_at_once(cloudformation: Any) -> None:
    live = {"RequiredGroup": "voice", "WebAclArn": WAF, "ExistingSecretKmsKeyArn": KMS}
    deployed(cloudformation, "review-replay", **live)
    emptied = dict.fromkeys(live, "") | {"TokensPerUserPerDay": "0"}
    refused = check(environment("review-replay", **emptied), cloudformation).refusals
    assert [line.split(":")[0] for line in refused[:-1]] == [
        "RequiredGroup",
        "WebAclArn",
        "ExistingSecretKmsKeyArn",
        "TokensPerUserPerDay",
    ]


def test_a_value_given_once_stays_on_the_stack_and_the_deploy_goes_ahead(cloudformation: Any) -> None:
    """What the guard used to refuse: a parameter samconfig does not name is sent as UsePreviousValue."""
    live = {"ExistingUserPoolArn": POOL, "ExistingSecretArn": SECRET, "ConfigureApiGatewayLogsRole": "true"}
    deployed(cloudformation, "given-once", **live)
    verdict = check(environment("given-once"), cloudformation)
    assert verdict.refusals == [] and verdict.diff == []
    assert {name: verdict.planned[name] for name in live} == live


def test_a_safe_change_is_shown_and_goes_ahead(cloudformation: Any) -> None:
    deployed(cloudformation, "tightened", RequiredGroup="", TokensPerUserPerDay="200")
    verdict = check(environment("tightened", RequiredGroup="voice", TokensPerUserPerDay="50"), cloudformation)
    assert verdict.refusals == []
    # In the template's order (its sections: the token function's before identity's).
    assert verdict.diff == ["TokensPerUserPerDay: '200' -> '50'", "RequiredGroup: '' -> 'voice'"]


def test_command_line_overrides_replace_samconfigs_for_that_run(cloudformation: Any) -> None:
    deployed(cloudformation, "flags", RequiredGroup="voice")
    samconfig_drops_it = environment("flags", RequiredGroup="")
    assert check(samconfig_drops_it, cloudformation).refusals != []
    # With --parameter-overrides, samconfig's list is not sent at all: RequiredGroup keeps its live value.
    flags = ["--no-confirm-changeset", "--parameter-overrides", "StageName=v1 LogLevel=INFO"]
    assert check(samconfig_drops_it, cloudformation, flags).refusals == []
    one_flag = ["--parameter-overrides=RequiredGroup="]
    assert check(environment("flags"), cloudformation, one_flag).refusals != []
    assert command_line_overrides(["--s3-bucket", "b"]) is None


def test_a_misspelt_parameter_is_refused_instead_of_dropped(cloudformation: Any) -> None:
    [refusal] = check(environment("never-deployed", AlarmEmial="ops@example.com"), cloudformation).refusals
    assert "AlarmEmial" in refusal


class FailedFirstDeploy:
    """What CloudFormation describes after a failed first deploy (moto cannot make a stack fail)."""

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackName": StackName, "StackStatus": "ROLLBACK_COMPLETE", "Parameters": []}]}


def test_a_stack_in_rollback_complete_is_explained() -> None:
    [refusal] = check(environment("failed-first"), FailedFirstDeploy()).refusals
    assert "ROLLBACK_COMPLETE" in refusal
    assert "aws cloudformation delete-stack --region us-east-1 --stack-name failed-first" in refusal


def test_a_choice_kept_with_make_config_is_what_every_later_deploy_sends(
    cloudformation: Any, tmp_path: Path
) -> None:
    samconfig = tmp_path / "samconfig.toml"
    shutil.copy(SAMCONFIG, samconfig)
    live = load("prod", samconfig).parameter_overrides | {"ExistingUserPoolArn": POOL}
    deployed(cloudformation, "gradium-token-broker-prod", **live)
    assert check(load("prod", samconfig), cloudformation).refusals == []  # kept by UsePreviousValue
    set_overrides("prod", {"ExistingUserPoolArn": POOL}, samconfig)  # reproducible from any checkout
    assert check(load("prod", samconfig), cloudformation).diff == []


def run_guard(moto_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = os.environ | {
        "AWS_ENDPOINT_URL": moto_url,  # CloudFormation, STS and API Gateway
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return run_command("ops.deploy_guard", "--env", "prod", *args, env=environ | env)


@pytest.fixture
def logs_role(moto_url: str) -> None:
    """The account's API Gateway CloudWatch Logs role is set, as in an account that has one."""
    moto_client(moto_url, "apigateway").update_account(
        patchOperations=[
            {"op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/logs"}
        ]
    )


@pytest.mark.usefixtures("logs_role")
def test_the_command_prints_the_diff_refuses_and_force_overrides(cloudformation: Any, moto_url: str) -> None:
    deployed(cloudformation, "gradium-token-broker-prod", RequiredGroup="voice")
    flags = "--parameter-overrides 'RequiredGroup= LogLevel=DEBUG'"
    refused = run_guard(moto_url, SAM_DEPLOY_FLAGS=flags)
    assert refused.returncode == 1, refused.stderr
    assert "RequiredGroup: 'voice' -> ''" in refused.stderr
    assert "LogLevel: 'INFO' -> 'DEBUG'" in refused.stderr  # the whole diff, not only the refusals
    assert 'make config ENV=prod SET="RequiredGroup=voice"' in refused.stderr
    forced = run_guard(moto_url, "--force", SAM_DEPLOY_FLAGS=flags)
    assert forced.returncode == 0 and "anyway" in forced.stderr
    plain = run_guard(moto_url)  # samconfig does not name RequiredGroup: it stays
    assert plain.returncode == 0, plain.stderr


def test_a_missing_logs_role_is_found_before_the_deploy_fails_on_it(
    cloudformation: Any, moto_url: str
) -> None:
    moto_client(moto_url, "apigateway").update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}]
    )
    cloudformation.delete_stack(StackName="gradium-token-broker-prod")
    refused = run_guard(moto_url)
    assert refused.returncode == 1
    assert 'make config ENV=prod SET="ConfigureApiGatewayLogsRole=true"' in refused.stderr
    taken_on = run_guard(moto_url, SAM_DEPLOY_FLAGS="--parameter-overrides ConfigureApiGatewayLogsRole=true")
    assert taken_on.returncode == 0, taken_on.stderr
