"""Amplify JS v6 (npm `aws-amplify`, as apps use it) signs in against `make serve`'s Cognito with the
generated `.aws-sam/amplify_outputs.json`, by SRP and by USER_PASSWORD_AUTH, and gets a Gradium token."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.serve import LocalApi, local_api
from tests.clients.test_typescript_client import HERE, NODE


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    with local_api() as running:
        yield running


def test_the_outputs_are_the_stacks_amplify_outputs_for_the_local_pool(api: LocalApi) -> None:
    outputs = api.info["amplify_outputs"]
    assert outputs["auth"]["user_pool_id"] == api.info["user_pool_id"]
    assert outputs["auth"]["user_pool_client_id"] == api.info["app_client_id"]
    assert outputs["auth"]["password_policy"]["min_length"] == 12  # the template's own output, resolved
    assert outputs["custom"] == {
        "gradium_token_url": api.info["token_url"],
        "user_pool_endpoint": api.info["cognito_endpoint"],
    }


@pytest.mark.parametrize("flow", ["USER_SRP_AUTH", "USER_PASSWORD_AUTH"])
def test_amplify_js_signs_in_and_gets_a_token(api: LocalApi, tmp_path: Path, flow: str) -> None:
    outputs = tmp_path / "amplify_outputs.json"
    outputs.write_text(json.dumps(api.info["amplify_outputs"]))
    env = os.environ | {
        "AMPLIFY_OUTPUTS": str(outputs),
        "USERNAME": api.info["username"],
        "PASSWORD": api.info["password"],
        "AUTH_FLOW": flow,
    }
    result = subprocess.run(
        [NODE, HERE / "amplify_sign_in.mjs"], cwd=HERE, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["signedIn"] is True
    assert answer["status"] == 200 and set(answer["body"]) == {"token", "expires_at"}
