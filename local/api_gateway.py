"""The template's REST API as API Gateway would serve it: stage, routes, CORS preflight, gateway responses.

Read from `sam build`'s template after SAM's own translation (samtranslator, the code behind
CloudFormation's AWS::Serverless transform), with the parameter overrides applied and the intrinsic
functions of the API's definition resolved, so that nothing here is a second copy of the template.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

ACCOUNT_ID = "123456789012"
_NO_VALUE = object()  # what Ref AWS::NoValue resolves to: the key or item is dropped

# API Gateway's own status and message for the gateway response types this API can produce.
GATEWAY_ERRORS = {
    "BAD_REQUEST_BODY": (400, "Bad Request"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "DEFAULT_5XX": (502, "Internal server error"),
}


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Route:
    """One method on one resource path of the API."""

    path: str
    method: str
    integration: str  # "aws_proxy" (the function) or "mock" (the CORS preflight)
    authorizer: str | None  # name of the Cognito authorizer guarding it, if any
    mock_answer: Answer | None = None


@dataclass
class RestApi:
    """The API's definition, resolved for one set of parameter values."""

    stage: str
    routes: dict[tuple[str, str], Route]
    gateway_responses: dict[str, dict[str, Any]]
    user_pool_arns: dict[str, list[str]]  # authorizer name -> pool ARNs (or unresolved GetAtt names)

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


@dataclass
class BuiltTemplate:
    """`sam build`'s template translated as CloudFormation would, for one set of parameter values."""

    api: RestApi
    parameters: dict[str, str]
    _resources: dict[str, Any]
    _outputs: dict[str, Any]
    _resolve: Resolver

    @classmethod
    def load(cls, template_path: Path, overrides: dict[str, str], region: str) -> BuiltTemplate:
        """Translate and resolve `template_path` with `overrides` (parameter name -> value) applied."""
        source = yaml_parse(template_path.read_text())
        unknown = set(overrides) - set(source.get("Parameters", {}))
        if unknown:
            raise ValueError(f"unknown parameter(s) in the overrides: {', '.join(sorted(unknown))}")
        parameters = {
            name: str(spec["Default"]) if spec.get("Default") is not None else ""
            for name, spec in source.get("Parameters", {}).items()
        } | overrides
        translated = _translate(source, parameters, region)
        resolve = Resolver(translated, parameters, region)
        resources = translated["Resources"]
        outputs = translated.get("Outputs", {})
        return cls(_rest_api(resources, resolve), parameters, resources, outputs, resolve)

    def output(self, name: str, names: dict[str, str] | None = None) -> str:
        """A stack output's value, resolved as `function_env` resolves variables."""
        resolve = self._resolve.with_names(names) if names else self._resolve
        return str(resolve(self._outputs[name]["Value"]))

    def function_env(self, logical_id: str, names: dict[str, str] | None = None) -> dict[str, str]:
        """The function's environment variables, resolved; a resource's Ref is `names`' value for it,
        or its logical id."""
        props = self._resources[logical_id]["Properties"]
        resolve = self._resolve.with_names(names) if names else self._resolve
        variables = resolve(props.get("Environment", {}).get("Variables", {})) or {}
        return {name: str(value) for name, value in variables.items()}


def _rest_api(resources: dict[str, Any], resolve: Resolver) -> RestApi:
    [api] = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    [stage] = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    body = resolve(api["Properties"]["Body"])
    schemes = body.get("components", {}).get("securitySchemes", {}) | body.get("securityDefinitions", {})
    cognito = {
        name: list(scheme["x-amazon-apigateway-authorizer"]["providerARNs"])
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
        user_pool_arns=cognito,
    )


def _route(path: str, method: str, spec: dict[str, Any], cognito: dict[str, list[str]]) -> Route:
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
    return Route(path, method, kind, authorizers[0] if authorizers else None, mock)


def _literal(value: object) -> str:
    """A mapping value: a quoted literal ('no-store') is that text."""
    text = str(value)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def _translate(source: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    template = copy.deepcopy(source)
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):  # local folders; the transform wants S3 locations
            if isinstance(props.get(uri), str):
                props[uri] = f"s3://local/{resource['Type']}"
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    session = boto3.session.Session(region_name=region)
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session)
    return translator.translate(sam_template=template, parameter_values={**parameters, "AWS::Region": region})


class Resolver:
    """Resolves the intrinsic functions of a template (an API definition, a role's policies) for given
    parameter values. `names` gives resources' Refs and attributes ("Table.Arn") and overrides pseudo
    parameters; without it, a resource's Ref or attribute is its own name."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: dict[str, str],
        region: str,
        names: dict[str, str] | None = None,
    ) -> None:
        self._conditions = template.get("Conditions", {})
        self._symbols: dict[str, str] = (
            {
                "AWS::Region": region,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::Partition": "aws",
                "AWS::StackName": "local",
                "AWS::URLSuffix": "amazonaws.com",
            }
            | parameters
            | (names or {})
        )

    def with_names(self, names: dict[str, str]) -> Resolver:
        """This resolver, with `names` added."""
        resolver = copy.copy(self)
        resolver._symbols = self._symbols | names
        return resolver

    def __call__(self, value: Any) -> Any:
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def condition(self, name: str) -> bool:
        return bool(self._resolve(self._conditions[name]))

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self._resolve, value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, argument)] = value.items()
            function = getattr(self, "_" + key.replace("::", "_").lower(), None)
            if key in ("Ref", "Condition") or key.startswith("Fn::"):
                if function is None:
                    raise ValueError(f"{key} is not supported in the API definition")
                return function(argument)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        return self._symbols.get(name, name)  # a resource's Ref: its logical id stands in

    def _condition(self, name: str) -> bool:
        return self.condition(name)

    def _fn_if(self, argument: list[Any]) -> Any:
        name, when_true, when_false = argument
        return self._resolve(when_true if self.condition(name) else when_false)

    def _fn_equals(self, argument: list[Any]) -> bool:
        left, right = (self._resolve(item) for item in argument)
        return str(left) == str(right)

    def _fn_not(self, argument: list[Any]) -> bool:
        return not self._resolve(argument[0])

    def _fn_and(self, argument: list[Any]) -> bool:
        return all(self._resolve(item) for item in argument)

    def _fn_or(self, argument: list[Any]) -> bool:
        return any(self._resolve(item) for item in argument)

    def _fn_getatt(self, argument: list[str] | str) -> str:
        name = ".".join(argument) if isinstance(argument, list) else argument
        return self._symbols.get(name, name)

    def _fn_join(self, argument: list[Any]) -> str:
        separator, items = argument
        return separator.join(str(item) for item in self._resolve(items))

    def _fn_select(self, argument: list[Any]) -> Any:
        index, items = argument
        return self._resolve(items)[int(self._resolve(index))]

    def _fn_split(self, argument: list[Any]) -> list[str]:
        separator, text = argument
        return str(self._resolve(text)).split(separator)

    def _fn_sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self._resolve(item) for name, item in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name:
                return self._symbols.get(name, name)  # a resource attribute: its name stands in
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)
