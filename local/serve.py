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
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import DechunkedInput

from local.api_gateway import RestApi, rest_api
from local.cognito_authorizer import CognitoAuthorizer, Unauthorized, issuer_of
from local.cognito_endpoint import CognitoEndpoint, signing_key
from local.http_server import BackgroundHTTPServer
from local.lambda_emulator import LambdaEmulator
from local.network import PortInUse, device_host, is_loopback, port_in_use_as, url_host
from local.paths import BUILD_DIR, REPO
from local.proxy import Answer, Request, proxy_answer, proxy_event
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
STATE_FILE = REPO / ".aws-sam" / "local-pool.json"  # what keeps the local pool's ids across restarts
AMPLIFY_OUTPUTS = REPO / ".aws-sam" / "amplify_outputs.json"  # the app's configuration for the local pool
SIGNING_KEY_FILE = REPO / ".aws-sam" / "local-signing-key.json"  # the local pool's own key (mode 0600)
LOCAL_USER = "dev@example.com"
LOCAL_PASSWORD = "Local-dev-passphrase-1"  # moto's pool, on loopback only: not a secret
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
READ_TIMEOUT_SECONDS = 30  # a kept-alive connection idle (or a body stalled) this long is closed


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
        _create_user(idp, self.info["user_pool_id"], username, groups)
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
                pool = {"user_pool_id": user_pool_id, "issuer": issuer_of(region, user_pool_id)}
                authorizer = CognitoAuthorizer(pool["issuer"], pool["issuer"] + "/.well-known/jwks.json")
                # A real pool's app clients are not known here: AllowedClientIds (overrides) restricts them.
                app_client = ""
            else:
                pool = _create_local_pool(stack, template.parameters.get("RequiredGroup", ""), pool_name)
                pool["issuer"] = issuer_of(region, pool["user_pool_id"])
                # The pool signs with this checkout's key, which only the local Cognito's JWKS publishes.
                cognito.sign_for(pool["user_pool_id"], _token_seconds(template))
                authorizer = CognitoAuthorizer(
                    pool["issuer"], f"{cognito_url}/{pool['user_pool_id']}/.well-known/jwks.json"
                )
                app_client = pool["app_client_id"]
            # The local pool's app client stands in for the stack's (ALLOWED_CLIENT_IDS).
            env = stack.provision(
                gradium_api_key or STANDIN_API_KEY,
                function=FUNCTION,
                template=template,
                names={"UserPoolAppClient": app_client},
            )
            with LambdaEmulator(env) as emulator:
                reachable = f"http://{url_host(device_host(host))}"
                info = {
                    "api_url": f"{reachable}:{server.port}/{api.stage}",
                    "token_url": f"{reachable}:{server.port}/{api.stage}/gradium-token",
                    "region": region,
                    "cognito_endpoint": None if user_pool_id else f"{reachable}:{urlsplit(cognito_url).port}",
                    "issuer": pool["issuer"],
                    "allowed_origin": allowed_origin,
                    **pool,
                }
                if not user_pool_id:
                    info["amplify_outputs"] = _amplify_outputs(template, pool, info)
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


