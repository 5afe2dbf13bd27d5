"""The smoke CLI against the local API (`make serve`): the template's endpoint with its Cognito
authorizer, the built function, moto's Cognito and CloudFormation, and Gradium's TTS socket from
local/speech_standin.py speaking for the tokens the local Gradium stand-in mints. Nothing leaves the
machine."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from local.gradium_standin import GradiumStandIn, Reply
from local.serve import LocalApi, local_api
from local.speech_standin import SpeechStandIn
from ops import smoke
from ops.preflight import PreflightError
from ops.smoke_user import make_smoke_user, secret_name

PASSWORD = "Existing-User-Passw0rd"


@dataclass
class World:
    cognito: Any
    cloudformation: Any
    api: LocalApi
    gradium: GradiumStandIn
    tts: SpeechStandIn

    @property
    def pool_id(self) -> str:
        return self.api.info["user_pool_id"]

    @property
    def client_id(self) -> str:
        return self.api.info["app_client_id"]

    def run(self, *flags: str) -> tuple[int, str]:
        lines: list[str] = []
        code = smoke.main(
            [
                "--token-url",
                self.api.token_url,
                "--user-pool-id",
                self.pool_id,
                "--client-id",
                self.client_id,
                "--tts-url",
                self.tts.url,
                *flags,
            ],
            out=lines.append,
        )
        return code, "\n".join(lines)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with local_api() as api:
        assert api.stack.standin is not None
        monkeypatch.setenv("AWS_ENDPOINT_URL", api.stack.moto_url)
        tts = SpeechStandIn(api.stack.standin.issued_tokens).start()  # what the broker got from "Gradium"
        try:
            yield World(
                boto3.client("cognito-idp", region_name="us-east-1"),
                boto3.client("cloudformation", region_name="us-east-1"),
                api,
                api.stack.standin,
                tts,
            )
        finally:
            tts.stop()


def existing_user(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.cognito.admin_create_user(
        UserPoolId=world.pool_id, Username=smoke.DEFAULT_USERNAME, MessageAction="SUPPRESS"
    )
    world.cognito.admin_set_user_password(
        UserPoolId=world.pool_id, Username=smoke.DEFAULT_USERNAME, Password=PASSWORD, Permanent=True
    )
    monkeypatch.setenv("SMOKE_PASSWORD", PASSWORD)


def test_a_working_stack_passes_every_step_and_prints_no_secret(world: World, monkeypatch) -> None:
    existing_user(world, monkeypatch)
    code, output = world.run()
    assert code == 0, output
    assert output.splitlines()[-1] == "smoke test passed"
    steps = [line for line in output.splitlines() if line.startswith(("ok ", "FAIL ", "- "))]
    assert len(steps) == 6 and all(line.startswith("ok ") for line in steps), output
    assert "bytes of audio" in output
    # The stand-in sends a 1008 error, then closes: the client sees one or the other first.
    assert re.search(r"the same token is refused again: (refused with error 1008|closed \(1008\))", output)
    [token] = world.gradium.issued_tokens
    assert token in world.tts.used_tokens
    for secret in (token, PASSWORD, "eyJ"):  # every JWT starts with eyJ
        assert secret not in output


def test_create_and_delete_the_test_user(world: World) -> None:
    code, output = world.run("--create-user", "--delete-user", "--no-websocket")
    assert code == 0, output
    assert "Sm0ke-" not in output  # the generated password
    users = world.cognito.list_users(UserPoolId=world.pool_id)["Users"]
    emails = [attribute["Value"] for user in users for attribute in user["Attributes"]]
    assert smoke.DEFAULT_USERNAME not in emails + [user["Username"] for user in users]
    assert len(users) == 1  # the local API's own test user stays


def test_outputs_come_from_the_stack(world: World, monkeypatch) -> None:
    existing_user(world, monkeypatch)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "TokenUrl": {"Value": world.api.token_url},
            "UserPoolId": {"Value": world.pool_id},
            "AppClientId": {"Value": world.client_id},
        },
    }
    world.cloudformation.create_stack(StackName="broker", TemplateBody=json.dumps(template))
    lines: list[str] = []
    code = smoke.main(["--stack", "broker", "--no-websocket"], out=lines.append)
    assert code == 0, lines
    assert lines[0] == f"ok stack outputs: {world.api.token_url}"


def test_a_failing_endpoint_fails_the_run_and_skips_the_rest(world: World, monkeypatch) -> None:
    existing_user(world, monkeypatch)
    world.gradium.queue(*[Reply(503, b"down")] * 3)  # every attempt of the broker's one request
    code, output = world.run()
    assert code == 1
    assert "FAIL get a token: the token endpoint answered 502" in output
    assert "-  TTS session with the token: skipped" in output
    assert output.splitlines()[-1] == "smoke test failed"


def test_a_reusable_token_fails_the_run(world: World, monkeypatch) -> None:
    existing_user(world, monkeypatch)
    world.tts.enforce_single_use = False
    code, output = world.run()
    assert code == 1
    assert "tokens are not single-use" in output


def test_an_existing_user_needs_smoke_password(world: World, monkeypatch) -> None:
    monkeypatch.delenv("SMOKE_PASSWORD", raising=False)
    code, output = world.run()
    assert code == 1
    assert "FAIL sign in: set SMOKE_PASSWORD" in output


def test_wrong_credentials_fail_without_echoing_them(world: World, monkeypatch) -> None:
    existing_user(world, monkeypatch)
    monkeypatch.setenv("SMOKE_PASSWORD", "Not-The-Passw0rd-123")
    code, output = world.run()
    assert code == 1
    assert "FAIL sign in: NotAuthorizedException" in output
    assert "Not-The-Passw0rd-123" not in output


def test_the_pipelines_user_signs_in_as_the_app_with_no_admin_action(world: World) -> None:
    """The review's fix: the deploy job holds no user-admin action; an administrator makes its user once
    (`make smoke-user`) and the job signs in by SRP with the app client, the password from its secret.
    (moto does not check SRP's proof: that the password is right is shown against AWS, by the pipeline.)"""
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Parameters": {"RequiredGroup": {"Type": "String", "Default": ""}},
        "Outputs": {
            "TokenUrl": {"Value": world.api.token_url},
            "UserPoolId": {"Value": world.pool_id},
            "AppClientId": {"Value": world.client_id},
        },
    }
    world.cloudformation.create_stack(StackName="piped", TemplateBody=json.dumps(template))
    session = boto3.session.Session(region_name="us-east-1")
    session.client("secretsmanager").create_secret(Name=secret_name("piped"))  # as the bootstrap does
    assert make_smoke_user(session, "piped") == secret_name("piped")
    calls = world.api.stack.aws_calls
    admin_before = sum(n for target, n in calls.items() if ".Admin" in target)
    code, output = world.run("--stack", "piped", "--user-from-secret")
    assert code == 0, output
    assert "(SRP, the app's flow)" in output
    assert sum(n for target, n in calls.items() if ".Admin" in target) == admin_before
    assert calls["AWSCognitoIdentityProviderService.RespondToAuthChallenge"] >= 1
    stored = json.loads(
        session.client("secretsmanager").get_secret_value(SecretId=secret_name("piped"))["SecretString"]
    )
    assert stored["password"] not in output and "eyJ" not in output


