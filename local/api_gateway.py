"""The template's REST API as API Gateway would serve it: stage, routes, CORS preflight, gateway responses.

Read from the translated template (local.sam_template) with the parameter overrides applied and the
intrinsic functions of the API's definition resolved, so that nothing here is a second copy of the template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from local.proxy import Answer
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
