"""`make serve`: the template's REST API on localhost, Docker-free, as close to API Gateway as we can make it.

Routes, stage, CORS preflight and gateway responses come from `sam build`'s template with the parameter
overrides applied. The Cognito authorizer checks real RS256 ID tokens (moto's Cognito, signing with this
checkout's own key, by default; or a real pool with USER_POOL_ID). The built function runs warm under the
Lambda Runtime Interface Emulator, its logs on the console. Secrets Manager and DynamoDB are a moto server
that answers no web page; Cognito is moto's too, behind an endpoint that answers what real Cognito answers
an unsigned app (local/cognito_endpoint.py), and CORS for AllowedOrigin only.
Gradium is the local stand-in, or the real service with `--real-gradium` (GRADIUM=real: the key from
GRADIUM_API_KEY_FILE or a hidden prompt). `sam local start-api` cannot stand in: it skips
Cognito authorizers and needs Docker.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local.api_gateway import ApiGatewayHandler, Gateway, rest_api
from local.cognito_authorizer import CognitoAuthorizer
from local.cognito_endpoint import CognitoEndpoint, signing_key
from local.http_server import BackgroundHTTPServer
from local.lambda_emulator import LambdaEmulator
from local.local_pool import (
    LOCAL_PASSWORD,
    LOCAL_USER,
    amplify_outputs,
    create_user,
    local_pool,
    real_pool,
    stable_pool_name,
    token_seconds,
)
from local.network import PortInUse, device_host, is_loopback, port_in_use_as, url_host
from local.paths import BUILD_DIR, REPO, shown
from local.process import stop_on_sigterm
from local.real_gradium import add_real_gradium_flag, gradium_key
from local.sam_template import Template
from local.services import (
    REGION,
    STANDIN_API_KEY,
    LocalServices,
    cognito_endpoint,
    local_services,
    moto_client,
)
from ops import template_parameters
from ops.samconfig import parse_overrides

FUNCTION = "TokenFunction"
INFO_FILE = REPO / ".aws-sam" / "local-api.json"
AMPLIFY_OUTPUTS = REPO / ".aws-sam" / "amplify_outputs.json"  # the app's configuration for the local pool
SIGNING_KEY_FILE = REPO / ".aws-sam" / "local-signing-key.json"  # the local pool's own key (mode 0600)


@dataclass
class LocalApi:
    """A running local API: where it listens and how to sign in to it."""

    base_url: str
    info: dict[str, Any]
    stack: LocalServices
    emulator: LambdaEmulator

    @property
    def token_url(self) -> str:
        return str(self.info["token_url"])

    def id_token(self, username: str = LOCAL_USER, password: str = LOCAL_PASSWORD) -> str:
        """A fresh ID token of a user of the local pool, signed by moto."""
        return self.sign_in(username, password)["IdToken"]

    def sign_in(self, username: str = LOCAL_USER, password: str = LOCAL_PASSWORD) -> dict[str, str]:
        """USER_PASSWORD_AUTH against the local pool: the ID, access and refresh tokens."""
        idp = moto_client(self.stack.moto_url, "cognito-idp")
        answer = idp.initiate_auth(
            ClientId=self.info["app_client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        return answer["AuthenticationResult"]

    def add_user(self, username: str, groups: tuple[str, ...] = ()) -> str:
        """Another user of the local pool (password LOCAL_PASSWORD), in `groups`; returns a fresh ID token."""
        idp = moto_client(self.stack.moto_url, "cognito-idp")
        create_user(idp, self.info["user_pool_id"], username, groups)
        return self.id_token(username)


@contextlib.contextmanager
def local_api(
    overrides: dict[str, str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    user_pool_id: str | None = None,
    gradium_api_key: str | None = None,
    verbose: bool = False,
    pool_name: str = "local-users",
) -> Iterator[LocalApi]:
    """Serve the built template's API until the block ends.

    `port=0` takes a free port (and a free one for the local Cognito). Every port an app needs (the API,
    the local Cognito) listens on `host`; the URLs in `info` are ones a device can use. With
    `user_pool_id`, tokens of that real pool are verified and nothing is created in moto's Cognito; with
    `gradium_api_key`, real Gradium is used. `verbose` prints a line per request and the function's logs.
    """
    region = os.environ.get("AWS_REGION") or (user_pool_id.split("_")[0] if user_pool_id else REGION)
    template = Template.load(BUILD_DIR / "template.yaml", overrides or {}, region)
    api = rest_api(template)
    allowed_origin = template.parameters.get("AllowedOrigin") or None
    # Bound first, then the local Cognito on PORT+1, before anything else takes a free port (maybe that one).
    server = BackgroundHTTPServer(BaseHTTPRequestHandler, port, host)
    cognito = CognitoEndpoint(signing_key(SIGNING_KEY_FILE), REGION)
    try:
        with (
            _cognito(cognito, host, port, allowed_origin, verbose) as cognito_url,
            local_services(with_standin=not gradium_api_key) as stack,
        ):
            if user_pool_id:
                pool = real_pool(user_pool_id, region)
                authorizer = CognitoAuthorizer(pool.issuer, pool.issuer + "/.well-known/jwks.json")
            else:
                pool = local_pool(stack, template.parameters.get("RequiredGroup", ""), pool_name, region)
                # The pool signs with this checkout's key, which only the local Cognito's JWKS publishes.
                cognito.sign_for(pool.user_pool_id, token_seconds(template))
                authorizer = CognitoAuthorizer(
                    pool.issuer, f"{cognito_url}/{pool.user_pool_id}/.well-known/jwks.json"
                )
            # The local pool's app client stands in for the stack's (ALLOWED_CLIENT_IDS).
            env = stack.provision(
                gradium_api_key or STANDIN_API_KEY,
                function=FUNCTION,
                template=template,
                # A real pool's app clients are not known here: AllowedClientIds (overrides) restricts them.
                names={"UserPoolAppClient": pool.app_client_id},
            )
            with LambdaEmulator(env) as emulator:
                reachable = f"http://{url_host(device_host(host))}"
                info = {
                    "api_url": f"{reachable}:{server.port}/{api.stage}",
                    "token_url": f"{reachable}:{server.port}/{api.stage}/gradium-token",
                    "region": region,
                    "cognito_endpoint": None if user_pool_id else f"{reachable}:{urlsplit(cognito_url).port}",
                    "allowed_origin": allowed_origin,
                    **pool.info(),
                }
                if pool.is_local:
                    info["amplify_outputs"] = amplify_outputs(
                        template, pool, info["token_url"], info["cognito_endpoint"]
                    )
                gateway = Gateway(api, authorizer, emulator, verbose)
                server.start(functools.partial(ApiGatewayHandler, gateway=gateway))
                yield LocalApi(server.base_url, info, stack, emulator)
    finally:
        server.stop()


@contextlib.contextmanager
def _cognito(
    app: CognitoEndpoint, host: str, port: int, allowed_origin: str | None, verbose: bool
) -> Iterator[str]:
    """The local Cognito endpoint on HOST:PORT+1 (a free port with PORT 0); with `verbose`, a page it
    refuses is on the console (a sign-in that fails in the browser with a CORS error says no more)."""

    def tell(why: str) -> None:
        print(f"  local Cognito: {why}", flush=True)

    with contextlib.ExitStack() as running:
        with port_in_use_as(f"port {port + 1} on {host} (the local Cognito)"):
            url = running.enter_context(
                cognito_endpoint(
                    app, port + 1 if port else 0, allowed_origin, host, tell if verbose else None
                )
            )
        yield url


def _print_welcome(local: LocalApi, info_file: Path) -> None:
    info = local.info
    print(f"\nLocal API: POST {info['token_url']}  (Ctrl-C stops it)")
    print(f"Sign-in details are in {shown(info_file)}.")
    if info.get("password"):
        endpoint, client = info["cognito_endpoint"], info["app_client_id"]
        print(f"\nLocal Cognito: {endpoint}  pool {info['user_pool_id']}  app client {client}")
        print(f"Test user: {info['username']} / {info['password']}")
        print("The same pool, app client and test user after a restart; make serve FRESH=1 starts afresh.")
        if urlsplit(info["token_url"]).hostname == "127.0.0.1":
            print(
                "Android emulator: use 10.0.2.2 for 127.0.0.1 (its alias of this machine's loopback); "
                "a phone on the LAN: make serve HOST=0.0.0.0"
            )
        print()
        print("Get a token now (the ID token below is fresh; it expires in an hour):")
        print(f'  curl -sS -X POST -H "Authorization: {local.id_token()}" {info["token_url"]}\n')
        print("A fresh ID token, with the AWS CLI or boto3:")
        print(
            f"  aws cognito-idp initiate-auth --endpoint-url {endpoint} --region {info['region']} "
            f"--client-id {client} --auth-flow USER_PASSWORD_AUTH "
            f"--auth-parameters USERNAME={info['username']},PASSWORD={info['password']} "
            "--query AuthenticationResult.IdToken --output text"
        )
        print(
            f"  python3 -c \"import boto3; print(boto3.client('cognito-idp', endpoint_url='{endpoint}', "
            f"region_name='{info['region']}', aws_access_key_id='x', aws_secret_access_key='x')"
            f".initiate_auth(ClientId='{client}', AuthFlow='USER_PASSWORD_AUTH', AuthParameters="
            f"{{'USERNAME': '{info['username']}', 'PASSWORD': '{info['password']}'}})"
            "['AuthenticationResult']['IdToken'])\"\n"
        )
    else:
        print(f"\nTokens of the real pool {info['user_pool_id']} ({info['issuer']}) are verified.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument(
        "--parameter-overrides",
        default=os.environ.get("PARAMETER_OVERRIDES", ""),
        help="Key=Value ..., as for sam deploy",
    )
    add_real_gradium_flag(parser)
    parser.add_argument(
        "--fresh", action="store_true", help="a new user pool, app client and test user (new ids)"
    )
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        print(
            f"WARNING: HOST={args.host} serves the local API and its test user beyond this machine.",
            file=sys.stderr,
        )
    try:  # what `make config` refuses, refused here too: never a server whose every answer is a 500
        overrides = parse_overrides(args.parameter_overrides)
        template_parameters.check(overrides)
    except ValueError as exc:
        print(f"make serve: PARAMETER_OVERRIDES: {exc}", file=sys.stderr)
        return 2
    stop_on_sigterm()
    try:
        with (
            local_api(
                overrides,
                host=args.host,
                port=args.port,
                user_pool_id=os.environ.get("USER_POOL_ID") or None,
                gradium_api_key=gradium_key(args.real_gradium),
                verbose=True,
                pool_name=stable_pool_name(args.fresh),
            ) as local,
            _sign_in_files(args.port) as (info_file, outputs_file),
        ):
            info_file.write_text(json.dumps(local.info | {"pid": os.getpid()}, indent=2) + "\n")
            if "amplify_outputs" in local.info:
                outputs_file.write_text(json.dumps(local.info["amplify_outputs"], indent=2) + "\n")
            print(local.emulator.new_logs().rstrip())
            _print_welcome(local, info_file)
            # Short sleeps: the kernel may hand Ctrl-C (SIGINT) to any thread, and Python runs its handler
            # only when the main thread next wakes.
            while True:
                time.sleep(0.2)
    except PortInUse as exc:
        print(
            f"make serve: {exc} (another `make serve`?). make serve takes PORT and PORT+1: choose a free "
            f"pair, such as make serve PORT={args.port + 2}",
            file=sys.stderr,
        )
        return 2
    except ValueError as exc:
        print(f"make serve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nStopped.")
    return 0


@contextlib.contextmanager
def _sign_in_files(port: int) -> Iterator[tuple[Path, Path]]:
    """Where this server writes its sign-in details and Amplify configuration: INFO_FILE and
    AMPLIFY_OUTPUTS, unless another running make serve wrote them (the pid in INFO_FILE); then files named
    for PORT, removed when this one stops, so that neither server's files ever name the other's ports."""
    if not _written_by_a_running_server(INFO_FILE):
        yield INFO_FILE, AMPLIFY_OUTPUTS
        return
    own = (
        INFO_FILE.with_name(f"local-api-{port}.json"),
        AMPLIFY_OUTPUTS.with_name(f"amplify_outputs-{port}.json"),
    )
    try:
        yield own
    finally:
        for path in own:
            path.unlink(missing_ok=True)


def _written_by_a_running_server(info_file: Path) -> bool:
    try:
        pid = json.loads(info_file.read_text())["pid"]
        os.kill(pid, 0)  # signal 0: is it alive (and ours to signal)?
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return pid != os.getpid()


if __name__ == "__main__":
    sys.exit(main())
