"""`make deploy`'s first step: refuse a deploy that would silently undo a one-time choice of the live stack.

A stack deployed once with `ExistingUserPoolArn` and then again without it gets a new, empty user pool and
its authorizer points there: every user gets 401. The same goes for `ExistingSecretArn` (a new, empty secret:
every request 500) and `ConfigureApiGatewayLogsRole` (the stack would stop managing the account's logs role).
A stack in ROLLBACK_COMPLETE (a failed first deploy) cannot be updated at all. Each case is refused with what
to do instead; `--force` deploys anyway.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ops.samconfig import Environment, load

# Parameters a stack must keep once set: what changing them back would do.
KEPT = {
    "ExistingUserPoolArn": "create a new, empty user pool and point the authorizer at it (all get 401)",
    "ExistingSecretArn": "create a new, empty secret and read the key from it (every request gets 500)",
}
KEPT_TRUE = {
    "ConfigureApiGatewayLogsRole": "stop managing the account's API Gateway logs role (access logs need it)",
}


def problems(live: dict[str, str], planned: dict[str, str], env: Environment) -> list[str]:
    """What the planned parameters would undo on the live stack, each with the command that keeps it."""
    found = []
    for name, harm in KEPT.items():
        if live.get(name) and not planned.get(name):
            found.append(f"{name} is {live[name]} on the stack; this deploy would {harm}.")
    for name, harm in KEPT_TRUE.items():
        if live.get(name) == "true" and planned.get(name, "false") != "true":
            found.append(f"{name} is true on the stack; this deploy would {harm}.")
    if found:
        keep = " ".join(f"{n}={live[n]}" for n in (*KEPT, *KEPT_TRUE) if live.get(n) and live[n] != "false")
        found.append(f'Keep them for good with: make config ENV={env.name} SET="{keep}"')
    return found


def live_parameters(cloudformation: Any, stack_name: str) -> tuple[str, dict[str, str]] | None:
    """The stack's status and parameters, or None when there is no such stack yet."""
    try:
        [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return stack["StackStatus"], parameters


def check(env: Environment, cloudformation: Any) -> list[str]:
    """Every reason not to deploy `env` now; empty when the deploy may go ahead."""
    live = live_parameters(cloudformation, env.stack_name)
    if live is None:
        return []
    status, parameters = live
    if status == "ROLLBACK_COMPLETE":
        return [
            f"{env.stack_name} is in ROLLBACK_COMPLETE: its first deploy failed and it cannot be updated.",
            f"Delete it, then deploy again: aws cloudformation delete-stack --region {env.region} "
            f"--stack-name {env.stack_name} (a created user pool is retained; see the README).",
        ]
    return problems(parameters, env.parameter_overrides, env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="default", help="samconfig.toml environment (default: default)")
    parser.add_argument("--force", action="store_true", help="deploy even so")
    args = parser.parse_args(argv)
    env = load(args.env)
    found = check(env, boto3.client("cloudformation", region_name=env.region))
    if not found:
        print(f"deploy guard: {env.stack_name} in {env.region} keeps its settings; deploying.")
        return 0
    print(f"deploy guard: not deploying {env.stack_name} in {env.region}:", file=sys.stderr)
    for line in found:
        print(f"  - {line}", file=sys.stderr)
    if args.force:
        print("deploy guard: --force given (FORCE=1); deploying anyway.", file=sys.stderr)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