def _amplify_outputs(template: Template, pool: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The stack's AmplifyOutputs output, for the local pool and token URL, plus where the local Cognito
    is: Amplify JS takes it as `Auth.Cognito.userPoolEndpoint` (the Gen 2 schema has no field for it)."""
    names = {"UserPool": pool["user_pool_id"], "UserPoolAppClient": pool["app_client_id"]}
    outputs: dict[str, Any] = json.loads(template.output("AmplifyOutputs", names))
    outputs["custom"]["gradium_token_url"] = info["token_url"]
    outputs["custom"]["user_pool_endpoint"] = info["cognito_endpoint"]
    return outputs


# CloudFormation's TokenValidityUnits, in seconds.
_UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def _token_seconds(template: Template) -> int:
    """How long the stack's app client's ID tokens last (15 minutes): the local ones last as long, so that
    an app's refresh of its tokens runs locally as it will against the stack."""
    client = template.resources["UserPoolAppClient"]["Properties"]
    unit = client.get("TokenValidityUnits", {}).get("IdToken", "hours")
    return int(client.get("IdTokenValidity", 1)) * _UNIT_SECONDS[unit]


def _create_local_pool(stack: LocalServices, required_group: str, name: str) -> dict[str, Any]:
    """A user pool, an app client and one signed-up user with a permanent password, in moto."""
    idp = moto_client(stack.moto_url, "cognito-idp")
    pool_id = idp.create_user_pool(PoolName=name, UsernameAttributes=["email"])["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="local-app",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    # With RequiredGroup, the local user may get tokens out of the box.
    _create_user(
        idp,
        pool_id,
        LOCAL_USER,
        groups=(required_group,) if required_group else (),
        attributes=({"Name": "email", "Value": LOCAL_USER}, {"Name": "email_verified", "Value": "true"}),
    )
    return {
        "user_pool_id": pool_id,
        "app_client_id": client_id,
        "username": LOCAL_USER,
        "password": LOCAL_PASSWORD,
    }


def _create_user(
    idp: Any,
    pool_id: str,
    username: str,
    groups: tuple[str, ...] = (),
    attributes: tuple[dict[str, str], ...] = (),
) -> None:
    """A confirmed user with the password LOCAL_PASSWORD (permanent), in `groups` (created if need be)."""
    idp.admin_create_user(
        UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS", UserAttributes=list(attributes)
    )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=LOCAL_PASSWORD, Permanent=True
    )
    for group in groups:
        with contextlib.suppress(idp.exceptions.GroupExistsException):
            idp.create_group(UserPoolId=pool_id, GroupName=group)
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)


@dataclass
class Gateway:
    """API Gateway in front of the function: route, authorize, invoke, shape the answer."""

    api: RestApi
    authorizer: CognitoAuthorizer
    emulator: LambdaEmulator
    verbose: bool
    # One execution environment serves one request at a time, as in Lambda.
    _invoke_lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request, authorization: str | None, request_id: str) -> tuple[Answer, str]:
        """API Gateway's answer to `request`, and a console note on why when it is not the function's."""
        route = self.api.route(request.method, request.path) if request.path else None
        if route is None:
            return self.api.gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id), ""
        if route.mock_answer is not None:
            return route.mock_answer, ""
        claims = None
        if route.authorizer:
            try:
                claims = self.authorizer.claims(authorization)
            except Unauthorized as refused:
                return self.api.gateway_response("UNAUTHORIZED", request_id), f"authorizer refused: {refused}"
        event = proxy_event(request, route.path, claims, request_id)
        with self._invoke_lock:
            payload = self.emulator.invoke(event).response
            logs = self.emulator.new_logs()
        if self.verbose and logs.strip():
            print(logs.rstrip(), flush=True)
        answer = proxy_answer(payload)
        if answer is None:
            error = payload.get("errorType", "unknown") if isinstance(payload, dict) else "unknown"
            note = f"the function failed ({error}): API Gateway answers 502"
            return self.api.gateway_response("DEFAULT_5XX", request_id), note
        return answer, ""


