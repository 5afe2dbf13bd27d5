"""template.yaml as CloudFormation's SAM transform turns it into resources, for the template and
integration tests."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

SOURCE = yaml_parse((Path(__file__).resolve().parents[2] / "template.yaml").read_text())


def translate(**parameters: str) -> dict[str, Any]:
    """What CloudFormation's SAM transform makes of the template, for the given parameter values."""
    template = copy.deepcopy(SOURCE)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for uri in ("CodeUri", "ContentUri"):  # `sam package` would upload these
            if isinstance(props.get(uri), str):
                props[uri] = f"s3://bucket/{props[uri]}"
    defaults = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    session = boto3.session.Session(region_name="eu-west-1")
    return Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session).translate(
        sam_template=template, parameter_values={**defaults, **parameters, "AWS::Region": "eu-west-1"}
    )


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}
