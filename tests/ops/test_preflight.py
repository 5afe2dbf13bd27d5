"""Every target that talks to AWS says what is missing in one line, never with a traceback: no
credentials, no bucket, no stack, no key in the secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from local.serve import local_api
from local.services import moto_client
from ops.smoke import Redactor, SmokeFailure, Target, get_token
from tests.ops.command import run_command

REPO = Path(__file__).resolve().parents[2]


def without_credentials(tmp_path: Path) -> dict[str, str]:
    """An environment in which botocore finds no credentials anywhere (no keys, files, profile or IMDS)."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") or k in ("AWS_REGION", "AWS_DEFAULT_REGION")
    }
    return environ | {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["ops.deploy_guard", "--env", "default"], "deploy guard: no AWS credentials"),
        (["ops.put_api_key", "--env", "default"], "put-key: no AWS credentials"),
        (["ops.publish", "--bucket", "releases", "--region", "us-east-1"], "publish: no AWS credentials"),
        (
            ["ops.publish", "--bucket", "", "--region", "us-east-1"],
            "publish: no bucket: make publish BUCKET=",
        ),
        (["ops.smoke", "--env", "default"], "FAIL preflight: no AWS credentials"),
        (["ops.preflight", "--env", "prod"], "preflight: no AWS credentials"),
    ],
    ids=["deploy", "put-key", "publish", "publish without a bucket", "smoke", "logs"],
)
def test_without_credentials_each_target_says_what_to_do_in_one_line(
    tmp_path: Path, command: list[str], says: str
) -> None:
    result = run_command(*command, env=without_credentials(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode in (1, 2) and says in output, output
    assert "Traceback" not in output and len(output.strip().splitlines()) <= 2, output
    if "credentials" in says:
        assert "aws configure" in output


def test_a_smoke_test_of_a_stack_without_its_key_says_put_key_first() -> None:
    """The pipeline's first run: the stack's secret is created empty, and the broker answers its 500."""
    with local_api() as api:
        secret = api.emulator.env["GRADIUM_API_KEY_SECRET_ID"]
        moto_client(api.stack.moto_url, "secretsmanager").delete_secret(
            SecretId=secret, ForceDeleteWithoutRecovery=True
        )
        target = Target(api.token_url, api.info["user_pool_id"], api.info["app_client_id"])
        with pytest.raises(SmokeFailure, match=r"put the key first: make put-key ENV=default$"):
            get_token(target, api.id_token(), Redactor(), "default")
