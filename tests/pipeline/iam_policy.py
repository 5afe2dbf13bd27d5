"""IAM policy evaluation for the pipeline tests: what a set of statements allows for one request.

moto cannot answer this: its IAM enforcement fills no condition context but `sts:ExternalId`
(moto/iam/utils.py, `format_incoming_conditional_values`, 5.2.5), so `iam:PermissionsBoundary` and
`aws:ResourceTag/...` conditions are never met there. This follows AWS's documented logic for the parts
our policies use: an explicit Deny wins, else some Allow must match; `*`/`?` wildcards (actions without
case); StringEquals, StringNotEquals, StringLike, ArnEquals, ArnNotEquals, ArnLike, their IfExists forms,
and Null.
An identity policy and a permissions boundary both have to allow (`allowed_within`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Statement = Mapping[str, Any]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    if operator == "Null":
        return (key not in context) == (str(expected).lower() == "true")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    if key not in context:
        return if_exists or operator in ("StringNotEquals", "ArnNotEquals")
    actual = context[key]
    wanted = [str(value) for value in _as_list(expected)]
    if operator in ("StringEquals", "ArnEquals"):
        return actual in wanted
    if operator in ("StringNotEquals", "ArnNotEquals"):
        return actual not in wanted
    if operator in ("StringLike", "ArnLike"):
        return any(_matches(pattern, actual) for pattern in wanted)
    raise ValueError(f"condition operator {operator} is not modelled")


def _applies(statement: Statement, action: str, resource: str, context: Mapping[str, str]) -> bool:
    if not any(_matches(a, action, ignore_case=True) for a in _as_list(statement["Action"])):
        return False
    if not any(_matches(r, resource) for r in _as_list(statement.get("Resource", "*"))):
        return False
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, keys in statement.get("Condition", {}).items()
        for key, expected in keys.items()
    )


def decision(
    statements: list[Statement], action: str, resource: str, context: Mapping[str, str] | None = None
) -> str:
    """ "deny" (an explicit Deny applies), "allow" (an Allow applies and no Deny) or "implicit deny"."""
    applying = [s for s in statements if _applies(s, action, resource, context or {})]
    if any(s["Effect"] == "Deny" for s in applying):
        return "deny"
    return "allow" if applying else "implicit deny"


def allowed_within(
    identity: list[Statement],
    boundary: list[Statement],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Whether a role with these identity statements and this permissions boundary may make the request."""
    return (
        decision(identity, action, resource, context) == "allow"
        and decision(boundary, action, resource, context) == "allow"
    )