def test_the_smoke_user_is_made_by_an_administrator_into_the_required_group(world: World) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Parameters": {"RequiredGroup": {"Type": "String", "Default": "voice"}},
        "Outputs": {"UserPoolId": {"Value": world.pool_id}},
    }
    world.cloudformation.create_stack(StackName="grouped", TemplateBody=json.dumps(template))
    world.cognito.create_group(UserPoolId=world.pool_id, GroupName="voice")
    session = boto3.session.Session(region_name="us-east-1")
    with pytest.raises(PreflightError, match="bootstrap"):  # no secret yet: the bootstrap makes it
        make_smoke_user(session, "grouped")
    session.client("secretsmanager").create_secret(Name=secret_name("grouped"))
    make_smoke_user(session, "grouped")
    groups = world.cognito.admin_list_groups_for_user(
        UserPoolId=world.pool_id, Username=smoke.DEFAULT_USERNAME
    )
    assert [group["GroupName"] for group in groups["Groups"]] == ["voice"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--env", "staging"], "samconfig.toml has no environment 'staging': ENV is one of default, prod"),
        (["--stack", "foo"], "no region: ENV=default|prod names one, or give --region (or AWS_REGION)"),
    ],
)
def test_no_environment_or_no_region_is_one_line_before_any_step(monkeypatch, args, said) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")  # no profile region either
    lines: list[str] = []
    assert smoke.main(args, out=lines.append) == 1
    assert lines == [f"FAIL preflight: {said}"]
