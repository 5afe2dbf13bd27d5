"""`make serve`: the template's REST API on localhost, Docker-free, as close to API Gateway as we can make it.

Routes, stage, CORS preflight and gateway responses come from `sam build`'s template with the parameter
overrides applied. The Cognito authorizer checks real RS256 ID tokens (moto's Cognito by default, or a
real pool with USER_POOL_ID). The built function runs warm under the Lambda Runtime Interface Emulator,
its logs on the console. Secrets Manager and DynamoDB are a moto server that answers no web page; Cognito
is moto's too, behind an endpoint that answers Cognito calls only, and CORS for AllowedOrigin only.
Gradium is the local stand-in, or the real service with `--real-gradium` (GRADIUM=real: the key from
GRADIUM_API_KEY_FILE or a hidden prompt). `sam local start-api` cannot stand in: it skips
Cognito authorizers and needs Docker.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import errno
import ipaddress
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from werkzeug.serving import DechunkedInput

from local.api_gateway import ACCOUNT_ID, Answer, BuiltTemplate, RestApi, Route
from local.cognito_authorizer import CognitoAuthorizer, Unauthorized, issuer_of
from local.lambda_emulator import BUILD_DIR, REPO, LambdaEmulator
from local.stack import (
    REGION,
    STANDIN_API_KEY,
    WILDCARD_HOSTS,
    LocalStack,
    add_real_gradium_flag,
    cognito_endpoint,
    gradium_key,
    local_host,
    local_stack,
    moto_client,
    url_host,
)
from ops.samconfig import parse_overrides

FUNCTION = "TokenFunction"
INFO_FILE = REPO / ".aws-sam" / "local-api.json"
STATE_FILE = REPO / ".aws-sam" / "local-pool.json"  # what keeps the local pool's ids across restarts
AMPLIFY_OUTPUTS = REPO / ".aws-sam" / "amplify_outputs.json"  # the app's configuration for the local pool
LOCAL_USER = "dev@example.com"
LOCAL_PASSWORD = "Local-dev-passphrase-1"  # moto's pool, on loopback only: not a secret
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
READ_TIMEOUT_SECONDS = 30  # a kept-alive connection idle (or a body stalled) this long is closed
# moto routes a request by the service its credential scope names; the JWKS fetch needs one.
MOTO_COGNITO_HEADERS = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/cognito-idp/aws4_request, "
    "SignedHeaders=host, Signature=0"
}


class PortInUse(Exception):
    """The port asked for is taken."""


class BadFraming(Exception):
    """A request whose body cannot be delimited: API Gateway's answer `kind`, then the connection closes."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass
class LocalApi:
    """A running local API: where it listens and how to sign in to it."""

    base_url: str
    api: RestApi
    info: dict[str, Any]
    stack: LocalStack
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
        pool = self.info["user_pool_id"]
        idp.admin_create_user(UserPoolId=pool, Username=username, MessageAction="SUPPRESS")
        idp.admin_set_user_password(
            UserPoolId=pool, Username=username, Password=LOCAL_PASSWORD, Permanent=True
        )
        for group in groups:
            with contextlib.suppress(idp.exceptions.GroupExistsException):
                idp.create_group(UserPoolId=pool, GroupName=group)
            idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=group)
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
    template = BuiltTemplate.load(BUILD_DIR / "template.yaml", overrides or {}, region)
    allowed_origin = template.parameters.get("AllowedOrigin") or None
    server = _bind(host, port)
    try:
        # The local Cognito takes PORT+1 before anything else takes a free port (which could be that one).
        with (
            _cognito(host, port, allowed_origin) as cognito_url,
            local_stack(with_standin=not gradium_api_key) as stack,
        ):
            if user_pool_id:
                pool = {"user_pool_id": user_pool_id, "issuer": issuer_of(region, user_pool_id)}
                authorizer = CognitoAuthorizer(pool["issuer"], pool["issuer"] + "/.well-known/jwks.json")
                # A real pool's app clients are not known here: AllowedClientIds (overrides) restricts them.
                app_client = ""
            else:
                pool = _create_local_pool(stack, template.parameters.get("RequiredGroup", ""), pool_name)
                pool["issuer"] = issuer_of(region, pool["user_pool_id"])
                authorizer = CognitoAuthorizer(
                    pool["issuer"],
                    f"{stack.moto_url}/{pool['user_pool_id']}/.well-known/jwks.json",
                    MOTO_COGNITO_HEADERS,
                )
                app_client = pool["app_client_id"]
            env = _function_env(template, stack, gradium_api_key, app_client)
            with LambdaEmulator(env) as emulator:
                bound_port = server.server_address[1]
                base_url = f"http://{url_host(local_host(host))}:{bound_port}"
                reachable = f"http://{url_host(_device_host(host))}"
                info = {
                    "api_url": f"{reachable}:{bound_port}/{template.api.stage}",
                    "token_url": f"{reachable}:{bound_port}/{template.api.stage}/gradium-token",
                    "region": region,
                    "cognito_endpoint": None if user_pool_id else f"{reachable}:{urlsplit(cognito_url).port}",
                    "issuer": pool["issuer"],
                    "allowed_origin": allowed_origin,
                    **pool,
                }
                if not user_pool_id:
                    info["amplify_outputs"] = _amplify_outputs(template, pool, info)
                server.RequestHandlerClass = _handler(template.api, authorizer, emulator, verbose)
                thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
                thread.daemon = True
                thread.start()
                try:
                    yield LocalApi(base_url, template.api, info, stack, emulator)
                finally:
                    server.shutdown()
    finally:
        server.server_close()


