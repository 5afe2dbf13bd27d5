"""A deployed stack's outputs, as `make put-key` and `make smoke` read them."""

from __future__ import annotations

from typing import Any


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """Every output of `stack_name` by key (a boto3 CloudFormation client's DescribeStacks)."""
    [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
