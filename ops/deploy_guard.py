"""`make deploy`'s first step: show what the deploy changes on the live stack, and refuse what weakens it.

What SAM sends (SAM CLI 1.170, `merge_parameters` in samcli/commands/deploy/deploy_context.py, then
`Deployer.create_changeset` in samcli/lib/deploy/deployer.py): every parameter named in the overrides gets
that value, and every other one `UsePreviousValue: true` (dropped for a stack's first create, and for a
parameter the live stack does not have yet: the template's default then applies). The overrides are
`--parameter-overrides` from the command line (SAM_DEPLOY_FLAGS) when given, which replace samconfig's list
for that run, else samconfig's `parameter_overrides`. So a value given once stays on the stack; the danger
is a samconfig value that differs from the live one (a change made by hand, or from another checkout),
which silently wins.

The guard computes that parameter list, prints its whole difference with the live stack, and refuses a
change that weakens security or loses data unless `--force` (FORCE=1). It also runs the preflight checks:
credentials, a stack in ROLLBACK_COMPLETE, the account's API Gateway logs role.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ops import template_parameters
from ops.preflight import PreflightError, aws_session, friendly, logs_role_problem
from ops.samconfig import Environment, add_env_argument, load, parse_overrides
from ops.stacks import describe_stack


@dataclass(frozen=True)
class Rule:
    """A change of `parameter` from the live value to the planned one that the guard refuses."""

    parameter: str
    applies: Callable[[str, str], bool]  # (live, planned) -> refused?
    harm: str


def _removed(live: str, planned: str) -> bool:
    return bool(live) and not planned


def _changed(live: str, planned: str) -> bool:
    return live != planned


def _to_zero(live: str, planned: str) -> bool:
    return _number(live) > 0 and _number(planned) == 0


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


RULES = (
    Rule("RequiredGroup", _removed, "lets every signed-in user get tokens, not only the group's members"),
    Rule("WebAclArn", _removed, "drops the web ACL (WAF) in front of the API"),
    Rule("ExistingSecretKmsKeyArn", _changed, "changes the key the secret is decrypted with (500s if wrong)"),
    Rule("ExistingUserPoolArn", _changed, "switches the user pool: users of the other one get 401"),
    Rule("ExistingSecretArn", _changed, "switches the secret holding the key (a new one is empty: 500s)"),
    Rule("TokensPerUserPerMinute", _to_zero, "removes the per-minute quota"),
    Rule("TokensPerUserPerDay", _to_zero, "removes the daily cap"),
    Rule("DailyTokenCeiling", _to_zero, "removes the ceiling on a whole day's spend"),
    Rule(
        "ConfigureApiGatewayLogsRole",
        lambda live, planned: live == "true" and planned != "true",
        "gives up the account's API Gateway logs role (kept, but no longer managed)",
    ),
    Rule("ReservedConcurrency", _to_zero, "removes the reserved concurrency, the cap on spend"),
    Rule("PermissionsBoundaryArn", _removed, "removes the permissions boundary from the stack's roles"),
    Rule(
        "SelfSignUp",
        lambda live, planned: live != "true" and planned == "true",
        "lets anyone create an account, and each may spend up to the daily cap",
    ),
    Rule(
        "ExistingUserPoolClientId",
        _removed,
        "empties the app-client allow-list of a brought-in pool: every app client of it gets tokens",
    ),
    Rule("GradiumTokenUrl", _changed, "sends the Gradium API key to another host"),
    Rule(
        "QuotaFailOpen",
        lambda live, planned: live != "true" and planned == "true",
        "issues tokens without any quota while DynamoDB fails",
    ),
    Rule(
        "AllowedClientIds",
        lambda live, planned: live != "*" and planned == "*",
        "lets every app client of the pool get tokens",
    ),
)


def command_line_overrides(sam_flags: list[str]) -> dict[str, str] | None:
    """The `--parameter-overrides` of `sam deploy`'s extra flags, or None when they give none."""
    found: dict[str, str] | None = None
    flags = iter(sam_flags)
    for flag in flags:
        if flag == "--parameter-overrides":
            value = next(flags, "")
        elif flag.startswith("--parameter-overrides="):
            value = flag.split("=", 1)[1]
        else:
            continue
        if value.startswith("file://"):
            raise PreflightError("--parameter-overrides file://... is not read here: keep them in samconfig")
        found = (found or {}) | parse_overrides(value)
    return found


