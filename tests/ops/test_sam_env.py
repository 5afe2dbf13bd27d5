"""`make sam-env`: a deployed stack's function variables and a caller it accepts, for `sam local invoke`,
read from Lambda and CloudFormation on a moto server."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

from local.services import moto_client, moto_server
from tests.ops.test_emergency import code, run_ops

STACK = "gradium-token-broker-prod"  # samconfig.toml's prod stack
VARIABLES = {
    "GRADIUM_API_KEY_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gradium-AbCdEf",
    "GRADIUM_TOKEN_URL": "https://api.gradium.ai/api/api-keys/token",
    "ALLOWED_CLIENT_IDS": "5prodclient0000000000000000",
    "REQUIRED_GROUP": "voice-users",
    "QUOTA_TABLE_NAME": f"{STACK}-QuotaTable-1ABC",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER": "",
}


def deploy(url: str, with_monitor: bool) -> None:
    """The token function (and the credits monitor) with their variables, and a stack naming them."""
    role = moto_client(url, "iam").create_role(
        RoleName=f"sam-env-{with_monitor}", AssumeRolePolicyDocument=json.dumps({"Statement": []})
    )["Role"]["Arn"]
    outputs = {"UserPoolId": {"Value": "eu-west-1_Prod12345"}}
    for function, variables in [
        ("TokenFunction", VARIABLES),
        ("CreditsMonitorFunction", {"GRADIUM_TOKEN_URL": VARIABLES["GRADIUM_TOKEN_URL"]}),
    ][: 2 if with_monitor else 1]:
        name = f"{STACK}-{function}-{with_monitor}"
        moto_client(url, "lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role,
            Handler="broker.app.handler",
            Code={"ZipFile": code()},
            Environment={"Variables": variables},
        )
        outputs[f"{function}Name"] = {"Value": name}
    cloudformation = moto_client(url, "cloudformation")
    cloudformation.delete_stack(StackName=STACK)
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template))


def sam_env(url: str, out_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_ops(url, "ops.sam_env", "--env", "prod", "--out-dir", str(out_dir))


def test_the_files_hold_the_deployed_variables_and_a_caller_the_stack_accepts(tmp_path: Path) -> None:
    with moto_server() as (url, _):
        deploy(url, with_monitor=True)
        result = sam_env(url, tmp_path)
    assert result.returncode == 0, result.stderr
    env_file, event_file = tmp_path / "sam-env-prod.json", tmp_path / "signed_in-prod.json"
    variables = json.loads(env_file.read_text())
    assert variables["TokenFunction"] == VARIABLES
    assert variables["CreditsMonitorFunction"] == {"GRADIUM_TOKEN_URL": VARIABLES["GRADIUM_TOKEN_URL"]}
    claims = json.loads(event_file.read_text())["requestContext"]["authorizer"]["claims"]
    assert claims["aud"] == "5prodclient0000000000000000"
    assert claims["cognito:groups"] == "voice-users"
    assert claims["iss"].endswith(".amazonaws.com/eu-west-1_Prod12345")
    for path in (env_file, event_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"--env-vars {env_file}" in result.stdout and f"-e {event_file}" in result.stdout


def test_a_stack_without_the_credits_monitor_gives_the_token_function_alone(tmp_path: Path) -> None:
    with moto_server() as (url, _):
        deploy(url, with_monitor=False)
        result = sam_env(url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert set(json.loads((tmp_path / "sam-env-prod.json").read_text())) == {"TokenFunction"}


def test_no_stack_is_one_line_saying_so(tmp_path: Path) -> None:
    with moto_server() as (url, _):
        moto_client(url, "cloudformation").delete_stack(StackName=STACK)  # moto's state is per process
        result = sam_env(url, tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"sam-env: no stack {STACK} in ") and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())
