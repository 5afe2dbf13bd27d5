"""Amplify JS v6 (npm `aws-amplify`, as apps use it) signs in against `make serve`'s Cognito with the
generated `.aws-sam/amplify_outputs.json`, by SRP and by USER_PASSWORD_AUTH, and gets a Gradium token."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.sam_template import SOURCE_TEMPLATE, Template
from local.serve import LocalApi, local_api
from tests.clients.runners import HERE, NODE


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


def amplify_reads(outputs: dict, tmp_path: Path) -> dict:
    """What Amplify JS's own parser makes of the outputs, and whether signInWithRedirect would accept them."""
    path = tmp_path / "amplify_outputs.json"
    path.write_text(json.dumps(outputs))
    result = subprocess.run(
        [NODE, HERE / "amplify_oauth_config.mjs"],
        cwd=HERE,
        env=os.environ | {"AMPLIFY_OUTPUTS": str(path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def stack_outputs(overrides: dict[str, str]) -> dict:
    """The template's AmplifyOutputs for these parameters, as CloudFormation resolves it."""
    template = Template.load(SOURCE_TEMPLATE, overrides, "eu-west-1")
    names = {
        "UserPool": "eu-west-1_AbC123",
        "UserPoolAppClient": "4q2h7k9m1n3p5r7t9v1x3z5b7d",
        "TokenApi": "a1",
    }
    return json.loads(template.output("AmplifyOutputs", names))


def test_with_a_hosted_ui_amplify_can_sign_in_by_redirect(tmp_path: Path) -> None:
    outputs = stack_outputs(
        {
            "HostedUiDomainPrefix": "voice-app",
            "OAuthCallbackUrls": "https://app.example.com/callback,http://localhost:5173/",
            "OAuthLogoutUrls": "https://app.example.com/",
        }
    )
    read = amplify_reads(outputs, tmp_path)
    assert read["valid"] is True
    assert read["oauth"] == {
        "domain": "voice-app.auth.eu-west-1.amazoncognito.com",
        "scopes": ["openid", "email", "profile"],
        "redirectSignIn": ["https://app.example.com/callback", "http://localhost:5173/"],
        "redirectSignOut": ["https://app.example.com/"],
        "responseType": "code",
        "providers": [],
    }


def test_without_a_hosted_ui_there_is_no_oauth_to_configure(tmp_path: Path) -> None:
    read = amplify_reads(stack_outputs({}), tmp_path)
    assert (read["oauth"], read["valid"]) == (None, False)
