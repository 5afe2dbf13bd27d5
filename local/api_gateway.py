"""The template's REST API as API Gateway would serve it: stage, routes, CORS preflight, gateway responses
(RestApi), and API Gateway itself in front of the function (Gateway) over HTTP (ApiGatewayHandler).

Read from the translated template (local.sam_template) with the parameter overrides applied and the
intrinsic functions of the API's definition resolved, so that nothing here is a second copy of the template.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import DechunkedInput

from local.cognito_authorizer import CognitoAuthorizer, Unauthorized
from local.lambda_emulator import LambdaEmulator
from local.proxy import Answer, Request, proxy_answer, proxy_event
from local.sam_template import Template, of_type

# API Gateway's own status and message for the gateway response types this API can produce.
GATEWAY_ERRORS = {
    "BAD_REQUEST_BODY": (400, "Bad Request"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "DEFAULT_5XX": (502, "Internal server error"),
}


@dataclass(frozen=True)
class Route:
    """One method on one resource path of the API."""

    path: str
    method: str
    authorizer: str | None  # name of the Cognito authorizer guarding it, if any
    mock_answer: Answer | None = None


@dataclass
class RestApi:
    """The API's definition, resolved for one set of parameter values."""

    stage: str
    routes: dict[tuple[str, str], Route]
    gateway_responses: dict[str, dict[str, Any]]

    def route(self, method: str, resource_path: str) -> Route | None:
        """The route for an HTTP method on a path below the stage, or None (API Gateway's 403)."""
        return self.routes.get((resource_path, method.upper()))

    def gateway_response(self, kind: str, request_id: str, message: str | None = None) -> Answer:
        """API Gateway's own answer of type `kind`, shaped by the template's GatewayResponses."""
        status, default_message = GATEWAY_ERRORS[kind]
        message = message or default_message
        family = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        spec = self.gateway_responses.get(kind) or self.gateway_responses.get(family) or {}
        if kind in self.gateway_responses and spec.get("statusCode"):
            status = int(spec["statusCode"])
        headers = {
            name.removeprefix("gatewayresponse.header."): _literal(value)
            for name, value in spec.get("responseParameters", {}).items()
            if name.startswith("gatewayresponse.header.")
        }
        template = spec.get("responseTemplates", {}).get("application/json")
        if template is None:
            body = json.dumps({"message": message})
        else:
            body = (
                template.replace("$context.error.messageString", json.dumps(message))
                .replace("$context.error.message", message)
                .replace("$context.requestId", request_id)
            )
        error_type = {
            400: "BadRequestException",
            401: "UnauthorizedException",
            403: "MissingAuthenticationTokenException",
            413: "RequestTooLargeException",
        }
        return Answer(
            status,
            {
                "Content-Type": "application/json",
                "x-amzn-RequestId": request_id,
                "x-amzn-ErrorType": error_type.get(status, "InternalServerErrorException"),
            }
            | headers,
            body.encode(),
        )


def rest_api(template: Template) -> RestApi:
    """The template's one REST API, resolved for the template's parameter values."""
    translated = {"Resources": template.resources}
    [api] = of_type(translated, "AWS::ApiGateway::RestApi").values()
    [stage] = of_type(translated, "AWS::ApiGateway::Stage").values()
    resolve = template.resolve
    body = resolve(api["Properties"]["Body"])
    schemes = body.get("components", {}).get("securitySchemes", {}) | body.get("securityDefinitions", {})
    cognito = {
        name
        for name, scheme in schemes.items()
        if scheme.get("x-amazon-apigateway-authtype") == "cognito_user_pools"
    }
    routes = {}
    for path, methods in body.get("paths", {}).items():
        for method, spec in methods.items():
            route = _route(path, method.upper(), spec, cognito)
            routes[(path, route.method)] = route
    return RestApi(
        stage=str(resolve(stage["Properties"]["StageName"])),
        routes=routes,
        gateway_responses=body.get("x-amazon-apigateway-gateway-responses", {}),
    )


def _route(path: str, method: str, spec: dict[str, Any], cognito: set[str]) -> Route:
    integration = spec.get("x-amazon-apigateway-integration", {})
    kind = integration.get("type", "")
    authorizers = [
        name for requirement in spec.get("security", []) for name in requirement if name in cognito
    ]
    mock = None
    if kind == "mock":
        default = integration.get("responses", {}).get("default", {})
        headers = {
            name.removeprefix("method.response.header."): _literal(value)
            for name, value in default.get("responseParameters", {}).items()
            if name.startswith("method.response.header.")
        }
        body = default.get("responseTemplates", {}).get("application/json", "")
        mock = Answer(
            int(default.get("statusCode", 200)), {"Content-Type": "application/json"} | headers, body.encode()
        )
    return Route(path, method, authorizers[0] if authorizers else None, mock)


def _literal(value: object) -> str:
    """A mapping value: a quoted literal ('no-store') is that text."""
    text = str(value)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


# What the local API's HTTP layer enforces, as API Gateway does.
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
READ_TIMEOUT_SECONDS = 30  # a kept-alive connection idle (or a body stalled) this long is closed


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
