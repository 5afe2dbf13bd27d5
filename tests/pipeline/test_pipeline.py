"""The GitHub Actions workflows (actionlint, and what they must do) and the bootstrap template (cfn-lint,
checkov, and the scope of its roles)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

from local.sam_template import Resolver
from ops.smoke_user import secret_name
from tests.pipeline.iam_policy import allowed_within, decision
from tests.template.translation import translate

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
BOOTSTRAP = REPO / "pipeline" / "bootstrap.yaml"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
MAKE = shutil.which("make") or "make"


def run(*command: str | Path) -> str:
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def workflow(name: str) -> dict[str, Any]:
    return yaml_parse((REPO / ".github" / "workflows" / name).read_text())


def test_actionlint() -> None:
    assert WORKFLOWS, "no workflow to lint"
    run(BIN / "actionlint", *WORKFLOWS)


def test_pull_requests_run_the_readmes_test_command() -> None:
    test = workflow("test.yml")
    assert "pull_request" in test[True]  # YAML 1.1 reads the key `on` as true
    steps = test["jobs"]["test"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs[-1] == "make test"  # after the system packages a fresh runner lacks, nothing else
    assert all("apt-get install" in run and "make" not in run for run in runs[:-1])
    assert "make test" in (REPO / "README.md").read_text()
    assert test["permissions"] == {"contents": "read"}


def test_main_deploys_dev_then_prod_behind_an_approval_with_short_lived_credentials() -> None:
    deploy = workflow("deploy.yml")
    assert deploy[True]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/test.yml"
    assert (jobs["dev"]["needs"], jobs["prod"]["needs"]) == ("test", "dev")
    assert (jobs["dev"]["environment"], jobs["prod"]["environment"]) == ("dev", "prod")
    for name in ("dev", "prod"):
        job = jobs[name]
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        [credentials] = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
        assert set(credentials["with"]) == {"role-to-assume", "aws-region", "role-session-name"}
        runs = " ".join(s.get("run", "") for s in job["steps"])
        assert "make deploy" in runs and "make smoke" in runs
    assert deploy["concurrency"]["cancel-in-progress"] is False
    text = " ".join(path.read_text() for path in WORKFLOWS)
    assert "secrets." not in text and "aws-access-key-id" not in text  # no stored AWS keys anywhere


def test_the_bootstrap_template_passes_cfn_lint_and_checkov() -> None:
    run(BIN / "cfn-lint", "--", BOOTSTRAP)
    run(CHECKOV, "-f", BOOTSTRAP, "--framework", "cloudformation", "--skip-download", "--compact", "--quiet")


@pytest.fixture(scope="module")
def bootstrap() -> dict[str, Any]:
    return yaml_parse(BOOTSTRAP.read_text())


def test_only_this_repositorys_environment_may_assume_the_pipeline_role(bootstrap: dict[str, Any]) -> None:
    [trust] = bootstrap["Resources"]["PipelineExecutionRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    condition = trust["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert condition["token.actions.githubusercontent.com:sub"] == {
        "Fn::Sub": "repo:${GitHubOwner}/${GitHubRepository}:environment:${GitHubEnvironment}"
    }


def test_every_grant_is_scoped(bootstrap: dict[str, Any]) -> None:
    """No action wildcard; a resource wildcard only where AWS defines the action on "*" alone."""
    only_on_star = {
        "cloudformation:ValidateTemplate",
        "logs:DescribeLogGroups",
        "cognito-idp:CreateUserPool",
        "cognito-idp:DescribeUserPoolDomain",
    }
    for name in ("PipelineExecutionRole", "CloudFormationExecutionRole"):
        for policy in bootstrap["Resources"][name]["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement["Effect"] == "Deny":  # a Deny takes rights away: it may be as wide as it likes
                    continue
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert not [a for a in actions if "*" in a], statement["Sid"]
                if statement["Resource"] == "*":
                    assert set(actions) <= only_on_star, statement["Sid"]
                else:
                    resources = json.dumps(statement["Resource"])
                    assert re.search(
                        r"StackName|ArtifactsBucket|CloudFormationExecutionRole|userpool|"
                        r"transform|webacl|aws:policy|restapis|::/account|SmokeTestUserSecret",
                        resources,
                    ), statement["Sid"]


ACCOUNT = "123456789012"
DEV, PROD = "gradium-token-broker-dev", "gradium-token-broker-prod"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/{DEV}-pipeline-PermissionsBoundary-1A2B3C"
TAG = "aws:ResourceTag/gradium-token-broker-stack"


def bootstrap_policies(
    bootstrap: dict[str, Any], existing_secret: str = ""
) -> dict[str, list[dict[str, Any]]]:
    """The statements of the dev environment's roles and of its boundary, as IAM would hold them."""
    parameters = {name: str(spec.get("Default", "")) for name, spec in bootstrap["Parameters"].items()} | {
        "StackName": DEV,
        "ExistingSecretArn": existing_secret,
    }
    names = {
        "AWS::Region": "us-east-1",
        "AWS::AccountId": ACCOUNT,
        "PermissionsBoundary": BOUNDARY,
        "ArtifactsBucket.Arn": "arn:aws:s3:::dev-artifacts",
        "CloudFormationExecutionRole.Arn": role("dev-pipeline-CloudFormationExecutionRole"),
    }
    resolve = Resolver(bootstrap, parameters, "us-east-1", names)
    resources = bootstrap["Resources"]
    policies = {
        name: [
            statement
            for policy in resources[name]["Properties"]["Policies"]
            for statement in resolve(policy["PolicyDocument"]["Statement"])
        ]
        for name in ("PipelineExecutionRole", "CloudFormationExecutionRole")
    }
    policies["PermissionsBoundary"] = resolve(
        resources["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"]
    )
    return policies


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def stack_role(name: str, stack: str = DEV) -> str:
    """A role the stack made, under its path (template.yaml's Path on each bounded role)."""
    return role(f"gradium-token-broker/{stack}/{stack}-{name}")


