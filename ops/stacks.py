"""A deployed stack as the ops commands read it: its status, parameters and outputs, in one DescribeStacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from ops.preflight import PreflightError, aws_session
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


def deployed_stack(env: Environment) -> tuple[boto3.session.Session, Stack]:
    """A session in `env`'s region (credentials checked) and `env`'s stack; PreflightError when there is
    no such stack."""
    session = aws_session(env.region)
    stack = describe_stack(session.client("cloudformation"), env.stack_name)
    if stack is None:
        raise PreflightError(f"no stack {env.stack_name} in {env.region}: deploy it first (make deploy)")
    return session, stack
