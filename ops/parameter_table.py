"""`make docs`: docs/configuration.md's parameter table, made from the one place each fact lives.

A parameter's meaning is its template Description (what the console's launch page shows too) and its
default the template's Default; the variable it sets comes from SETTINGS (functions/broker/config.py) or,
for the few the template sets itself (POWERTOOLS_LOG_LEVEL), from the functions' environment. Variables no
parameter sets close the table with their SETTINGS meaning. tests/docs checks the page holds this table.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from samcli.yamlhelper import yaml_parse

from broker.config import SETTINGS
from local.paths import REPO, shown
from ops.template_parameters import TEMPLATE

PAGE = REPO / "docs" / "configuration.md"
HEADER = "| parameter | variable | default | meaning |\n| --- | --- | --- | --- |\n"


def table() -> str:
    """The table, header included, in the template's order of parameters."""
    template = yaml_parse(TEMPLATE.read_text())
    variable_of = {s.parameter: s.variable for s in SETTINGS.values() if s.parameter}
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    variable_of |= {
        value["Ref"]: name
        for name, value in environment.items()
        if isinstance(value, dict) and "Ref" in value
    }
    token_env = template["Resources"]["TokenFunction"]["Properties"]["Environment"]["Variables"]
    rows = []
    for name, spec in template["Parameters"].items():
        default = f"`{spec['Default']}`" if str(spec.get("Default", "")) else "empty"
        default += _bounds(spec)
        variable = variable_of.get(name)
        rows.append(
            _row(
                f"`{name}`",
                f"`{variable}`" if variable else "",
                default,
                spec["Description"],
            )
        )
    for setting in SETTINGS.values():
        if setting.parameter is None:
            default = "empty" if token_env.get(setting.variable) == "" else "set by the template"
            rows.append(_row("", f"`{setting.variable}`", default, str(setting.meaning)))
    return HEADER + "".join(rows)


def _bounds(spec: dict[str, Any]) -> str:
    """The bounds CloudFormation enforces (and config.py again): " (1 to 10)", " (at least 0)", or ""."""
    low, high = spec.get("MinValue"), spec.get("MaxValue")
    if low is not None and high is not None:
        return f" ({low} to {high})"
    if low is not None:
        return f" (at least {low})"
    return f" (at most {high})" if high is not None else ""


def _row(*cells: str) -> str:
    return "| " + " | ".join(" ".join(cell.split()).replace("|", "\\|") for cell in cells) + " |\n"


def current() -> str:
    """The table as docs/configuration.md has it now."""
    page = PAGE.read_text()
    start = page.index(HEADER)
    return page[start : page.index("\n\n", start) + 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args(argv)
    made, was = table(), current()
    if made != was:
        PAGE.write_text(PAGE.read_text().replace(was, made))
        print(f"{shown(PAGE)}: its parameter table now says what template.yaml says")
    return 0


if __name__ == "__main__":
    sys.exit(main())
