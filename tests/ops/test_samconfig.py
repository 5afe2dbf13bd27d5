"""samconfig.toml's environments and `make config`: a choice made once is in every later deploy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops.samconfig import SAMCONFIG, SamconfigError, load, parse_overrides, set_overrides, set_region
from tests.ops.command import run_command

POOL = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC123xyz"


@pytest.fixture
def samconfig(tmp_path: Path) -> Path:
    copy = tmp_path / "samconfig.toml"
    shutil.copy(SAMCONFIG, copy)
    return copy


@pytest.mark.parametrize(
    ("name", "stack", "deployment"),
    [
        ("default", "gradium-token-broker-dev", "AllAtOnce"),
        ("prod", "gradium-token-broker-prod", "Canary10Percent5Minutes"),
    ],
)
def test_each_environment_names_its_stack_region_and_release_style(
    name: str, stack: str, deployment: str
) -> None:
    env = load(name)
    assert (env.stack_name, env.region) == (stack, "us-east-1")
    assert env.parameter_overrides["DeploymentType"] == deployment


def test_a_kept_override_is_in_every_later_deploy_and_nothing_else_changes(samconfig: Path) -> None:
    before = samconfig.read_text()
    env = set_overrides(
        "prod", {"ExistingUserPoolArn": POOL, "ConfigureApiGatewayLogsRole": "true"}, samconfig
    )
    assert env.parameter_overrides["ExistingUserPoolArn"] == POOL
    assert env.parameter_overrides["LogRetentionDays"] == "90"  # the others are kept
    assert (
        load("prod", samconfig) == env
    )  # read back from the file: what `sam deploy --config-env prod` reads
    assert load("default", samconfig) == load("default")  # the other environment is untouched
    changed = [line for line in samconfig.read_text().splitlines() if line not in before.splitlines()]
    assert len(changed) == 1 and changed[0].startswith("parameter_overrides = ")


def test_sam_reads_the_same_overrides(samconfig: Path) -> None:
    """SAM's own samconfig reader sees the kept value: the file stays valid for `sam deploy`."""
    from samcli.lib.config.samconfig import SamConfig

    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbC"
    set_overrides("default", {"ExistingSecretArn": secret}, samconfig)
    sam = SamConfig(str(samconfig.parent), samconfig.name)
    overrides = parse_overrides(sam.get_all(["deploy"], "parameters", env="default")["parameter_overrides"])
    assert overrides["ExistingSecretArn"] == secret


@pytest.mark.parametrize("value", ["two words", 'quote"d', "new\nline"])
def test_values_that_cannot_be_kept_plainly_are_refused(samconfig: Path, value: str) -> None:
    with pytest.raises(ValueError, match="plain"):
        set_overrides("default", {"AlarmEmail": value}, samconfig)


def test_make_config_prints_what_every_deploy_uses() -> None:
    """A real `python -m` process, as make runs it (the other commands' tests call main in-process)."""
    result = subprocess.run(
        [sys.executable, "-m", "ops.samconfig", "--env", "prod"], capture_output=True, text=True, check=True
    )
    assert "gradium-token-broker-prod in us-east-1" in result.stdout
    assert "DeploymentType=Canary10Percent5Minutes" in result.stdout


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("AlarmEmial=ops@example.com", "did you mean AlarmEmail"),  # SAM would drop it silently
        ("TokensPerUserPerMinute=abc", "is a number"),
        ("TokensPerUserPerMinute=20000", "at most 10000"),
        ("AllowedOrigin=http://localhost:5173/", "must match"),
        ("LogLevel=TRACE", "one of DEBUG, INFO, WARNING, ERROR"),
        ("ExistingUserPoolArn=us-east-1_AbC123", "must match"),
    ],
)
def test_make_config_refuses_what_the_template_would_and_leaves_the_file_alone(
    samconfig: Path, setting: str, reason: str
) -> None:
    before = samconfig.read_text()
    result = run_command("ops.samconfig", "--file", str(samconfig), "--env", "prod", "--set", setting)
    assert result.returncode == 2 and "not written" in result.stderr and reason in result.stderr
    assert "Traceback" not in result.stderr
    assert samconfig.read_text() == before


def test_a_key_can_be_unset_and_the_region_set(samconfig: Path) -> None:
    set_overrides("prod", {"RequiredGroup": "voice"}, samconfig)
    env = set_overrides("prod", {}, samconfig, unset=("RequiredGroup", "LogLevel"))
    assert "RequiredGroup" not in env.parameter_overrides and "LogLevel" not in env.parameter_overrides
    assert env.parameter_overrides["DeploymentType"] == "Canary10Percent5Minutes"
    assert set_region("prod", "eu-west-1", samconfig).region == "eu-west-1"
    assert load("default", samconfig).region == "us-east-1"  # the other environment keeps its own
    with pytest.raises(ValueError, match="region"):
        set_region("prod", "Europe", samconfig)


def test_a_misspelt_region_is_refused_with_the_nearest_real_one(samconfig: Path) -> None:
    before = samconfig.read_text()
    with pytest.raises(ValueError, match=r"^'eu-westt-1' is not an AWS region \(did you mean eu-west-1\?\)$"):
        set_region("prod", "eu-westt-1", samconfig)
    assert samconfig.read_text() == before
    assert set_region("prod", "ap-southeast-7", samconfig).region == "ap-southeast-7"  # a new region is known


def test_an_unknown_environment_names_the_real_ones_and_not_version() -> None:
    with pytest.raises(SamconfigError) as unknown:
        load("staging")
    assert str(unknown.value) == "samconfig.toml has no environment 'staging': ENV is one of default, prod"


@pytest.mark.parametrize(
    "command", ["ops.deploy_guard", "ops.put_api_key", "ops.emergency pause", "ops.preflight"]
)
def test_every_ops_command_says_so_in_one_line(command: str) -> None:
    """make deploy|put-key|pause|logs ENV=staging: no traceback."""
    result = run_command(*command.split(), "--env", "staging")
    assert result.returncode == 2
    assert result.stderr.endswith(
        "samconfig.toml has no environment 'staging': ENV is one of default, prod\n"
    )
    assert len(result.stderr.splitlines()) == 1