@contextlib.contextmanager
def _cognito(host: str, port: int, allowed_origin: str | None) -> Iterator[str]:
    """The local Cognito endpoint on HOST:PORT+1 (a free port with PORT 0)."""
    with contextlib.ExitStack() as running:
        try:
            url = running.enter_context(cognito_endpoint(port + 1 if port else 0, allowed_origin, host))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {port + 1} on {host} (the local Cognito) is in use") from None
            raise
        yield url


def _device_host(host: str) -> str:
    """Where another device reaches a server bound to `host`: the machine's own address for a wildcard
    (the interface of its default route; a UDP connect sends nothing), else the host itself."""
    if host not in WILDCARD_HOSTS:
        return local_host(host)
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routed like the internet, never answered
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"  # no network: nothing else could reach it anyway


def _bind(host: str, port: int) -> ThreadingHTTPServer:
    try:
        server = ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is in use") from None
        raise
    server.daemon_threads = True
    return server


def _function_env(
    template: BuiltTemplate, stack: LocalStack, gradium_api_key: str | None, app_client: str
) -> dict[str, str]:
    """The function's variables as the template resolves them, pointed at the local services; the local
    pool's app client stands in for the stack's (ALLOWED_CLIENT_IDS)."""
    env = template.function_env(FUNCTION, {"UserPoolAppClient": app_client})
    env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = stack.moto_url
    env["AWS_ENDPOINT_URL_DYNAMODB"] = stack.moto_url
    if stack.standin is not None:
        env["GRADIUM_TOKEN_URL"] = stack.standin.token_url
    stack.put_api_key(env["GRADIUM_API_KEY_SECRET_ID"], gradium_api_key or STANDIN_API_KEY)
    if env.get("QUOTA_TABLE_NAME"):
        stack.create_quota_table(env["QUOTA_TABLE_NAME"])
    return env


