"""Smoke test of a deployed token broker, end to end, from an operator's machine.

    python -m ops.smoke --stack gradium-token-broker-dev --create-user --delete-user

Steps: read the stack's outputs (or take them as flags), sign a test user in to the user pool (with
admin calls, which need your IAM credentials; or, with --user-from-secret, as the app does: SRP with the
app client, the user and password from the secret `make smoke-user` wrote, which is what the pipeline
does), check that the endpoint refuses a request without a token, get a token with the user's ID token,
then (unless --no-websocket) open Gradium's TTS socket with it, send a setup and a short text, check that
audio arrives, and check that a second connection with the same token is refused: a token is single-use.

It never prints a token, the API key, the password or a JWT. The password of an existing user comes
from the SMOKE_PASSWORD variable, never from a flag (flags end up in shell history and `ps`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from ops.preflight import PreflightError, aws_session
from ops.samconfig import SamconfigError
from ops.samconfig import load as load_environment
from ops.smoke_user import DEFAULT_USERNAME, create_user, generated_password, secret_name
from ops.stacks import stack_outputs as outputs_of

DEFAULT_TTS_URL = "wss://api.gradium.ai/api/speech/tts"
DEFAULT_VOICE = "YTpq7expH9539ERJ"
SMOKE_TEXT = "Hello from the Gradium token broker smoke test."
TIMEOUT_SECONDS = 15


class SmokeFailure(Exception):
    """A step failed; the message is safe to print."""


@dataclass
class Redactor:
    """Replaces every secret this run has seen by a placeholder before anything is printed."""

    secrets: set[str] = field(default_factory=set)

    def add(self, value: str | None) -> None:
        if value:
            self.secrets.add(value)

    def __call__(self, text: str) -> str:
        for value in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(value, "[redacted]")
        return text


@dataclass
class Target:
    token_url: str
    user_pool_id: str
    client_id: str


def stack_outputs(stack: str, session: boto3.session.Session) -> Target:
    """TokenUrl, UserPoolId and AppClientId from a deployed stack's outputs."""
    outputs = outputs_of(session.client("cloudformation"), stack)
    missing = {"TokenUrl", "UserPoolId", "AppClientId"} - set(outputs)
    if missing:
        raise SmokeFailure(f"stack {stack} has no output {', '.join(sorted(missing))} (pass them as flags)")
    return Target(outputs["TokenUrl"], outputs["UserPoolId"], outputs["AppClientId"])


