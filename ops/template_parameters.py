"""template.yaml's parameters as CloudFormation checks them: `make config` refuses what a deploy would, and
the deploy guard takes a parameter's default from here when SAM sends none."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


@dataclass(frozen=True)
class Parameter:
    """One template parameter and the constraints CloudFormation enforces on its value."""

    name: str
    type: str
    default: str
    allowed_values: tuple[str, ...] | None
    allowed_pattern: str | None
    min_value: float | None
    max_value: float | None

    def refusal(self, value: str) -> str | None:
        """Why CloudFormation would refuse `value` for this parameter, or None if it takes it."""
        if self.type == "Number":
            try:
                number = float(value)
            except ValueError:
                return f"{self.name} is a number, not {value!r}"
            if self.min_value is not None and number < self.min_value:
                return f"{self.name} is at least {self.min_value:g}, not {value}"
            if self.max_value is not None and number > self.max_value:
                return f"{self.name} is at most {self.max_value:g}, not {value}"
        if self.allowed_values is not None and value not in self.allowed_values:
            return f"{self.name} is one of {', '.join(self.allowed_values)}, not {value!r}"
        # CloudFormation matches AllowedPattern against the whole value (each item of a list).
        items = value.split(",") if self.type == "CommaDelimitedList" else [value]
        for item in items:
            if self.allowed_pattern is not None and not re.fullmatch(self.allowed_pattern, item):
                return f"{self.name} must match {self.allowed_pattern}, and {item!r} does not"
        return None


def check(overrides: dict[str, str], parameters: dict[str, Parameter] | None = None) -> None:
    """ValueError unless each name is a template parameter and each value one CloudFormation would take:
    the one check of `make config`'s SET and `make serve`'s PARAMETER_OVERRIDES."""
    parameters = load() if parameters is None else parameters
    check_names(overrides, parameters)
    for key, value in overrides.items():
        refusal = parameters[key].refusal(value)
        if refusal:
            raise ValueError(refusal)


def check_names(names: Iterable[str], parameters: dict[str, Parameter]) -> None:
    """ValueError naming the first of `names` that is no template parameter (with the nearest that is)."""
    for key in names:
        if key not in parameters:
            close = difflib.get_close_matches(key, parameters, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"{key} is not a parameter of template.yaml{hint}; SAM would drop it silently")


def load(path: Path = TEMPLATE) -> dict[str, Parameter]:
    """Every parameter of the template at `path`, by name (a copy: the caller may change it)."""
    return dict(_parsed(path.read_text()))


@functools.cache
def _parsed(text: str) -> dict[str, Parameter]:
    # Parsing the template's 1,300 lines of YAML takes 0.2 s; the deploy guard and make config's checks
    # ask for the same text many times in one process (the tests, many more).
    return parse(yaml_parse(text))


def parse(template: dict[str, Any]) -> dict[str, Parameter]:
    """Every parameter of a parsed template, by name."""
    specs: dict[str, dict[str, Any]] = template.get("Parameters", {})
    return {
        name: Parameter(
            name=name,
            type=str(spec.get("Type", "String")),
            default="" if spec.get("Default") is None else str(spec["Default"]),
            allowed_values=tuple(str(v) for v in spec["AllowedValues"]) if "AllowedValues" in spec else None,
            allowed_pattern=spec.get("AllowedPattern"),
            min_value=float(spec["MinValue"]) if "MinValue" in spec else None,
            max_value=float(spec["MaxValue"]) if "MaxValue" in spec else None,
        )
        for name, spec in specs.items()
    }
