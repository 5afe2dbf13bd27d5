"""template.yaml: linted by SAM and cfn-lint, then checked after SAM's own translation to CloudFormation."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from broker import config
from broker.api_key import SECRETS_MANAGER_CONFIG
from broker.quota import DYNAMODB_CONFIG
from local.lambda_emulator import FUNCTION_HANDLER
from local.sam_template import SOURCE_TEMPLATE, Template
from tests.template.rules import broken_rules
from tests.template.translation import SOURCE, of_type, translate

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
POOL_ARN = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123xyz"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gradium/api-key-AbCdEf"


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies, conditional ones included."""
    found = []
    for policy in role["Properties"]["Policies"]:
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        found += policy["PolicyDocument"]["Statement"]
    return found


def grants(role: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A role's statements by action; an explicit role of ours attaches no managed (AWS-wide) policy."""
    assert "ManagedPolicyArns" not in role["Properties"]
    return {json.dumps(s["Action"]): s for s in statements(role)}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate()


def run_check(*command: str | Path) -> str:
    """Run a template checker; it must exit 0. Returns what it printed."""
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_sam_validate_lint() -> None:
    run_check(BIN / "sam", "validate", "--lint", "--template-file", REPO / "template.yaml")


def test_cfn_lint_with_the_serverless_rules() -> None:
    run_check(BIN / "cfn-lint", "--append-rules", "cfn_lint_serverless.rules", "--", REPO / "template.yaml")


def test_checkov() -> None:
    checkov = REPO / ".venv-checkov" / "bin" / "checkov"
    assert checkov.exists(), "run `make venv` first: checkov has a virtualenv of its own"
    output = run_check(
        checkov, "-f", REPO / "template.yaml", "--framework", "cloudformation", "--skip-download", "--compact"
    )
    assert "Failed checks: 0" in output


def test_every_suppression_says_why() -> None:
    for name, resource in SOURCE["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, f"{name}: checkov {skip['id']} without a reason"
    ignores = re.findall(r"^\s*- ([WE]S?\d+)(.*)$", (REPO / "template.yaml").read_text(), re.MULTILINE)
    assert ignores, "the template has cfn-lint suppressions; this check must see them"
    for rule, rest in ignores:
        assert re.match(r"\s*# \S.{20,}", rest), f"cfn-lint {rule} suppressed without a reason"


def test_post_is_behind_cognito_and_only_the_preflight_is_open(translated: dict[str, Any]) -> None:
    [api] = of_type(translated, "AWS::ApiGateway::RestApi").values()
    body = api["Properties"]["Body"]
    assert list(body["paths"]) == ["/gradium-token"]
    methods = body["paths"]["/gradium-token"]
    assert set(methods) == {"post", "options"}
    assert methods["post"]["security"] == [{"CognitoAuthorizer": []}]
    assert "security" not in methods["options"]  # a browser's preflight carries no token
    assert methods["options"]["x-amazon-apigateway-integration"]["type"] == "mock"
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


def test_api_gateway_errors_are_json_with_cors_when_enabled(translated: dict[str, Any]) -> None:
    [api] = of_type(translated, "AWS::ApiGateway::RestApi").values()
    responses = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for response in responses.values():
        assert response["responseTemplates"]["application/json"] == '{"error": $context.error.messageString}'
        headers = response["responseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == {
            "Fn::If": ["HasAllowedOrigin", {"Fn::Sub": "'${AllowedOrigin}'"}, {"Ref": "AWS::NoValue"}]
        }
        # A browser may read a throttled answer's Retry-After; no answer is ever cached.
        assert headers["gatewayresponse.header.Access-Control-Expose-Headers"] == {
            "Fn::If": ["HasAllowedOrigin", "'Retry-After'", {"Ref": "AWS::NoValue"}]
        }
        assert headers["gatewayresponse.header.Cache-Control"] == "'no-store'"


def test_the_preflight_sends_cors_headers_only_with_an_origin(translated: dict[str, Any]) -> None:
    [api] = of_type(translated, "AWS::ApiGateway::RestApi").values()
    options = api["Properties"]["Body"]["paths"]["/gradium-token"]["options"]
    parameters = options["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
    assert parameters
    for value in parameters.values():
        assert value["Fn::If"][0] == "HasAllowedOrigin"
        assert value["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_stage_throttling_and_json_access_logs(translated: dict[str, Any]) -> None:
    [stage] = of_type(translated, "AWS::ApiGateway::Stage").values()
    [settings] = stage["Properties"]["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    assert settings["LoggingLevel"] == "OFF"  # execution logs could record the JWT
    access = stage["Properties"]["AccessLogSetting"]
    assert access["DestinationArn"]["Fn::Sub"].endswith(":log-group:${ApiAccessLogGroup}")
    fields = json.loads(access["Format"])
    assert fields["sub"] == "$context.authorizer.claims.sub"
    assert fields["requestId"] == "$context.requestId"
    assert fields["status"] == "$context.status"
    assert fields["latencyMs"] == "$context.responseLatency"
    retention = translated["Resources"]["ApiAccessLogGroup"]["Properties"]["RetentionInDays"]
    assert retention == {"Ref": "AccessLogRetentionDays"}


def test_an_optional_web_acl_is_associated_with_the_stage(translated: dict[str, Any]) -> None:
    association = translated["Resources"]["WebAclAssociation"]
    assert association["Condition"] == "HasWebAcl"
    assert association["Properties"]["WebACLArn"] == {"Ref": "WebAclArn"}
    assert "/restapis/${TokenApi}/stages/" in association["Properties"]["ResourceArn"]["Fn::Sub"]


def test_reserved_concurrency_is_optional(translated: dict[str, Any]) -> None:
    function = translated["Resources"]["TokenFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }


def test_the_function_role_is_least_privilege(translated: dict[str, Any]) -> None:
    role = translated["Resources"]["TokenFunctionRole"]
    by_action = grants(role)
    assert set(by_action) == {
        '"secretsmanager:GetSecretValue"',
        '["logs:CreateLogStream", "logs:PutLogEvents"]',
        '"kms:Decrypt"',
        '"dynamodb:UpdateItem"',
        '["xray:PutTraceSegments", "xray:PutTelemetryRecords"]',
    }
    assert by_action['"dynamodb:UpdateItem"']["Resource"] == {"Fn::GetAtt": ["QuotaTable", "Arn"]}
    assert by_action['"kms:Decrypt"']["Resource"] == {"Ref": "ExistingSecretKmsKeyArn"}
    assert by_action['"kms:Decrypt"']["Condition"]["StringEquals"]["kms:ViaService"]
    assert by_action['"secretsmanager:GetSecretValue"']["Resource"] == {
        "Fn::If": ["CreateSecret", {"Ref": "GradiumApiKeySecret"}, {"Ref": "ExistingSecretArn"}]
    }
    logs = by_action['["logs:CreateLogStream", "logs:PutLogEvents"]']
    assert logs["Resource"] == {"Fn::GetAtt": ["TokenFunctionLogGroup", "Arn"]}
    assert all(s["Effect"] == "Allow" for s in statements(role))
    assert "*" not in json.dumps([s["Action"] for s in statements(role)])
    # The one wildcard resource: X-Ray's write actions accept no other, and exist only with tracing on.
    wildcards = [s for s in statements(role) if "*" in json.dumps(s["Resource"])]
    assert [w["Action"] for w in wildcards] == [["xray:PutTraceSegments", "xray:PutTelemetryRecords"]]


def test_each_optional_policy_exists_only_with_its_feature(translated: dict[str, Any]) -> None:
    policies = translated["Resources"]["TokenFunctionRole"]["Properties"]["Policies"]
    conditional = {p["Fn::If"][1]["PolicyName"]: p["Fn::If"] for p in policies if "Fn::If" in p}
    assert {name: branch[0] for name, branch in conditional.items()} == {
        "decrypt-gradium-api-key": "HasSecretKmsKey",
        "count-token-quota": "QuotaEnabled",
        "write-xray-traces": "TracingOn",
    }
    assert all(branch[2] == {"Ref": "AWS::NoValue"} for branch in conditional.values())
    unconditional = [p["PolicyName"] for p in policies if "Fn::If" not in p]
    assert unconditional == ["write-own-logs", "read-gradium-api-key"]


def test_an_existing_secret_is_the_only_one_readable() -> None:
    template = translate(ExistingSecretArn=SECRET_ARN)
    role = template["Resources"]["TokenFunctionRole"]
    [read] = [s for s in statements(role) if s["Action"] == "secretsmanager:GetSecretValue"]
    assert read["Resource"]["Fn::If"][2] == {"Ref": "ExistingSecretArn"}


def test_the_function(translated: dict[str, Any]) -> None:
    function = translated["Resources"]["TokenFunction"]["Properties"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert SOURCE["Parameters"]["Architecture"]["Default"] == "arm64"  # deployed: 20% cheaper than x86_64
    assert function["Handler"] == FUNCTION_HANDLER  # what make invoke, make serve and make bench run
    assert function["Timeout"] < 29  # API Gateway's integration timeout
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "TokenFunctionLogGroup"}
    assert SOURCE["Resources"]["TokenFunction"]["Properties"]["CodeUri"] == "functions/"
    assert function["Layers"][0]["Ref"].startswith("DependenciesLayer")


def test_the_timeouts_fit_inside_each_other(translated: dict[str, Any]) -> None:
    function = translated["Resources"]["TokenFunction"]["Properties"]
    budget = SOURCE["Parameters"]["GradiumTimeoutSeconds"]
    assert budget["MaxValue"] == config.SETTINGS["timeout_seconds"].high
    read, update = SECRETS_MANAGER_CONFIG, DYNAMODB_CONFIG
    secret_reads = 2 * read.retries["total_max_attempts"] * (read.connect_timeout + read.read_timeout)
    quota_update = update.retries["total_max_attempts"] * (update.connect_timeout + update.read_timeout)
    assert budget["MaxValue"] + secret_reads + quota_update < function["Timeout"] < 29


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
    """Each setting's template parameter: its default, read as the function reads it, is the module's
    default; its MaxValue is the module's bound, its MinValue no looser."""
    parameters = SOURCE["Parameters"]
    checked = 0
    for setting in config.SETTINGS.values():
        if setting.parameter is None or setting.variable == "GRADIUM_API_KEY_SECRET_ID":
            continue  # set from a resource (empty ExistingSecretArn: the stack's own secret)
        spec = parameters[setting.parameter]
        template_default = setting.read({setting.variable: str(spec.get("Default", ""))})
        assert template_default == setting.read({}), setting.parameter
        if setting.high is not None:
            assert spec["MaxValue"] == setting.high, setting.parameter
            assert spec["MinValue"] >= setting.low, setting.parameter
        checked += 1
    assert checked == 14
    assert parameters["GradiumTokenUrl"]["Default"] == config.SETTINGS["token_url"].default
    assert parameters["TokensPerUserPerDay"]["MaxValue"] == 1_000_000


def test_a_default_named_in_a_parameters_description_is_its_default() -> None:
    named = 0
    for name, spec in SOURCE["Parameters"].items():
        for quoted in re.findall(r"\bdefault (\d+|[A-Z]+)\b", spec.get("Description", "")):
            assert quoted == str(spec["Default"]), name
            named += 1
    assert named >= 12


def test_each_setting_sets_its_variable_from_its_parameter(translated: dict[str, Any]) -> None:
    variables = translated["Resources"]["TokenFunction"]["Properties"]["Environment"]["Variables"]
    for setting in config.SETTINGS.values():
        assert setting.variable in variables, setting.variable
        if setting.parameter:
            assert setting.parameter in json.dumps(variables[setting.variable]), setting.variable


def test_the_configuration_page_documents_every_parameter_with_its_default() -> None:
    page = (REPO / "docs" / "configuration.md").read_text()
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \|[^|]*\| (.*?) \|", page, re.MULTILINE)
    }
    for name, spec in SOURCE["Parameters"].items():
        assert name in rows, f"docs/configuration.md's table lacks {name}"
        default = str(spec.get("Default", ""))
        assert (f"`{default}`" in rows[name]) if default else ("empty" in rows[name]), name


def test_the_quota_table(translated: dict[str, Any]) -> None:
    table = translated["Resources"]["QuotaTable"]
    assert table["Condition"] == "QuotaEnabled"
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    variables = translated["Resources"]["TokenFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["QUOTA_TABLE_NAME"] == {"Fn::If": ["QuotaEnabled", {"Ref": "QuotaTable"}, ""]}
    assert variables["TOKENS_PER_USER_PER_MINUTE"] == {"Ref": "TokensPerUserPerMinute"}
    assert variables["TOKENS_PER_USER_PER_DAY"] == {"Ref": "TokensPerUserPerDay"}
    assert variables["DAILY_TOKEN_CEILING"] == {"Ref": "DailyTokenCeiling"}
    # Any limit, the ceiling included, needs the table; only all three at 0 go without it.
    enabled = SOURCE["Conditions"]["QuotaEnabled"]
    assert enabled == {
        "Fn::Or": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "TokensPerUserPerMinute"}, 0]}]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "TokensPerUserPerDay"}, 0]}]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "DailyTokenCeiling"}, 0]}]},
        ]
    }