def test_the_execution_role_creates_and_changes_roles_only_with_the_boundary(
    bootstrap: dict[str, Any],
) -> None:
    """The review's reproduction: the execution role gave a role of the stack `Action: *` and a trust in
    another account. Now every such change needs the boundary on the role, which it cannot shed."""
    execution = bootstrap_policies(bootstrap)["CloudFormationExecutionRole"]
    function_role = stack_role("TokenFunctionRole-1A2B3C")
    with_boundary = {"iam:PermissionsBoundary": BOUNDARY}
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"):
        assert decision(execution, action, function_role, with_boundary) == "allow", action
        assert decision(execution, action, function_role) != "allow", action
        other = {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess"}
        assert decision(execution, action, function_role, other) != "allow", action
        assert (
            decision(execution, action, stack_role("TokenFunctionRole-9Z8Y", PROD), with_boundary) != "allow"
        )
    for action in ("iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:DeletePolicy"):
        target = BOUNDARY if "Policy" in action else function_role
        assert decision(execution, action, target, with_boundary) == "deny", action
    # No condition key protects a trust policy or a managed policy's attachment: neither is granted.
    for action in ("iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:CreatePolicy"):
        assert decision(execution, action, function_role, with_boundary) != "allow", action
    assert "iam:PermissionsBoundary" in json.dumps(bootstrap["Resources"]["CloudFormationExecutionRole"])


def test_a_role_under_the_boundary_cannot_reach_iam_or_another_stack(bootstrap: dict[str, Any]) -> None:
    """Whatever a deploy writes into a role's own policy (here `Action: *`), the boundary caps it."""
    boundary = bootstrap_policies(bootstrap)["PermissionsBoundary"]
    admin = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    region = f"us-east-1:{ACCOUNT}"
    forbidden = [
        ("iam:CreateRole", role("anything")),
        ("iam:AttachRolePolicy", role(f"{DEV}-TokenFunctionRole-1A2B3C")),
        ("sts:AssumeRole", role("OrganizationAccountAccessRole")),
        ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{region}:secret:{PROD}/gradium-api-key-X"),
        ("dynamodb:UpdateItem", f"arn:aws:dynamodb:{region}:table/{PROD}-QuotaTable-X"),
        ("lambda:UpdateAlias", f"arn:aws:lambda:{region}:function:{PROD}-TokenFunction-X:live"),
        ("cognito-idp:AdminSetUserPassword", f"arn:aws:cognito-idp:{region}:userpool/us-east-1_Prod"),
        ("s3:GetObject", "arn:aws:s3:::dev-artifacts/package.zip"),
        ("kms:Decrypt", f"arn:aws:kms:{region}:key/any"),  # not through Secrets Manager
    ]
    for action, resource in forbidden:
        assert not allowed_within(admin, boundary, action, resource), (action, resource)
    secret = f"arn:aws:secretsmanager:{region}:secret:{DEV}/gradium-api-key-AbCdEf"
    assert allowed_within(admin, boundary, "secretsmanager:GetSecretValue", secret)


def app_role_statements(parameters: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Every role's statements in the translated application template, resolved for the dev stack."""
    template = translate(**parameters)
    defaults = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    region = f"us-east-1:{ACCOUNT}"
    names = {
        "AWS::Region": "us-east-1",
        "AWS::AccountId": ACCOUNT,
        "AWS::StackName": DEV,
        "GradiumApiKeySecret": f"arn:aws:secretsmanager:{region}:secret:{DEV}/gradium-api-key-AbCdEf",
        "TokenFunctionLogGroup.Arn": f"arn:aws:logs:{region}:log-group:/aws/lambda/{DEV}-token:*",
        "CreditsMonitorLogGroup.Arn": f"arn:aws:logs:{region}:log-group:/aws/lambda/{DEV}-credits:*",
        "QuotaTable.Arn": f"arn:aws:dynamodb:{region}:table/{DEV}-QuotaTable-1A2B",
        "CreditsMonitorFunction.Arn": f"arn:aws:lambda:{region}:function:{DEV}-CreditsMonitorFunction-1A2B",
    }
    resolve = Resolver(template, defaults | parameters, "us-east-1", names)
    roles = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role" or name == "ApiGatewayLogsRole":
            continue
        assert resolve(resource["Properties"]["PermissionsBoundary"]) == BOUNDARY
        policies = resolve(resource["Properties"]["Policies"])
        roles[name] = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    return roles


@pytest.mark.parametrize(
    "parameters",
    [
        {"CreditsAlarmThreshold": "100", "EnableTracing": "true"},
        {
            "ExistingSecretArn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:shared/gradium-AbC",
            "ExistingSecretKmsKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab",
            "CreditsAlarmThreshold": "100",
        },
    ],
    ids=["own secret, every feature", "a brought-in secret and key"],
)
def test_the_boundary_allows_what_the_brokers_roles_need(
    bootstrap: dict[str, Any], parameters: dict[str, str]
) -> None:
    boundary = bootstrap_policies(bootstrap, parameters.get("ExistingSecretArn", ""))["PermissionsBoundary"]
    roles = app_role_statements({"PermissionsBoundaryArn": BOUNDARY, **parameters})
    assert {"TokenFunctionRole", "CodeDeployRole", "CreditsMonitorRole"} <= set(roles)
    assert "CreditsCheckRole" in roles  # the scheduler's
    for name, statements in roles.items():
        for statement in statements:
            context = {
                key: str(value)
                for keys in statement.get("Condition", {}).values()
                for key, value in keys.items()
            }
            for action in (
                statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            ):
                for resource in (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                ):
                    assert allowed_within(statements, boundary, action, resource, context), (name, action)


def test_every_role_of_the_application_takes_the_boundary() -> None:
    template = translate(CreditsAlarmThreshold="100", ConfigureApiGatewayLogsRole="true")
    roles = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert "CodeDeployServiceRole" not in roles  # SAM's own, which took no boundary
    for name, resource in roles.items():
        assert resource["Properties"]["PermissionsBoundary"] == {
            "Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]
        }, name
    group = template["Resources"]["TokenFunctionDeploymentGroup"]["Properties"]
    assert group["ServiceRoleArn"] == {"Fn::GetAtt": ["CodeDeployRole", "Arn"]}
    # The account-wide API Gateway logs role is an administrator's: a bounded deploy may not own it.
    [assertion] = template["Rules"]["AccountLogsRoleNeedsAnAdministrator"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "ConfigureApiGatewayLogsRole"}, "false"]}