def planned(
    parameters: dict[str, template_parameters.Parameter],
    overrides: dict[str, str],
    live: dict[str, str] | None,
) -> dict[str, str]:
    """Each parameter's value after the deploy: the override, else the live value, else the default."""
    result = {}
    for name, parameter in parameters.items():
        if name in overrides:
            result[name] = overrides[name]
        elif live is not None and name in live:
            result[name] = live[name]  # UsePreviousValue
        else:
            result[name] = parameter.default
    return result


def review(live: dict[str, str], after: dict[str, str]) -> tuple[list[str], list[Rule]]:
    """(every changed parameter as "Name: 'live' -> 'planned'", the rules the changes break)."""
    diff = [
        f"{name}: {live.get(name, '(new)')!r} -> {value!r}"
        for name, value in after.items()
        if live.get(name) != value
    ]
    broken = [
        rule
        for rule in RULES
        if rule.parameter in after and rule.applies(live.get(rule.parameter, ""), after[rule.parameter])
    ]
    return diff, broken


@dataclass(frozen=True)
class Verdict:
    """What the guard found: the parameters SAM will send, the diff to show, every reason not to deploy."""

    planned: dict[str, str]
    diff: list[str]
    refusals: list[str]


def check(env: Environment, cloudformation: Any, sam_flags: list[str] | None = None) -> Verdict:
    """Compare what `sam deploy --config-env <env> <sam_flags>` would send with the live stack."""
    overrides = command_line_overrides(sam_flags or [])
    if overrides is None:
        overrides = env.parameter_overrides
    parameters = template_parameters.load()
    unknown = sorted(set(overrides) - set(parameters))
    if unknown:  # SAM drops them silently: a misspelt name is a setting that never arrives
        return Verdict({}, [], [f"unknown parameter(s) {', '.join(unknown)}: the template has no such name"])
    found = describe_stack(cloudformation, env.stack_name)
    if found is None:
        after = planned(parameters, overrides, None)
        changed = [f"{name}: {value!r}" for name, value in after.items() if value != parameters[name].default]
        return Verdict(after, [f"first deploy of {env.stack_name}", *changed], [])
    live = found.parameters
    if found.status == "ROLLBACK_COMPLETE":
        return Verdict(
            {},
            [],
            [
                f"{env.stack_name} is in ROLLBACK_COMPLETE: its first deploy failed, it cannot be updated. "
                f"Delete it, then deploy again: aws cloudformation delete-stack --region {env.region} "
                f"--stack-name {env.stack_name} (a created user pool is retained; see docs/deploying.md)."
            ],
        )
    after = planned(parameters, overrides, live)
    diff, broken = review(live, after)
    refusals = [
        f"{rule.parameter}: {live.get(rule.parameter, '')!r} -> {after[rule.parameter]!r} {rule.harm}"
        for rule in broken
    ]
    if broken:
        keep = " ".join(f"{rule.parameter}={live.get(rule.parameter, '')}" for rule in broken)
        refusals.append(f'To keep the live values: make config ENV={env.name} SET="{keep}"')
    return Verdict(after, diff, refusals)


@friendly("deploy guard")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_env_argument(parser)
    parser.add_argument("--force", action="store_true", help="deploy even so (FORCE=1)")
    parser.add_argument(
        "--sam-deploy-flags",
        default=os.environ.get("SAM_DEPLOY_FLAGS", ""),
        help="the extra flags of `sam deploy` (default: $SAM_DEPLOY_FLAGS, which make deploy passes on)",
    )
    args = parser.parse_args(argv)
    env = load(args.env)
    sam_flags = shlex.split(args.sam_deploy_flags)
    session = aws_session(env.region)
    verdict = check(env, session.client("cloudformation"), sam_flags)
    logs = logs_role_problem(session, verdict.planned, env.name)
    refusals = verdict.refusals + ([logs] if logs else [])
    print(f"deploy guard: {env.stack_name} in {env.region}", file=sys.stderr)
    for line in verdict.diff or ["no parameter changes"]:
        print(f"  {line}", file=sys.stderr)
    if not refusals:
        return 0
    print("deploy guard: not deploying:", file=sys.stderr)
    for line in refusals:
        print(f"  - {line}", file=sys.stderr)
    if args.force:
        print("deploy guard: --force given (FORCE=1); deploying anyway.", file=sys.stderr)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