def test_alarms_notify_the_topic(translated: dict[str, Any]) -> None:
    alarms = of_type(translated, "AWS::CloudWatch::Alarm")
    watched = {a["Properties"].get("MetricName") or "metric math" for a in alarms.values()}
    assert watched == {
        "Errors",
        "Throttles",
        "5XXError",
        "Latency",
        "metric math",
        "CircuitOpened",
        "SecretRefreshFailures",
        "GradiumCreditsRemaining",
        "CreditsCheckFailures",
        "DailyCeilingRejections",
    }
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    math = translated["Resources"]["UpstreamErrorRateAlarm"]["Properties"]["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in math if "MetricStat" in m} == {
        "UpstreamErrors",
        "TokensIssued",
    }
    assert translated["Resources"]["ApiLatencyP99Alarm"]["Properties"]["ExtendedStatistic"] == "p99"
    assert "QuotaRejections" not in json.dumps(alarms)  # a metric on the dashboard, not an alarm
    subscription = translated["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"


def test_the_dashboard(translated: dict[str, Any]) -> None:
    body = translated["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    shown = json.dumps(widgets)
    for metric in (
        "TokensIssued",
        "UpstreamLatency",
        "UpstreamErrorsByKind",
        "QuotaRejections",
        "DailyQuotaRejections",
        "GradiumCreditsRemaining",
    ):
        assert metric in shown


MONITOR_PARTS = {
    "CreditsMonitorFunction": "AWS::Lambda::Function",
    "CreditsMonitorFunctionCreditsCheck": "AWS::Scheduler::Schedule",
    "CreditsCheckRole": "AWS::IAM::Role",  # lets the scheduler invoke the function, and nothing else
    "CreditsMonitorRole": "AWS::IAM::Role",
    "CreditsMonitorLogGroup": "AWS::Logs::LogGroup",
    "CreditsLowAlarm": "AWS::CloudWatch::Alarm",
    "CreditsCheckFailingAlarm": "AWS::CloudWatch::Alarm",
}


def test_the_credits_monitor_exists_only_with_a_threshold(translated: dict[str, Any]) -> None:
    assert SOURCE["Parameters"]["CreditsAlarmThreshold"]["Default"] == 0
    assert SOURCE["Conditions"]["CreditsMonitorEnabled"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CreditsAlarmThreshold"}, 0]}]
    }
    resources = translated["Resources"]
    monitor = {name: r for name, r in resources.items() if r.get("Condition") == "CreditsMonitorEnabled"}
    assert {name: r["Type"] for name, r in monitor.items()} == MONITOR_PARTS
    # Nothing else mentions the monitor, so a threshold of 0 leaves nothing of it behind.
    others = {name: r for name, r in resources.items() if name not in monitor and name != "Dashboard"}
    assert "CreditsMonitor" not in json.dumps(others)
    assert translated["Outputs"]["CreditsMonitorFunctionName"]["Condition"] == "CreditsMonitorEnabled"


def test_the_credits_check_runs_on_its_schedule_with_the_event_of_make_invoke(
    translated: dict[str, Any],
) -> None:
    schedule = translated["Resources"]["CreditsMonitorFunctionCreditsCheck"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "CreditsCheckSchedule"}
    assert SOURCE["Parameters"]["CreditsCheckSchedule"]["Default"] == "rate(1 hour)"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": ["CreditsMonitorFunction", "Arn"]}
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    event = json.loads((REPO / "events" / "credits_monitor" / "scheduled.json").read_text())
    assert json.loads(schedule["Target"]["Input"]) == event
    pattern = SOURCE["Parameters"]["CreditsCheckSchedule"]["AllowedPattern"]
    for expression, valid in {"rate(1 hour)": True, "cron(0 * * * ? *)": True, "hourly": False}.items():
        assert bool(re.fullmatch(pattern, expression)) is valid


def test_the_credits_monitor_reads_the_one_secret_and_nothing_else(translated: dict[str, Any]) -> None:
    function = translated["Resources"]["CreditsMonitorFunction"]["Properties"]
    assert function["Handler"] == "broker.credits_monitor.handler"
    assert SOURCE["Resources"]["CreditsMonitorFunction"]["Properties"]["CodeUri"] == "functions/"
    assert function["Role"] == {"Fn::GetAtt": ["CreditsMonitorRole", "Arn"]}
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "CreditsMonitorLogGroup"}
    variables = function["Environment"]["Variables"]
    token_variables = translated["Resources"]["TokenFunction"]["Properties"]["Environment"]["Variables"]
    for name in ("GRADIUM_API_KEY_SECRET_ID", "GRADIUM_TOKEN_URL", "GRADIUM_TIMEOUT_SECONDS"):
        assert variables[name] == token_variables[name]  # the same secret, host and budget
    role = translated["Resources"]["CreditsMonitorRole"]
    by_action = grants(role)
    assert set(by_action) == {
        '"secretsmanager:GetSecretValue"',
        '["logs:CreateLogStream", "logs:PutLogEvents"]',
        '"kms:Decrypt"',
    }
    assert by_action['"secretsmanager:GetSecretValue"']["Resource"] == {
        "Fn::If": ["CreateSecret", {"Ref": "GradiumApiKeySecret"}, {"Ref": "ExistingSecretArn"}]
    }
    assert by_action['["logs:CreateLogStream", "logs:PutLogEvents"]']["Resource"] == {
        "Fn::GetAtt": ["CreditsMonitorLogGroup", "Arn"]
    }
    assert "*" not in json.dumps([(s["Action"], s["Resource"]) for s in statements(role)])


def test_the_credits_alarm_watches_what_the_monitor_publishes(translated: dict[str, Any]) -> None:
    alarm = translated["Resources"]["CreditsLowAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("GradiumTokenBroker", "GradiumCreditsRemaining")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        {"Ref": "CreditsAlarmThreshold"},
        "LessThanThreshold",
    )
    # The monitor's EMF namespace and dimension come from Globals, as the token function's do.
    variables = SOURCE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == alarm["Namespace"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}


def test_tracing_is_opt_in(translated: dict[str, Any]) -> None:
    function = translated["Resources"]["TokenFunction"]["Properties"]
    assert function["TracingConfig"] == {"Mode": {"Fn::If": ["TracingOn", "Active", "PassThrough"]}}
    variables = function["Environment"]["Variables"]
    assert variables["TRACING_ENABLED"] == {"Ref": "EnableTracing"}
    [stage] = of_type(translated, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] == {"Fn::If": ["TracingOn", True, False]}
    assert SOURCE["Parameters"]["EnableTracing"]["Default"] == "false"


def test_the_layer_is_built_by_sam_with_pinned_packages() -> None:
    layer = SOURCE["Resources"]["DependenciesLayer"]
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": {"Ref": "Architecture"}}
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    requirements = (REPO / layer["Properties"]["ContentUri"] / "requirements.txt").read_text()
    pins = dict(line.split("==") for line in requirements.splitlines() if line and not line.startswith("#"))
    assert set(pins) == {"aws-lambda-powertools", "urllib3"}  # boto3 comes with the runtime
    assert all(re.fullmatch(r"\d+(\.\d+)+", version) for version in pins.values())


def test_the_xray_sdk_has_its_own_layer_only_with_tracing(translated: dict[str, Any]) -> None:
    layer = SOURCE["Resources"]["TracingLayer"]
    assert layer["Condition"] == "TracingOn"
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (REPO / layer["Properties"]["ContentUri"] / "Makefile").read_text()
    assert "--no-deps" in makefile  # aws-xray-sdk declares botocore, which must not shadow the runtime's
    # SAM gives a makefile build no architecture: the layer carries both (the built one is checked in
    # tests/integration).
    assert "manylinux2014_aarch64" in makefile and "manylinux2014_x86_64" in makefile
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    layers = translated["Resources"]["TokenFunction"]["Properties"]["Layers"]
    assert layers[1] == {
        "Fn::If": ["TracingOn", {"Ref": layers[1]["Fn::If"][1]["Ref"]}, {"Ref": "AWS::NoValue"}]
    }
    assert layers[1]["Fn::If"][1]["Ref"].startswith("TracingLayer")


def test_a_new_user_pool_has_a_public_mobile_client(translated: dict[str, Any]) -> None:
    client = translated["Resources"]["UserPoolAppClient"]
    assert client["Condition"] == "CreateUserPool"
    props = client["Properties"]
    assert props["GenerateSecret"] is False
    assert {"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"} <= set(props["ExplicitAuthFlows"])
    assert "ALLOW_USER_PASSWORD_AUTH" not in props["ExplicitAuthFlows"]  # no plain passwords over the wire
    pool = translated["Resources"]["UserPool"]
    assert pool["Condition"] == "CreateUserPool"
    # Tokens cost credits: admin-created accounts unless SelfSignUp (default "false") says otherwise.
    assert pool["Properties"]["AdminCreateUserConfig"] == {
        "AllowAdminCreateUserOnly": {"Fn::If": ["SelfSignUpOn", False, True]}
    }
    assert SOURCE["Parameters"]["SelfSignUp"]["Default"] == "false"
    assert pool["Properties"]["MfaConfiguration"] == "OPTIONAL"


def test_outputs(translated: dict[str, Any]) -> None:
    outputs = translated["Outputs"]
    assert {"TokenUrl", "UserPoolId", "AppClientId", "SecretArn"} <= set(outputs)
    assert outputs["TokenUrl"]["Value"]["Fn::Sub"].endswith("/${StageName}/gradium-token")


def test_the_amplify_outputs_describe_the_stacks_pool_client_and_token_url(
    translated: dict[str, Any],
) -> None:
    output = translated["Outputs"]["AmplifyOutputs"]
    assert output["Condition"] == "CreateUserPool"  # a brought-in pool has its own app client
    names = {
        "UserPool": "eu-west-1_AbC123xyz",
        "UserPoolAppClient": "4abc123def456ghi789jkl0mno",
        "TokenApi": "a1b2",
    }
    template = Template.load(SOURCE_TEMPLATE, {}, "eu-west-1")  # resolved as CloudFormation resolves it
    config = json.loads(template.output("AmplifyOutputs", names))
    assert config["auth"] == config["auth"] | {
        "aws_region": "eu-west-1",
        "user_pool_id": "eu-west-1_AbC123xyz",
        "user_pool_client_id": "4abc123def456ghi789jkl0mno",
    }
    assert "oauth" not in config["auth"]  # no hosted UI by default (with one: tests/clients, Amplify JS)
    assert config["custom"]["gradium_token_url"] == template.output("TokenUrl", names)
    assert (
        config["custom"]["gradium_token_url"]
        == "https://a1b2.execute-api.eu-west-1.amazonaws.com/v1/gradium-token"
    )
    # The password rules an Amplify sign-up form shows are the pool's own.
    policy = translated["Resources"]["UserPool"]["Properties"]["Policies"]["PasswordPolicy"]
    assert config["auth"]["password_policy"] == {
        "min_length": policy["MinimumLength"],
        "require_lowercase": policy["RequireLowercase"],
        "require_uppercase": policy["RequireUppercase"],
        "require_numbers": policy["RequireNumbers"],
        "require_symbols": policy["RequireSymbols"],
    }


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_samconfig_deploys_without_extra_flags(environment: str) -> None:
    samconfig = tomllib.loads((REPO / "samconfig.toml").read_text())[environment]
    assert samconfig["global"]["parameters"]["stack_name"]
    deploy = samconfig["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True


def test_the_user_pool_survives_a_stack_delete_or_a_replacement(translated: dict[str, Any]) -> None:
    pool = translated["Resources"]["UserPool"]
    assert pool["DeletionPolicy"] == pool["UpdateReplacePolicy"] == "Retain"
    assert pool["Properties"]["DeletionProtection"] == "ACTIVE"


def test_the_account_logs_role_outlives_the_stack() -> None:
    resources = translate(ConfigureApiGatewayLogsRole="true")["Resources"]
    for name in ("ApiGatewayLogsRole", "ApiGatewayAccount"):
        assert resources[name]["DeletionPolicy"] == resources[name]["UpdateReplacePolicy"] == "Retain"


def test_id_tokens_are_short_lived(translated: dict[str, Any]) -> None:
    """An ID token cannot be revoked; its lifetime bounds how long a disabled user can mint."""
    props = translated["Resources"]["UserPoolAppClient"]["Properties"]
    assert props["TokenValidityUnits"]["IdToken"] == "minutes"
    assert props["IdTokenValidity"] <= 15


def deployment_id(template: dict[str, Any]) -> str:
    [name] = of_type(template, "AWS::ApiGateway::Deployment")
    stage = next(iter(of_type(template, "AWS::ApiGateway::Stage").values()))
    assert stage["Properties"]["DeploymentId"] == {"Ref": name}
    return name


def test_a_new_allowed_origin_redeploys_the_api() -> None:
    """SAM hashes the definition before Fn::If/Fn::Sub resolve: without AlwaysDeploy, every origin gave
    the same deployment and the stage kept the old CORS answers."""
    first = deployment_id(translate(AllowedOrigin="https://one.example.com"))
    time.sleep(1.1)  # SAM's always-deploy hash changes once a second
    second = deployment_id(translate(AllowedOrigin="https://two.example.com"))
    assert first != second


TOKEN_URLS = {
    "https://api.gradium.ai/api/api-keys/token": True,
    "https://api.gradium.ai:8443/api/api-keys/token": True,
    "https://api.gradium.ai:65535/api/api-keys/token": True,
    "https://api.gradium.ai": True,
    "https://api.gradium.ai:99999/api/api-keys/token": False,
    "https://api.gradium.ai:65536/api/api-keys/token": False,
    "https://api.gradium.ai:abc/api/api-keys/token": False,
    "https://api.gradium.ai:0/api/api-keys/token": False,
    "https://api.gradium.ai:/api/api-keys/token": False,
    "https://user:pw@api.gradium.ai/api/api-keys/token": False,
    "https://api.gradium.ai/api/api-keys/token?x=1": False,
    "https://api.gradium.ai/api/api-keys/token#top": False,
    "https://api.gradium.ai/api keys/token": False,
    "https://api.gr\u00e4dium.ai/api/api-keys/token": False,
    "http://api.gradium.ai/api/api-keys/token": False,
    "https://gradium.ai/api/api-keys/token": True,
    # The review's reproduction: the key went to any https host the parameter named.
    "https://collector.example.com/api/api-keys/token": False,
    "https://api.gradium.ai.example.com/api/api-keys/token": False,
    "https://evilgradium.ai/api/api-keys/token": False,
    "https://api.gradium.ai./api/api-keys/token": False,
}


@pytest.mark.parametrize(("url", "valid"), TOKEN_URLS.items())
def test_the_token_url_pattern_agrees_with_the_config_module(url: str, valid: bool) -> None:
    """CloudFormation refuses what the function would refuse, so a bad URL fails the deploy, not requests."""
    pattern = SOURCE["Parameters"]["GradiumTokenUrl"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, url)) is valid
    try:
        config.Settings.from_env(
            {"GRADIUM_API_KEY_SECRET_ID": "s", "QUOTA_TABLE_NAME": "t", "GRADIUM_TOKEN_URL": url}
        )
    except config.ConfigError:
        accepted = False
    else:
        accepted = True
    assert accepted is valid


def test_every_release_goes_through_the_live_alias_and_codedeploy() -> None:
    template = translate(DeploymentType="Canary10Percent5Minutes")
    resources = template["Resources"]
    source = SOURCE["Resources"]["TokenFunction"]["Properties"]
    # A configuration-only change (a setting, a layer) publishes a version too.
    assert source["AutoPublishAliasAllProperties"] is True
    [alias] = of_type(template, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["Name"] == "live"
    version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    assert resources[version]["Type"] == "AWS::Lambda::Version"
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"] == {
        "Ref": "TokenFunctionDeploymentGroup"
    }
    group = resources["TokenFunctionDeploymentGroup"]["Properties"]
    assert group["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": "Canary10Percent5Minutes"}
    assert {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]} == {
        "FunctionErrorsAlarm",
        "UpstreamErrorRateAlarm",
        "Api5xxAlarm",
    }
    assert group["AlarmConfiguration"]["Enabled"] is True
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
    assert source["DeploymentPreference"]["Type"] == {"Ref": "DeploymentType"}
    # The API invokes the alias, never $LATEST, and may invoke nothing else.
    body = resources["TokenApi"]["Properties"]["Body"]
    uri = body["paths"]["/gradium-token"]["post"]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
    assert "${TokenFunctionAliaslive}" in uri
    [permission] = of_type(template, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["FunctionName"] == {"Ref": "TokenFunctionAliaslive"}


def test_release_styles_per_environment() -> None:
    assert SOURCE["Parameters"]["DeploymentType"]["Default"] == "AllAtOnce"
    assert "Canary10Percent5Minutes" in SOURCE["Parameters"]["DeploymentType"]["AllowedValues"]
    environments = tomllib.loads((REPO / "samconfig.toml").read_text())
    overrides = {
        name: environments[name]["deploy"]["parameters"]["parameter_overrides"]
        for name in ("default", "prod")
    }
    assert "DeploymentType=AllAtOnce" in overrides["default"]
    assert "DeploymentType=Canary10Percent5Minutes" in overrides["prod"]


def test_provisioned_concurrency_is_optional_on_the_alias(translated: dict[str, Any]) -> None:
    [alias] = of_type(translated, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {
        "Fn::If": [
            "HasProvisionedConcurrency",
            {"ProvisionedConcurrentExecutions": {"Ref": "ProvisionedConcurrency"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert SOURCE["Parameters"]["ProvisionedConcurrency"]["Default"] == 0


def test_an_existing_pools_app_client_is_reported(translated: dict[str, Any]) -> None:
    output = translated["Outputs"]["AppClientId"]
    assert "Condition" not in output  # `make smoke` and the app need it with a brought-in pool too
    assert output["Value"] == {
        "Fn::If": ["CreateUserPool", {"Ref": "UserPoolAppClient"}, {"Ref": "ExistingUserPoolClientId"}]
    }


def test_only_the_stacks_own_app_client_gets_tokens_by_default(translated: dict[str, Any]) -> None:
    """API Gateway's Cognito authorizer does not check `aud`: the function does, against this list."""
    variables = translated["Resources"]["TokenFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["ALLOWED_CLIENT_IDS"] == {
        "Fn::If": [
            "HasAllowedClientIds",
            {"Fn::If": ["AnyClientAllowed", "", {"Ref": "AllowedClientIds"}]},
            {"Fn::If": ["CreateUserPool", {"Ref": "UserPoolAppClient"}, {"Ref": "ExistingUserPoolClientId"}]},
        ]
    }
    pattern = SOURCE["Parameters"]["AllowedClientIds"]["AllowedPattern"]
    for value, valid in [("", True), ("*", True), ("abc123", True), ("abc,def9", True), ("abc,", False)]:
        assert bool(re.fullmatch(pattern, value)) is valid, value
        if valid and value != "*":
            config.Settings.from_env(
                {"GRADIUM_API_KEY_SECRET_ID": "s", "QUOTA_TABLE_NAME": "t", "ALLOWED_CLIENT_IDS": value}
            )


def test_accounts_are_admin_created_unless_self_sign_up_is_chosen() -> None:
    pool = translate()["Resources"]["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] == {
        "Fn::If": ["SelfSignUpOn", False, True]
    }
    assert SOURCE["Parameters"]["SelfSignUp"]["Default"] == "false"
    assert pool["AutoVerifiedAttributes"] == ["email"]  # a signed-up address is verified by a code
    assert pool["VerificationMessageTemplate"]["DefaultEmailOption"] == "CONFIRM_WITH_CODE"


def test_the_hosted_ui_exists_only_with_its_domain_and_sends_users_back_to_the_apps_urls_only() -> None:
    off = translate()
    assert (
        "UserPoolDomain" not in off["Resources"]
        or off["Resources"]["UserPoolDomain"]["Condition"] == "HostedUi"
    )
    conditions = off["Conditions"]
    assert conditions["HostedUi"]["Fn::And"][0] == {"Condition": "CreateUserPool"}
    client = off["Resources"]["UserPoolAppClient"]["Properties"]
    assert client["AllowedOAuthFlows"] == {"Fn::If": ["HostedUi", ["code"], {"Ref": "AWS::NoValue"}]}
    assert client["AllowedOAuthScopes"]["Fn::If"][1] == ["openid", "email", "profile"]
    assert client["SupportedIdentityProviders"]["Fn::If"][1] == ["COGNITO"]
    assert client["CallbackURLs"]["Fn::If"][0] == "HostedUi"
    domain = off["Resources"]["UserPoolDomain"]
    assert domain["Properties"]["Domain"] == {"Ref": "HostedUiDomainPrefix"}
    [assertion] = off["Rules"]["HostedUiNeedsCallbacks"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Contains": [{"Ref": "OAuthCallbackUrls"}, ""]}]}


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://app.example.com/callback", True),
        ("myapp://callback", False),  # a custom scheme can be claimed by any app on the device
        ("http://localhost:5173/callback", True),
        ("http://app.example.com/callback", False),
        ("https://a.example.com/x,https://b.example.com/y", False),  # one item of the list
    ],
)
def test_oauth_urls_are_https_or_localhost(url: str, valid: bool) -> None:
    from ops import template_parameters

    parameter = template_parameters.load()["OAuthCallbackUrls"]
    assert (re.fullmatch(parameter.allowed_pattern or "", url) is not None) is valid
    if valid:
        assert parameter.refusal(url) is None


POOL_ARN = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123"


@pytest.mark.parametrize(
    ("parameters", "broken"),
    [
        ({}, []),
        # The review's replay: a brought-in pool with no client named allowed every app client of it.
        ({"ExistingUserPoolArn": POOL_ARN}, ["BroughtInPoolNamesItsAppClients"]),
        ({"ExistingUserPoolArn": POOL_ARN, "ExistingUserPoolClientId": "4q2h7k9m1n3p"}, []),
        ({"ExistingUserPoolArn": POOL_ARN, "AllowedClientIds": "*"}, []),
        ({"HostedUiDomainPrefix": "voice"}, ["HostedUiNeedsCallbacks"]),
        # With self sign-up, a day's spend has no bound unless both daily caps are on.
        ({"SelfSignUp": "true"}, []),
        ({"SelfSignUp": "true", "DailyTokenCeiling": "0"}, ["SelfSignUpNeedsBothDailyCaps"]),
        ({"SelfSignUp": "true", "TokensPerUserPerDay": "0"}, ["SelfSignUpNeedsBothDailyCaps"]),
        ({"DailyTokenCeiling": "0"}, []),
        (
            {"PermissionsBoundaryArn": "arn:aws:iam::1:policy/b", "ConfigureApiGatewayLogsRole": "true"},
            ["AccountLogsRoleNeedsAnAdministrator"],
        ),
    ],
)
def test_the_rules_refuse_a_deploy_before_it_changes_anything(
    parameters: dict[str, str], broken: list[str]
) -> None:
    assert broken_rules(**parameters) == broken


def test_the_audit_lines_and_the_key_outlive_a_delete_or_a_replacing_update() -> None:
    """A `sam delete` (or an update that replaces them) must not take the audit trail or the key along."""
    resources = translate()["Resources"]
    for name in ("TokenFunctionLogGroup", "ApiAccessLogGroup", "GradiumApiKeySecret", "UserPool"):
        assert resources[name].get("DeletionPolicy") == "Retain", name
        assert resources[name].get("UpdateReplacePolicy") == "Retain", name
    function = resources["TokenFunction"]["Properties"]
    # The retained group is the one the function writes its audit lines to.
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "TokenFunctionLogGroup"}
    deleting = (REPO / "docs" / "deploying.md").read_text()
    for kept in ("/aws/lambda/$STACK-token", "/aws/apigateway/$STACK-access", "$STACK/gradium-api-key"):
        assert kept in deleting, kept


def test_the_launch_page_groups_every_parameter_once_as_the_parameters_section_does() -> None:
    """make publish's console page shows these groups in order (alphabetical without them); the template's
    Parameters carry the same sections, as Resources do."""
    groups = SOURCE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(SOURCE["Parameters"]) and len(set(grouped)) == len(grouped)
    assert grouped == list(SOURCE["Parameters"])  # the same order, section by section
    text = (REPO / "template.yaml").read_text()
    parameters = text[text.index("\nParameters:\n") : text.index("\nRules:\n")]
    headers = re.findall(r"^  # ==== ([^:\n]+)", parameters, re.MULTILINE)
    assert headers == [group["Label"]["default"] for group in groups]
    resources = re.findall(r"^  # ==== ([^:\n]+)", text[text.index("\nResources:\n") :], re.MULTILINE)
    assert [h.split(" (")[0] for h in resources] == headers[: len(resources)]