def test_a_dev_job_cannot_touch_any_pools_users(bootstrap: dict[str, Any]) -> None:
    """The review's reproduction: the deploy role could reset the password of any user of a pool carrying
    the stack's tag, and operators were told to tag a brought-in (shared) pool. Now it has no user-admin
    action at all: it signs in as the app does, as a user an administrator made once."""
    policies = bootstrap_policies(bootstrap)
    pool = f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/us-east-1_AbC123"
    pipeline, execution = policies["PipelineExecutionRole"], policies["CloudFormationExecutionRole"]
    for action in (
        "cognito-idp:AdminSetUserPassword",
        "cognito-idp:AdminInitiateAuth",
        "cognito-idp:AdminCreateUser",
        "cognito-idp:AdminDeleteUser",
        "cognito-idp:AdminAddUserToGroup",
    ):
        for context in ({TAG: DEV}, {TAG: PROD}, {}):
            assert decision(pipeline, action, pool, context) != "allow", (action, context)
            assert decision(execution, action, pool, context) != "allow", (action, context)
    assert "cognito-idp:Admin" not in json.dumps(bootstrap["Resources"]["PipelineExecutionRole"])
    for action in ("cognito-idp:UpdateUserPool", "cognito-idp:CreateUserPoolClient"):
        assert decision(execution, action, pool, {TAG: DEV}) == "allow"
        assert decision(execution, action, pool, {TAG: PROD}) != "allow"
        assert decision(execution, action, pool) != "allow"
    # The pool cannot be re-tagged to the other stack, nor created under its name.
    retag = {TAG: DEV, "aws:RequestTag/gradium-token-broker-stack": PROD}
    assert decision(execution, "cognito-idp:TagResource", pool, retag) != "allow"
    create = "cognito-idp:CreateUserPool"
    assert decision(execution, create, "*", {"aws:RequestTag/gradium-token-broker-stack": DEV}) == "allow"
    assert decision(execution, create, "*", {"aws:RequestTag/gradium-token-broker-stack": PROD}) != "allow"
    assert decision(execution, create, "*") != "allow"
    tags = translate()["Resources"]["UserPool"]["Properties"]["UserPoolTags"]
    assert tags == {"gradium-token-broker-stack": {"Ref": "AWS::StackName"}}
    assert "tag-resource" not in (REPO / "docs" / "deploying.md").read_text()  # nobody tags a shared pool


