"""template.yaml as CloudFormation's SAM transform turns it into resources, for the template tests: the one
translator (local.sam_template) with eu-west-1 as the region."""

from __future__ import annotations

from typing import Any

from samcli.yamlhelper import yaml_parse

from local.sam_template import SOURCE_TEMPLATE, of_type
from local.sam_template import translate as translate_template

SOURCE = yaml_parse(SOURCE_TEMPLATE.read_text())

__all__ = ["SOURCE", "of_type", "translate"]


def translate(**parameters: str) -> dict[str, Any]:
    """What CloudFormation's SAM transform makes of the template, for the given parameter values."""
    return translate_template(SOURCE, parameters, "eu-west-1")
