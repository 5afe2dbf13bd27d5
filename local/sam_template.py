"""template.yaml (or `sam build`'s copy) as CloudFormation's SAM transform turns it into resources, for one
set of parameter values: the one translator of this repository.

samtranslator is the code behind CloudFormation's AWS::Serverless transform, so nothing here is a second copy
of the template: `make serve`, `make invoke`, the integration tests and the template tests all read it
through `translate` and resolve its intrinsic functions with `Resolver`.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from ops import template_parameters

SOURCE_TEMPLATE = template_parameters.TEMPLATE
ACCOUNT_ID = "123456789012"
_NO_VALUE = object()  # what Ref AWS::NoValue resolves to: the key or item is dropped


def translate(source: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    """What CloudFormation's SAM transform makes of `source` with `parameters` (defaults for the rest)."""
    template = copy.deepcopy(source)
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):  # local folders: `sam package` would upload these to S3
            if isinstance(props.get(uri), str):
                props[uri] = f"s3://local/{props[uri]}"
    values = defaults(source) | parameters | {"AWS::Region": region}
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    session = boto3.session.Session(region_name=region)
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session)
    return translator.translate(sam_template=template, parameter_values=values)


def defaults(source: dict[str, Any]) -> dict[str, str]:
    """Every parameter's default, as text ("" for none), as `make config` and the deploy guard read it."""
    return {name: parameter.default for name, parameter in template_parameters.parse(source).items()}


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one CloudFormation type, by logical id."""
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


@dataclass(frozen=True)
class Template:
    """A SAM template translated and resolvable for one set of parameter values."""

    parameters: dict[str, str]
    resources: dict[str, Any]
    outputs: dict[str, Any]
    resolve: Resolver

    @classmethod
    def load(cls, path: Path, overrides: dict[str, str], region: str) -> Template:
        """Translate `path` with `overrides` (parameter name -> value) applied; unknown names are refused."""
        source = yaml_parse(path.read_text())
        unknown = set(overrides) - set(source.get("Parameters", {}))
        if unknown:
            raise ValueError(f"unknown parameter(s) in the overrides: {', '.join(sorted(unknown))}")
        parameters = defaults(source) | overrides
        translated = translate(source, parameters, region)
        lists = frozenset(
            name
            for name, spec in template_parameters.parse(source).items()
            if spec.type == "CommaDelimitedList"
        )
        resolve = Resolver(translated, parameters, region, lists=lists)
        return cls(parameters, translated["Resources"], translated.get("Outputs", {}), resolve)

    def output(self, name: str, names: dict[str, str] | None = None) -> str:
        """A stack output's value, resolved as `function_env` resolves variables."""
        resolve = self.resolve.with_names(names) if names else self.resolve
        return str(resolve(self.outputs[name]["Value"]))

    def function_env(self, logical_id: str, names: dict[str, str] | None = None) -> dict[str, str]:
        """A function's environment variables (Globals merged), resolved; a resource's Ref is `names`'
        value for it, or its logical id."""
        props = self.resources[logical_id]["Properties"]
        resolve = self.resolve.with_names(names) if names else self.resolve
        variables = resolve(props.get("Environment", {}).get("Variables", {})) or {}
        return {name: str(value) for name, value in variables.items()}


@functools.cache
def source_template(region: str) -> Template:
    """template.yaml with its defaults (0.1 s to translate, so once per process)."""
    return Template.load(SOURCE_TEMPLATE, {}, region)


class Resolver:
    """Resolves the intrinsic functions of a template (an API definition, a role's policies) for given
    parameter values. `names` gives resources' Refs and attributes ("Table.Arn") and overrides pseudo
    parameters; without it, a resource's Ref or attribute is its own name."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: dict[str, str],
        region: str,
        names: dict[str, str] | None = None,
        lists: frozenset[str] = frozenset(),
    ) -> None:
        self._conditions = template.get("Conditions", {})
        self._lists = lists  # CommaDelimitedList parameters: CloudFormation's Ref of one is a list
        self._symbols: dict[str, str] = (
            {
                "AWS::Region": region,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::Partition": "aws",
                "AWS::StackName": "local",
                "AWS::URLSuffix": "amazonaws.com",
            }
            | parameters
            | (names or {})
        )

    def with_names(self, names: dict[str, str]) -> Resolver:
        """This resolver, with `names` added."""
        resolver = copy.copy(self)
        resolver._symbols = self._symbols | names
        return resolver

    def __call__(self, value: Any) -> Any:
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def condition(self, name: str) -> bool:
        return bool(self._resolve(self._conditions[name]))

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self._resolve, value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            [(key, argument)] = value.items()
            function = getattr(self, "_" + key.replace("::", "_").lower(), None)
            if key in ("Ref", "Condition") or key.startswith("Fn::"):
                if function is None:
                    raise ValueError(f"{key} is not supported in the API definition")
                return function(argument)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self._lists:
            return self._symbols[name].split(",")
        return self._symbols.get(name, name)  # a resource's Ref: its logical id stands in

    def _condition(self, name: str) -> bool:
        return self.condition(name)

    def _fn_if(self, argument: list[Any]) -> Any:
        name, when_true, when_false = argument
        return self._resolve(when_true if self.condition(name) else when_false)

    def _fn_equals(self, argument: list[Any]) -> bool:
        left, right = (self._resolve(item) for item in argument)
        return str(left) == str(right)

    def _fn_not(self, argument: list[Any]) -> bool:
        return not self._resolve(argument[0])

    def _fn_and(self, argument: list[Any]) -> bool:
        return all(self._resolve(item) for item in argument)

    def _fn_or(self, argument: list[Any]) -> bool:
        return any(self._resolve(item) for item in argument)

    def _fn_getatt(self, argument: list[str] | str) -> str:
        name = ".".join(argument) if isinstance(argument, list) else argument
        return self._symbols.get(name, name)

    def _fn_join(self, argument: list[Any]) -> str:
        separator, items = argument
        return separator.join(str(item) for item in self._resolve(items))

    def _fn_select(self, argument: list[Any]) -> Any:
        index, items = argument
        return self._resolve(items)[int(self._resolve(index))]

    def _fn_split(self, argument: list[Any]) -> list[str]:
        separator, text = argument
        return str(self._resolve(text)).split(separator)

    def _fn_sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self._resolve(item) for name, item in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name:
                return self._symbols.get(name, name)  # a resource attribute: its name stands in
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", substitute, text)
