"""The template's Rules as CloudFormation checks them before it changes anything: which assertions a set
of parameter values breaks. Covers the rule functions the template uses (Ref, Fn::Equals, Fn::Not,
Fn::And, Fn::Or, Fn::Contains), per "Rules syntax" in the CloudFormation user guide."""

from __future__ import annotations

from typing import Any

from tests.template.translation import SOURCE


def broken_rules(**parameters: str) -> list[str]:
    """The names of the Rules whose condition holds and some assertion fails, for these values (the
    template's defaults for the rest)."""
    values: dict[str, Any] = {}
    for name, spec in SOURCE["Parameters"].items():
        value = str(parameters.get(name, spec.get("Default", "")))
        values[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
    broken = []
    for name, rule in SOURCE.get("Rules", {}).items():
        if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], values):
            continue
        if not all(_evaluate(assertion["Assert"], values) for assertion in rule["Assertions"]):
            broken.append(name)
    return broken


def _evaluate(node: Any, values: dict[str, Any]) -> Any:
    if not isinstance(node, dict):
        return str(node) if isinstance(node, int | float) else node
    [(function, argument)] = node.items()
    if function == "Ref":
        return values[argument]
    arguments = [_evaluate(item, values) for item in argument]
    if function == "Fn::Equals":
        return arguments[0] == arguments[1]
    if function == "Fn::Not":
        return not arguments[0]
    if function == "Fn::And":
        return all(arguments)
    if function == "Fn::Or":
        return any(arguments)
    if function == "Fn::Contains":
        return arguments[1] in arguments[0]
    raise ValueError(f"rule function {function} is not modelled")
