"""template.yaml: linted by SAM and cfn-lint, then checked after SAM's own translation to CloudFormation."""

from __future__ import annotations

import copy
import json
import logging
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import boto3
import pytest
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

import config

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SOURCE = yaml_parse((REPO / "template.yaml").read_text())
POOL_ARN = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123xyz"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gradium/api-key-AbCdEf"


def translate(**parameters: str) -> dict[str, Any]:
    """What CloudFormation's SAM transform makes of the template, for the given parameter values."""
    template = copy.deepcopy(SOURCE)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):  # `sam package` would upload these
            if isinstance(props.get(uri), str):
                props[uri] = f"s3://bucket/{props[uri]}"
    defaults = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    session = boto3.session.Session(region_name="eu-west-1")
    return Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session).translate(
        sam_template=template, parameter_values={**defaults, **parameters, "AWS::Region": "eu-west-1"}
    )


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate()


def test_sam_validate_lint() -> None:
    result = subprocess.run(
        [BIN / "sam", "validate", "--lint", "--template-file", REPO / "template.yaml"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint() -> None:
    result = subprocess.run(
        [BIN / "cfn-lint", "--", REPO / "template.yaml"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_only_route_is_post_gradium_token_behind_cognito(translated: dict[str, Any]) -> None:
    [api] = of_type(translated, "AWS::ApiGateway::RestApi").values()
    body = api["Properties"]["Body"]
    assert list(body["paths"]) == ["/gradium-token"]
    assert list(body["paths"]["/gradium-token"]) == ["post"]
    assert body["paths"]["/gradium-token"]["post"]["security"] == [{"CognitoAuthorizer": []}]
    scheme = body["components"]["securitySchemes"]["CognitoAuthorizer"]
    assert scheme["x-amazon-apigateway-authorizer"]["type"] == "cognito_user_pools"
    assert scheme["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        {"Fn::If": ["CreateUserPool", {"Fn::GetAtt": ["UserPool", "Arn"]}, ""]}
    ]


def test_an_existing_user_pool_guards_the_route_instead() -> None:
    [api] = of_type(translate(ExistingUserPoolArn=POOL_ARN), "AWS::ApiGateway::RestApi").values()
    scheme = api["Properties"]["Body"]["components"]["securitySchemes"]["CognitoAuthorizer"]
    assert POOL_ARN in json.dumps(scheme["x-amazon-apigateway-authorizer"]["providerARNs"])


def test_the_stage_is_the_stage_parameter(translated: dict[str, Any]) -> None:
    [stage] = of_type(translated, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == {"Ref": "StageName"}
    assert SOURCE["Parameters"]["StageName"]["Default"] == "v1"


def test_api_gateway_errors_are_json(translated: dict[str, Any]) -> None:
    responses = SOURCE["Resources"]["TokenApi"]["Properties"]["GatewayResponses"]
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for response in responses.values():
        assert response["ResponseTemplates"]["application/json"].startswith('{"error": ')


def test_the_function_role_reads_one_secret_and_writes_its_own_logs(translated: dict[str, Any]) -> None:
    [role] = of_type(translated, "AWS::IAM::Role").values()
    assert "ManagedPolicyArns" not in role["Properties"]
    by_action = {json.dumps(s["Action"]): s for s in statements(role)}
    assert set(by_action) == {
        '"secretsmanager:GetSecretValue"',
        '["logs:CreateLogStream", "logs:PutLogEvents"]',
    }
    assert by_action['"secretsmanager:GetSecretValue"']["Resource"] == {
        "Fn::If": ["CreateSecret", {"Ref": "GradiumApiKeySecret"}, {"Ref": "ExistingSecretArn"}]
    }
    logs = by_action['["logs:CreateLogStream", "logs:PutLogEvents"]']
    assert logs["Resource"] == {"Fn::GetAtt": ["TokenFunctionLogGroup", "Arn"]}
    assert all(s["Effect"] == "Allow" for s in statements(role))
    assert "*" not in json.dumps([s["Resource"] for s in statements(role)])
    assert "*" not in json.dumps([s["Action"] for s in statements(role)])


def test_an_existing_secret_is_the_only_one_readable() -> None:
    template = translate(ExistingSecretArn=SECRET_ARN)
    [role] = of_type(template, "AWS::IAM::Role").values()
    [read] = [s for s in statements(role) if s["Action"] == "secretsmanager:GetSecretValue"]
    assert read["Resource"]["Fn::If"][2] == {"Ref": "ExistingSecretArn"}


def test_the_function(translated: dict[str, Any]) -> None:
    function = translated["Resources"]["TokenFunction"]["Properties"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "app.handler"
    assert function["Timeout"] < 29  # API Gateway's integration timeout
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "TokenFunctionLogGroup"}
    assert SOURCE["Resources"]["TokenFunction"]["Properties"]["CodeUri"] == "functions/token/"
    [layer] = function["Layers"]
    assert layer["Ref"].startswith("DependenciesLayer")


def test_the_timeouts_fit_inside_each_other(translated: dict[str, Any]) -> None:
    function = translated["Resources"]["TokenFunction"]["Properties"]
    budget = SOURCE["Parameters"]["GradiumTimeoutSeconds"]
    assert budget["MaxValue"] == config.MAX_TIMEOUT_SECONDS
    secret_reads = 2 * (2 * (1 + 2))  # two reads on a rotated key, each two attempts of 1 s + 2 s
    assert budget["MaxValue"] + secret_reads < function["Timeout"] < 29


def test_no_secret_in_environment_or_parameters(translated: dict[str, Any]) -> None:
    variables = translated["Resources"]["TokenFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["GRADIUM_API_KEY_SECRET_ID"] == {
        "Fn::If": ["CreateSecret", {"Ref": "GradiumApiKeySecret"}, {"Ref": "ExistingSecretArn"}]
    }
    assert not [n for n in variables if re.search(r"API_KEY$|TOKEN$|PASSWORD", n)]
    assert not [n for n in SOURCE["Parameters"] if re.search(r"ApiKey$|Password|Token$", n)]
    secret = SOURCE["Resources"]["GradiumApiKeySecret"]["Properties"]
    assert "SecretString" not in secret and "GenerateSecretString" not in secret


def test_defaults_agree_with_the_config_module(translated: dict[str, Any]) -> None:
    parameters = SOURCE["Parameters"]
    assert parameters["GradiumTokenUrl"]["Default"] == config.DEFAULT_TOKEN_URL
    assert parameters["GradiumTimeoutSeconds"]["Default"] == config.DEFAULT_TIMEOUT_SECONDS
    assert parameters["SecretCacheTtlSeconds"]["Default"] == config.DEFAULT_SECRET_CACHE_TTL_SECONDS
    assert parameters["SecretCacheTtlSeconds"]["MaxValue"] == config.MAX_SECRET_CACHE_TTL_SECONDS


def test_the_layer_is_built_by_sam_with_pinned_packages() -> None:
    layer = SOURCE["Resources"]["DependenciesLayer"]
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    requirements = (REPO / layer["Properties"]["ContentUri"] / "requirements.txt").read_text()
    pins = dict(line.split("==") for line in requirements.splitlines() if line and not line.startswith("#"))
    assert set(pins) == {"aws-lambda-powertools", "urllib3"}  # boto3 comes with the runtime
    assert all(re.fullmatch(r"\d+(\.\d+)+", version) for version in pins.values())


def test_a_new_user_pool_has_a_public_mobile_client(translated: dict[str, Any]) -> None:
    client = translated["Resources"]["UserPoolAppClient"]
    assert client["Condition"] == "CreateUserPool"
    props = client["Properties"]
    assert props["GenerateSecret"] is False
    assert {"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"} <= set(props["ExplicitAuthFlows"])
    assert "ALLOW_USER_PASSWORD_AUTH" not in props["ExplicitAuthFlows"]  # no plain passwords over the wire
    assert translated["Resources"]["UserPool"]["Condition"] == "CreateUserPool"


def test_outputs(translated: dict[str, Any]) -> None:
    outputs = translated["Outputs"]
    assert {"TokenUrl", "UserPoolId", "AppClientId", "SecretArn"} <= set(outputs)
    assert outputs["TokenUrl"]["Value"]["Fn::Sub"].endswith("/${StageName}/gradium-token")


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_samconfig_deploys_without_extra_flags(environment: str) -> None:
    samconfig = tomllib.loads((REPO / "samconfig.toml").read_text())[environment]
    assert samconfig["global"]["parameters"]["stack_name"]
    deploy = samconfig["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