def test_only_the_pipeline_reads_the_smoke_users_password(bootstrap: dict[str, Any]) -> None:
    secret = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{secret_name(DEV)}-AbCdEf"
    pipeline_role = role("dev-pipeline-PipelineExecutionRole-1A2B")
    names = {
        "AWS::Region": "us-east-1",
        "AWS::AccountId": ACCOUNT,
        "SmokeTestUserSecret": secret,
        "PipelineExecutionRole.Arn": pipeline_role,
        "CloudFormationExecutionRole.Arn": role("dev-pipeline-CloudFormationExecutionRole"),
        "ArtifactsBucket.Arn": "arn:aws:s3:::dev-artifacts",
    }
    parameters = {name: str(spec.get("Default", "")) for name, spec in bootstrap["Parameters"].items()}
    resolve = Resolver(bootstrap, parameters | {"StackName": DEV}, "us-east-1", names)
    resources = bootstrap["Resources"]
    assert resolve(resources["SmokeTestUserSecret"]["Properties"]["Name"]) == secret_name(DEV)
    pipeline = [
        statement
        for policy in resources["PipelineExecutionRole"]["Properties"]["Policies"]
        for statement in resolve(policy["PolicyDocument"]["Statement"])
    ]
    assert decision(pipeline, "secretsmanager:GetSecretValue", secret) == "allow"
    other = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{DEV}/gradium-api-key-AbCdEf"
    assert decision(pipeline, "secretsmanager:GetSecretValue", other) != "allow"  # never the Gradium key
    policy = resolve(resources["SmokeTestUserSecretPolicy"]["Properties"]["ResourcePolicy"]["Statement"])
    admin = role("Administrator")
    assert decision(policy, "secretsmanager:GetSecretValue", secret, {"aws:PrincipalArn": admin}) == "deny"
    assert decision(policy, "secretsmanager:GetSecretValue", secret, {"aws:PrincipalArn": pipeline_role}) != (
        "deny"
    )
    steps = workflow("deploy.yml")["jobs"]["dev"]["steps"]
    [smoke] = [step for step in steps if step.get("name") == "Smoke test the deployed stack"]
    assert "--user-from-secret" in smoke["run"] and "--create-user" not in smoke["run"]