class BadFraming(Exception):
    """A request whose body cannot be delimited: API Gateway's answer `kind`, then the connection closes."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class ApiGatewayHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 in and out: frames the request, hands it to the Gateway, sends its answer."""

    protocol_version = "HTTP/1.1"
    server_version = "local-api-gateway"
    timeout = READ_TIMEOUT_SECONDS  # a client that stops sending mid-request frees its thread

    def __init__(self, *args: Any, gateway: Gateway, **kwargs: Any) -> None:
        self.gateway = gateway  # before super().__init__, which handles the request
        super().__init__(*args, **kwargs)

    def _serve(self) -> None:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        api = self.gateway.api
        try:
            body = self._body()
        except BadFraming as bad:
            # The stream's framing is lost: answer, then close rather than parse the rest as a request.
            self.close_connection = True
            answer, note = api.gateway_response(bad.kind, request_id), str(bad)
        except (TimeoutError, ConnectionError):
            self.close_connection = True  # the client stopped sending (or left): nobody to answer
            return
        else:
            parts = urlsplit(self.path)
            below_stage = parts.path.startswith(f"/{api.stage}/")
            request = Request(
                method=self.command,
                stage=api.stage,
                path=parts.path[len(api.stage) + 1 :] if below_stage else "",
                query=parts.query,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            answer, note = self.gateway.answer(request, self.headers.get("Authorization"), request_id)
        if note and self.gateway.verbose:
            print(f"  {note}", flush=True)
        self._send(answer, request_id)
        if self.gateway.verbose:
            elapsed = (time.perf_counter() - started) * 1000
            print(f"{self.command} {self.path} -> {answer.status} ({elapsed:.0f} ms)", flush=True)

    # Every method reaches the router, which answers API Gateway's 403 for those the API lacks: TRACE,
    # CONNECT or any other token too (http.server answers a method without a do_ its HTML 501 page).
    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _body(self) -> bytes:
        """The request body, by Content-Length or chunked; BadFraming when neither can be trusted."""
        chunked = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if chunked is not None:
            if chunked.strip().lower() != "chunked" or lengths:
                raise BadFraming("BAD_REQUEST_BODY", "a Transfer-Encoding other than chunked, or both")
            try:
                body = DechunkedInput(self.rfile).read(MAX_REQUEST_BYTES + 1) or b""
            except OSError as exc:  # werkzeug's bad chunk header; a timeout is an OSError too
                if isinstance(exc, TimeoutError):
                    raise
                raise BadFraming("BAD_REQUEST_BODY", "a malformed chunked body") from None
        elif not lengths:
            return b""
        elif len(set(lengths)) > 1 or not re.fullmatch(r"[0-9]{1,12}", lengths[0].strip()):
            raise BadFraming("BAD_REQUEST_BODY", "a Content-Length that is not one number")
        elif int(lengths[0]) > MAX_REQUEST_BYTES:
            raise BadFraming("REQUEST_TOO_LARGE", "a body over API Gateway's 10 MB")
        else:
            body = self.rfile.read(int(lengths[0]))
            if len(body) < int(lengths[0]):
                raise ConnectionError("the client closed the connection before its body ended")
        if len(body) > MAX_REQUEST_BYTES:
            raise BadFraming("REQUEST_TOO_LARGE", "a body over API Gateway's 10 MB")
        return body

    def _send(self, answer: Answer, request_id: str) -> None:
        self.send_response(answer.status)
        headers = {"x-amzn-RequestId": request_id} | answer.headers
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request is printed by _serve


def _print_welcome(local: LocalApi, info_file: Path) -> None:
    info = local.info
    print(f"\nLocal API: POST {info['token_url']}  (Ctrl-C stops it)")
    print(f"Sign-in details are in {info_file.relative_to(REPO)}.")
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


def stop_on_sigterm() -> None:
    """`kill` stops make serve (or make demo) as Ctrl-C does: every process and server it started goes."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


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
                pool_name=_stable_pool_name(args.fresh),
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


def _stable_pool_name(fresh: bool) -> str:
    """The local pool's name, kept in STATE_FILE across restarts (a new one with `fresh`).

    moto derives the pool's and the app client's ids from the pool's name and settings when its id strategy
    is HASH (MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY, moto/cognitoidp/utils.py `generate_id`), so the same
    name gives the same ids: an app's dev configuration outlives a restart, and so do its ID tokens (the
    pool signs with this checkout's key, SIGNING_KEY_FILE, kept too), though not its refresh tokens.
    """
    os.environ["MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY"] = "HASH"
    os.environ["MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY"] = "HASH"
    state = json.loads(STATE_FILE.read_text()) if STATE_FILE.exists() and not fresh else {}
    if "pool_name" not in state:
        state["pool_name"] = f"local-users-{uuid.uuid4().hex[:8]}"
        STATE_FILE.parent.mkdir(exist_ok=True)
        STATE_FILE.write_text(json.dumps(state) + "\n")
    return str(state["pool_name"])


if __name__ == "__main__":
    sys.exit(main())
