"""A deployed stack as the ops commands read it: its status, parameters and outputs, in one DescribeStacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ops.preflight import PreflightError, error_code
from ops.samconfig import Environment


@dataclass(frozen=True)
class Stack:
    """What DescribeStacks says of one stack."""

    status: str
    parameters: dict[str, str]
    outputs: dict[str, str]


def describe_stack(cloudformation: Any, stack_name: str) -> Stack | None:
    """`stack_name` (a boto3 CloudFormation client's DescribeStacks), or None when there is no such stack."""
    try:
        [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return Stack(
        status=stack["StackStatus"],
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
    )


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """Every output of `stack_name` by key; LookupError when there is no such stack."""
    stack = describe_stack(cloudformation, stack_name)
    if stack is None:
        raise LookupError(f"no stack {stack_name}")
    return stack.outputs


def deployed_stack(session: boto3.session.Session, env: Environment) -> Stack:
    """`env`'s stack, read with `session`; PreflightError, one line, when there is none or it cannot be
    read (DescribeStacks refused)."""
    try:
        stack = describe_stack(session.client("cloudformation"), env.stack_name)
    except ClientError as exc:
        raise PreflightError(f"the stack {env.stack_name} could not be read ({error_code(exc)})") from None
    if stack is None:
        raise PreflightError(f"no stack {env.stack_name} in {env.region}: make deploy ENV={env.name} first")
    return stack