def test_the_pipeline_cannot_set_the_accounts_api_gateway_settings(bootstrap: dict[str, Any]) -> None:
    execution = bootstrap_policies(bootstrap)["CloudFormationExecutionRole"]
    assert decision(execution, "apigateway:PATCH", "arn:aws:apigateway:us-east-1::/account") != "allow"
    api = "arn:aws:apigateway:us-east-1::/restapis/abc"
    assert decision(execution, "apigateway:PATCH", api, {TAG: DEV}) == "allow"


API_TAG = "aws:RequestTag/gradium-token-broker-stack"


def test_the_execution_role_changes_only_its_own_stacks_rest_api(bootstrap: dict[str, Any]) -> None:
    """The review's reproduction: a dev deploy could change, or delete, every REST API of the account."""
    execution = bootstrap_policies(bootstrap)["CloudFormationExecutionRole"]
    apis = "arn:aws:apigateway:us-east-1::/restapis"
    other, own_stage = f"{apis}/prod123", f"{apis}/dev456/stages/v1"
    writes = ("apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE")
    for action in writes:
        assert decision(execution, action, own_stage, {TAG: DEV}) == "allow", action  # inherited tag
        assert decision(execution, action, other, {TAG: PROD}) != "allow", action
        assert decision(execution, action, other) != "allow", action  # another application's, untagged
    assert decision(execution, "apigateway:POST", apis, {API_TAG: DEV}) == "allow"  # created with the tag
    assert decision(execution, "apigateway:POST", apis, {API_TAG: PROD}) != "allow"
    assert decision(execution, "apigateway:POST", apis) != "allow"
    tags = "arn:aws:apigateway:us-east-1::/tags/arn%3Aaws%3Aapigateway%3Aus-east-1%3A%3A%2Frestapis%2Fdev456"
    assert decision(execution, "apigateway:PUT", tags, {TAG: DEV, API_TAG: PROD}) != "allow"  # no re-tag
    assert decision(execution, "apigateway:PUT", tags, {TAG: DEV, API_TAG: DEV}) == "allow"
    assert decision(execution, "apigateway:GET", other) == "allow"  # reading changes nothing
    api = translate()["Resources"]["TokenApi"]["Properties"]
    assert {"Key": "gradium-token-broker-stack", "Value": {"Ref": "AWS::StackName"}} in api["Tags"]


def test_roles_are_passed_and_changed_only_if_this_stack_made_them_under_the_boundary(
    bootstrap: dict[str, Any],
) -> None:
    """The review's reproduction: PassRole and the shrink actions covered every `role/<stack>-*`: roles
    made before the boundary existed, and the account-wide API Gateway logs role."""
    execution = bootstrap_policies(bootstrap)["CloudFormationExecutionRole"]
    to_lambda = {"iam:PassedToService": "lambda.amazonaws.com"}
    old_role = role(f"{DEV}-TokenFunctionRole-OLD1")  # made at "/" before the boundary
    logs_role = role(f"{DEV}-ApiGatewayLogsRole-1A2B")  # the account's: an administrator's
    for target in (old_role, logs_role, stack_role("TokenFunctionRole-9Z8Y", PROD)):
        assert decision(execution, "iam:PassRole", target, to_lambda) != "allow", target
        for action in ("iam:DeleteRole", "iam:DeleteRolePolicy", "iam:UpdateRole", "iam:TagRole"):
            assert decision(execution, action, target) != "allow", (action, target)
    assert decision(execution, "iam:PassRole", stack_role("TokenFunctionRole-1A2B"), to_lambda) == "allow"
    assert decision(execution, "iam:DeleteRolePolicy", stack_role("TokenFunctionRole-1A2B")) == "allow"
    template = translate(CreditsAlarmThreshold="100", ConfigureApiGatewayLogsRole="true")
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        path = resource["Properties"].get("Path")
        if name == "ApiGatewayLogsRole":
            assert path is None, "the account's logs role must stay outside the stack's path"
        else:
            assert path == {"Fn::Sub": "/gradium-token-broker/${AWS::StackName}/"}, name


