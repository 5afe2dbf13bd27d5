"""The GitHub Actions workflows (actionlint, and what they must do) and the bootstrap template (cfn-lint,
checkov, and the scope of its roles)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
BOOTSTRAP = REPO / "pipeline" / "bootstrap.yaml"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


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
    assert [s["run"] for s in steps if "run" in s] == ["make test"]
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
    only_on_star = {"cloudformation:ValidateTemplate", "logs:DescribeLogGroups", "cognito-idp:CreateUserPool"}
    for name in ("PipelineExecutionRole", "CloudFormationExecutionRole"):
        for policy in bootstrap["Resources"][name]["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
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
                        r"transform|webacl|aws:policy|restapis",
                        resources,
                    ), statement["Sid"]