def sign_in(
    cognito: Any, target: Target, username: str, password: str | None, create: bool, redact: Redactor
) -> tuple[str, str]:
    """Return (ID token, password), signed in with the operator's admin calls; creates the user first when
    asked (an existing one keeps its account and gets the password)."""
    if create:
        password = password or generated_password()
        create_user(cognito, target.user_pool_id, username, password)
    if not password:
        raise SmokeFailure("set SMOKE_PASSWORD for an existing user, or pass --create-user")
    redact.add(password)
    answer = cognito.admin_initiate_auth(
        UserPoolId=target.user_pool_id,
        ClientId=target.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    id_token = answer.get("AuthenticationResult", {}).get("IdToken")
    if not id_token:
        raise SmokeFailure(f"sign-in needs a further challenge ({answer.get('ChallengeName', 'unknown')})")
    redact.add(id_token)
    return id_token, password


def sign_in_as_the_app(
    cognito: Any, secrets_manager: Any, target: Target, stack_name: str, redact: Redactor
) -> tuple[str, str]:
    """(username, ID token) of the smoke user whose credentials `make smoke-user` kept in the pipeline's
    secret, signed in as the app signs in (USER_SRP_AUTH with the app client): no IAM action on the pool."""
    from pycognito.aws_srp import AWSSRP  # Cognito's SRP, as Amplify does it; only this path needs it

    stored = secrets_manager.get_secret_value(SecretId=secret_name(stack_name))["SecretString"]
    try:
        credentials = json.loads(stored)
        username, password = credentials["username"], credentials["password"]
    except (ValueError, TypeError, KeyError):
        raise SmokeFailure(
            f"{secret_name(stack_name)} holds no username and password: make smoke-user"
        ) from None
    redact.add(password)
    srp = AWSSRP(
        username=username,
        password=password,
        pool_id=target.user_pool_id,
        client_id=target.client_id,
        client=cognito,
    )
    id_token = srp.authenticate_user().get("AuthenticationResult", {}).get("IdToken")
    if not id_token:
        raise SmokeFailure("sign-in needs a further challenge")
    redact.add(id_token)
    return username, id_token


def post(url: str, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": authorization} if authorization else {}
    request = urllib.request.Request(url, data=b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def check_refuses_anonymous(target: Target) -> str:
    status, _, body = post(target.token_url, None)
    if status != 401:
        raise SmokeFailure(f"a request without a token answered {status}, not 401")
    if "error" not in json.loads(body or b"{}"):
        raise SmokeFailure('the 401 body is not {"error": ...}')
    return "401 with a JSON error"


# The broker's 500 when the secret holds no key yet: a new stack's secret is created empty.
NO_KEY_YET = b"Gradium API key is not available"


def get_token(target: Target, id_token: str, redact: Redactor, env: str | None = None) -> tuple[str, str]:
    status, headers, body = post(target.token_url, id_token)
    if status == 500 and NO_KEY_YET in body:
        put_key = f"make put-key ENV={env or '…'}"
        raise SmokeFailure(f"the stack's secret holds no usable Gradium key; put the key first: {put_key}")
    if status != 200:
        raise SmokeFailure(
            f"the token endpoint answered {status}: {redact(body[:200].decode(errors='replace'))}"
        )
    payload = json.loads(body)
    token, expires_at = payload.get("token"), payload.get("expires_at")
    redact.add(token)
    if not isinstance(token, str) or not token or set(payload) != {"token", "expires_at"}:
        raise SmokeFailure("the answer is not exactly {token, expires_at}")
    if {k.lower(): v for k, v in headers.items()}.get("cache-control") != "no-store":
        raise SmokeFailure("the answer lacks Cache-Control: no-store")
    expiry = datetime.fromisoformat(expires_at)
    if expiry.tzinfo is None or expiry <= datetime.now(UTC):
        raise SmokeFailure(f"expires_at {expires_at} is not a future UTC time")
    return token, expires_at


def speak(tts_url: str, token: str, voice_id: str) -> int:
    """Run one TTS session with the token; return the bytes of audio received."""
    audio = 0
    with connect(f"{tts_url}?token={token}", open_timeout=TIMEOUT_SECONDS, close_timeout=5) as socket:
        socket.send(
            json.dumps(
                {"type": "setup", "model_name": "default", "voice_id": voice_id, "output_format": "pcm"}
            )
        )
        first = json.loads(socket.recv(timeout=TIMEOUT_SECONDS))
        if first.get("type") != "ready":
            raise SmokeFailure(
                f"expected ready after setup, got {first.get('type')}: {first.get('message', '')}"
            )
        socket.send(json.dumps({"type": "text", "text": SMOKE_TEXT}))
        socket.send(json.dumps({"type": "end_of_stream"}))
        while True:
            message = json.loads(socket.recv(timeout=TIMEOUT_SECONDS))
            if message.get("type") == "audio":
                audio += len(base64.b64decode(message.get("audio", "")))
            elif message.get("type") == "error":
                raise SmokeFailure(f"Gradium error {message.get('code')}: {message.get('message')}")
            elif message.get("type") == "end_of_stream":
                break
    if audio == 0:
        raise SmokeFailure("the session ended without audio")
    return audio


def check_single_use(tts_url: str, token: str, voice_id: str) -> str:
    """A second connection with a used token must be refused: at the handshake, or after setup."""
    try:
        with connect(f"{tts_url}?token={token}", open_timeout=TIMEOUT_SECONDS, close_timeout=5) as socket:
            socket.send(
                json.dumps(
                    {"type": "setup", "model_name": "default", "voice_id": voice_id, "output_format": "pcm"}
                )
            )
            answer = json.loads(socket.recv(timeout=TIMEOUT_SECONDS))
    except InvalidStatus as refused:
        return f"refused at the handshake ({refused.response.status_code})"
    except ConnectionClosed as closed:
        return f"closed ({closed.rcvd.code if closed.rcvd else 'no close frame'})"
    if answer.get("type") == "error":
        return f"refused with error {answer.get('code')}"
    raise SmokeFailure("a used token opened a second session: tokens are not single-use")


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", help="read TokenUrl, UserPoolId and AppClientId from this stack's outputs")
    parser.add_argument(
        "--env", help="a samconfig.toml environment: its stack, in its region (instead of --stack)"
    )
    parser.add_argument("--token-url", help="the token endpoint (instead of --stack)")
    parser.add_argument("--user-pool-id", help="the Cognito user pool (instead of --stack)")
    parser.add_argument("--client-id", help="the Cognito app client (instead of --stack)")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    parser.add_argument(
        "--username", default=DEFAULT_USERNAME, help=f"test user (default {DEFAULT_USERNAME})"
    )
    parser.add_argument(
        "--user-from-secret",
        action="store_true",
        help="sign in as the app does (SRP), as the user `make smoke-user` keeps in the stack's secret",
    )
    parser.add_argument("--create-user", action="store_true", help="create the user, or reset its password")
    parser.add_argument("--delete-user", action="store_true", help="delete the user at the end")
    parser.add_argument("--no-websocket", action="store_true", help="stop after getting a token")
    parser.add_argument(
        "--tts-url", default=DEFAULT_TTS_URL, help=f"Gradium TTS socket (default {DEFAULT_TTS_URL})"
    )
    parser.add_argument("--voice-id", default=DEFAULT_VOICE, help="Gradium voice for the TTS check")
    args = parser.parse_args(argv)
    redact = Redactor()
    # No such environment, no region, no credentials (or none that AWS takes): one line that says what to
    # do, before any step.
    try:
        if args.env:
            environment = load_environment(args.env)
            args.stack, args.region = environment.stack_name, args.region or environment.region
        region = args.region or boto3.session.Session().region_name
        if not region:
            raise PreflightError("no region: ENV=default|prod names one, or give --region (or AWS_REGION)")
        session = aws_session(region)
    except (PreflightError, SamconfigError) as exc:
        out(f"FAIL preflight: {exc}")
        return 1
    failed = False

    def step(name: str, action: Callable[[], str]) -> None:
        nonlocal failed
        if failed:
            out(f"-  {name}: skipped")
            return
        try:
            out(f"ok {name}: {redact(action())}")
        except SmokeFailure as failure:
            failed = True
            out(f"FAIL {name}: {redact(str(failure))}")
        except Exception as error:  # an SDK or network error: its text may hold anything, so redact
            failed = True
            out(f"FAIL {name}: {type(error).__name__}: {redact(str(error))[:300]}")

    state: dict[str, Any] = {}

    def resolve() -> str:
        if args.stack:
            state["target"] = stack_outputs(args.stack, session)
        elif args.token_url and args.user_pool_id and args.client_id:
            state["target"] = Target(args.token_url, args.user_pool_id, args.client_id)
        else:
            raise SmokeFailure("pass --stack, or --token-url, --user-pool-id and --client-id")
        return state["target"].token_url

    def signed_in() -> str:
        if args.user_from_secret:
            if not args.stack:
                raise SmokeFailure("--user-from-secret needs --stack or --env")
            username, state["id_token"] = sign_in_as_the_app(
                session.client("cognito-idp"),
                session.client("secretsmanager"),
                state["target"],
                args.stack,
                redact,
            )
            return f"{username} has an ID token (SRP, the app's flow)"
        id_token, state["password"] = sign_in(
            session.client("cognito-idp"),
            state["target"],
            args.username,
            os.environ.get("SMOKE_PASSWORD"),
            args.create_user,
            redact,
        )
        state["id_token"] = id_token
        return f"{args.username} has an ID token"

    def token() -> str:
        state["token"], expires_at = get_token(state["target"], state["id_token"], redact, args.env)
        return f"200 with a token that expires at {expires_at}"

    step("stack outputs", resolve)
    step("sign in", signed_in)
    step("endpoint refuses a request without a token", lambda: check_refuses_anonymous(state["target"]))
    step("get a token", token)
    if not args.no_websocket:
        step(
            "TTS session with the token",
            lambda: f"{speak(args.tts_url, state['token'], args.voice_id)} bytes of audio",
        )
        step(
            "the same token is refused again",
            lambda: check_single_use(args.tts_url, state["token"], args.voice_id),
        )
    if args.delete_user and "target" in state:
        failed_before, failed = failed, False  # clean up even after a failed step

        def delete_user() -> str:
            cognito = session.client("cognito-idp")
            cognito.admin_delete_user(UserPoolId=state["target"].user_pool_id, Username=args.username)
            return f"{args.username} deleted"

        step("delete the test user", delete_user)
        failed = failed or failed_before
    out("smoke test failed" if failed else "smoke test passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