def test_deploy_jobs_run_only_for_main() -> None:
    """workflow_dispatch runs on any branch: a job that assumes an environment's role checks the ref."""
    jobs = workflow("deploy.yml")["jobs"]
    for name in ("dev", "prod"):
        assert jobs[name]["if"] == "github.ref == 'refs/heads/main'", name
    deploying = (REPO / "docs" / "deploying.md").read_text()
    assert "Deployment branches" in deploying and "separate accounts" in deploying


def test_every_third_party_action_is_pinned_to_a_commit_with_its_tag_beside_it() -> None:
    """A tag can be moved to other code; a full commit SHA cannot."""
    pinned = 0
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            used = re.search(r"uses:\s*(\S+)(.*)", line)
            if not used or used[1].startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", used[1]), line
            assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", used[2]), f"no tag comment: {line}"
            pinned += 1
    assert pinned >= 7


def test_the_deploy_job_installs_its_hash_locked_tools_before_it_holds_credentials() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    for name in ("dev", "prod"):
        steps = jobs[name]["steps"]
        uses = [step.get("uses", "") for step in steps]
        credentials = next(i for i, used in enumerate(uses) if "configure-aws-credentials" in used)
        runs = [step.get("run", "") for step in steps]
        assert "make deploy-tools" in runs[:credentials], name
        assert not any(re.search(r"pip |npm |apt|curl|make deploy-tools", run) for run in runs[credentials:])


def test_the_deploy_lock_pins_every_dependency_with_hashes_and_agrees_with_the_tests_pins() -> None:
    lock = (REPO / "pipeline" / "requirements-deploy.txt").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", lock, re.MULTILINE)
    assert len(pins) >= 50  # aws-sam-cli's whole tree, not just the top level
    entries = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock.split("\n", 6)[-1])
    for entry in entries:
        if "==" in entry:
            assert "--hash=sha256:" in entry, entry.splitlines()[0]
    tests_pins = dict(
        re.findall(
            r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)$",
            (REPO / "tests" / "requirements.txt").read_text(),
            re.M,
        )
    )
    wanted = re.findall(
        r"^([A-Za-z0-9_.-]+)==(\S+)$", (REPO / "pipeline" / "requirements-deploy.in").read_text(), re.M
    )
    locked = {name.lower(): version for name, version in pins}
    for name, version in wanted:
        assert tests_pins[name] == version == locked[name.lower()], name


def test_make_deploy_tools_installs_only_hash_checked_files_and_make_deploy_installs_nothing(
    tmp_path: Path,
) -> None:
    """The deploy job's sequence, minus AWS: `make deploy-tools` builds the virtualenv from the lock with
    --require-hashes, after which `make deploy` (dry run) installs nothing more."""
    venv = tmp_path / "venv"
    assert "--require-hashes" in run(MAKE, "--no-print-directory", "deploy-tools", f"VENV={venv}")
    assert "SAM CLI, version 1.170.0" in run(venv / "bin" / "sam", "--version")
    # What the deploy and smoke commands import, from that virtualenv alone. (No dry run of `make smoke`:
    # make runs a recipe line that calls $(MAKE) even with -n.)
    run(venv / "bin" / "python", "-c", "import ops.deploy_guard, ops.smoke, pycognito.aws_srp")
    dry = run(MAKE, "--no-print-directory", "-n", "deploy", "ENV=default", f"VENV={venv}")
    assert "pip install" not in dry and "-m venv" not in dry, dry