def _amplify_outputs(template: BuiltTemplate, pool: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The stack's AmplifyOutputs output, for the local pool and token URL, plus where the local Cognito
    is: Amplify JS takes it as `Auth.Cognito.userPoolEndpoint` (the Gen 2 schema has no field for it)."""
    names = {"UserPool": pool["user_pool_id"], "UserPoolAppClient": pool["app_client_id"]}
    outputs: dict[str, Any] = json.loads(template.output("AmplifyOutputs", names))
    outputs["custom"]["gradium_token_url"] = info["token_url"]
    outputs["custom"]["user_pool_endpoint"] = info["cognito_endpoint"]
    return outputs


def _create_local_pool(stack: LocalStack, required_group: str, name: str) -> dict[str, Any]:
    """A user pool, an app client and one signed-up user with a permanent password, in moto."""
    idp = moto_client(stack.moto_url, "cognito-idp")
    pool_id = idp.create_user_pool(PoolName=name, UsernameAttributes=["email"])["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="local-app",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=LOCAL_USER,
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": LOCAL_USER}, {"Name": "email_verified", "Value": "true"}],
    )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=LOCAL_USER, Password=LOCAL_PASSWORD, Permanent=True
    )
    if required_group:  # the local user may get tokens out of the box
        idp.create_group(UserPoolId=pool_id, GroupName=required_group)
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=LOCAL_USER, GroupName=required_group)
    return {
        "user_pool_id": pool_id,
        "app_client_id": client_id,
        "username": LOCAL_USER,
        "password": LOCAL_PASSWORD,
    }


def _handler(
    api: RestApi, authorizer: CognitoAuthorizer, emulator: LambdaEmulator, verbose: bool
) -> type[BaseHTTPRequestHandler]:
    # One execution environment serves one request at a time, as in Lambda.
    invoke_lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "local-api-gateway"
        timeout = READ_TIMEOUT_SECONDS  # a client that stops sending mid-request frees its thread

        def _serve(self) -> None:
            started = time.perf_counter()
            request_id = str(uuid.uuid4())
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
                answer, note = self._answer(request_id, body)
            if note and verbose:
                print(f"  {note}", flush=True)
            self._send(answer, request_id)
            if verbose:
                elapsed = (time.perf_counter() - started) * 1000
                print(f"{self.command} {self.path} -> {answer.status} ({elapsed:.0f} ms)", flush=True)

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

        # Every method reaches the router, which answers API Gateway's 403 for those the API lacks.
        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

        def _answer(self, request_id: str, body: bytes) -> tuple[Answer, str]:
            parts = urlsplit(self.path)
            stage_prefix = f"/{api.stage}"
            resource_path = (
                parts.path[len(stage_prefix) :] if parts.path.startswith(stage_prefix + "/") else None
            )
            route = api.route(self.command, resource_path) if resource_path else None
            if route is None:
                return api.gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id), ""
            if route.mock_answer is not None:
                return route.mock_answer, ""
            claims = None
            if route.authorizer:
                try:
                    claims = authorizer.claims(self.headers.get("Authorization"))
                except Unauthorized as refused:
                    return api.gateway_response("UNAUTHORIZED", request_id), f"authorizer refused: {refused}"
            event = self._event(route, resource_path, parts.query, body, claims, request_id)
            with invoke_lock:
                payload = emulator.invoke(event).response
                logs = emulator.new_logs()
            if verbose and logs.strip():
                print(logs.rstrip(), flush=True)
            answer = _proxy_answer(payload)
            if answer is None:
                error = payload.get("errorType", "unknown") if isinstance(payload, dict) else "unknown"
                note = f"the function failed ({error}): API Gateway answers 502"
                return api.gateway_response("DEFAULT_5XX", request_id), note
            return answer, ""

        def _event(
            self,
            route: Route,
            resource_path: str,
            query: str,
            body: bytes,
            claims: dict[str, str] | None,
            request_id: str,
        ) -> dict[str, Any]:
            """The REST proxy event API Gateway sends (payload format 1.0)."""
            multi_headers: dict[str, list[str]] = {}
            for name, value in self.headers.items():
                multi_headers.setdefault(name, []).append(value)
            multi_query: dict[str, list[str]] = {}
            for name, value in parse_qsl(query, keep_blank_values=True):
                multi_query.setdefault(name, []).append(value)
            try:
                text, encoded = (body.decode(), False) if body else (None, False)
            except UnicodeDecodeError:
                text, encoded = base64.b64encode(body).decode(), True
            now = time.time()
            context: dict[str, Any] = {
                "resourceId": "local",
                "resourcePath": route.path,
                "httpMethod": self.command,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "path": f"/{api.stage}{resource_path}",
                "accountId": ACCOUNT_ID,
                "protocol": self.request_version,
                "stage": api.stage,
                "domainPrefix": "localhost",
                "requestTimeEpoch": int(now * 1000),
                "requestId": request_id,
                "identity": {"sourceIp": self.client_address[0], "userAgent": self.headers.get("User-Agent")},
                "domainName": self.headers.get("Host", "localhost"),
                "apiId": "local",
            }
            if claims is not None:
                context["authorizer"] = {"claims": claims}
            return {
                "resource": route.path,
                "path": resource_path,
                "httpMethod": self.command,
                "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
                "multiValueHeaders": multi_headers or None,
                "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
                "multiValueQueryStringParameters": multi_query or None,
                "pathParameters": None,
                "stageVariables": None,
                "requestContext": context,
                "body": text,
                "isBase64Encoded": encoded,
            }

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

    return Handler


def _proxy_answer(payload: Any) -> Answer | None:
    """The function's proxy response as HTTP, or None where API Gateway would answer 502."""
    if not isinstance(payload, dict) or "errorMessage" in payload or "statusCode" not in payload:
        return None
    try:
        status = int(payload["statusCode"])
        headers = {str(k): str(v) for k, v in (payload.get("headers") or {}).items()}
        for name, values in (payload.get("multiValueHeaders") or {}).items():
            headers[str(name)] = ", ".join(str(value) for value in values)
        body = payload.get("body") or ""
        data = base64.b64decode(body) if payload.get("isBase64Encoded") else str(body).encode()
    except (TypeError, ValueError, AttributeError):
        return None
    return Answer(status, {"Content-Type": "application/json"} | headers, data)


def _print_welcome(local: LocalApi) -> None:
    info = local.info
    print(f"\nLocal API: POST {info['token_url']}  (Ctrl-C stops it)")
    print(f"Sign-in details are in {INFO_FILE.relative_to(REPO)}.")
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
    if not _is_loopback(args.host):
        print(
            f"WARNING: HOST={args.host} serves the local API and its test user beyond this machine.",
            file=sys.stderr,
        )
    try:
        overrides = parse_overrides(args.parameter_overrides)
    except ValueError as exc:
        print(f"PARAMETER_OVERRIDES: {exc}", file=sys.stderr)
        return 2
    # `kill` stops it as Ctrl-C does: every process and server it started goes with it.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with local_api(
            overrides,
            host=args.host,
            port=args.port,
            user_pool_id=os.environ.get("USER_POOL_ID") or None,
            gradium_api_key=gradium_key(args.real_gradium),
            verbose=True,
            pool_name=_stable_pool_name(args.fresh),
        ) as local:
            INFO_FILE.write_text(json.dumps(local.info, indent=2) + "\n")
            if "amplify_outputs" in local.info:
                AMPLIFY_OUTPUTS.write_text(json.dumps(local.info["amplify_outputs"], indent=2) + "\n")
            print(local.emulator.new_logs().rstrip())
            _print_welcome(local)
            # Short sleeps: the kernel may hand Ctrl-C (SIGINT) to any thread, and Python runs its handler
            # only when the main thread next wakes.
            while True:
                time.sleep(0.2)
    except PortInUse as exc:
        print(
            f"make serve: {exc} (another `make serve`?). Choose another: make serve PORT=3001",
            file=sys.stderr,
        )
        return 2
    except ValueError as exc:
        print(f"make serve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nStopped.")
    return 0


def _stable_pool_name(fresh: bool) -> str:
    """The local pool's name, kept in STATE_FILE across restarts (a new one with `fresh`).

    moto derives the pool's and the app client's ids from the pool's name and settings when its id strategy
    is HASH (MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY, moto/cognitoidp/utils.py `generate_id`), so the same
    name gives the same ids: an app's dev configuration outlives a restart, and so do its ID tokens (moto
    signs every pool's tokens with one bundled key), though not its refresh tokens.
    """
    os.environ["MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY"] = "HASH"
    os.environ["MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY"] = "HASH"
    state = json.loads(STATE_FILE.read_text()) if STATE_FILE.exists() and not fresh else {}
    if "pool_name" not in state:
        state["pool_name"] = f"local-users-{uuid.uuid4().hex[:8]}"
        STATE_FILE.parent.mkdir(exist_ok=True)
        STATE_FILE.write_text(json.dumps(state) + "\n")
    return str(state["pool_name"])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
