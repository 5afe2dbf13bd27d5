"""samconfig.toml's environments: the one place that says, per environment, which stack, which region and
which parameter overrides a deploy uses. `make deploy`, `smoke`, `logs`, `put-key` and the guard read it.

A value given once with `sam deploy --parameter-overrides` stays on the stack (SAM sends UsePreviousValue
for every parameter it is not given), but only the stack knows it: a deploy from another checkout or from
the pipeline, with that value in its samconfig, would change it back. `make config` (`set_overrides`) keeps
each choice here, checked against the template's own constraints first, so that every deploy is the same.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ops import template_parameters

SAMCONFIG = Path(__file__).resolve().parents[1] / "samconfig.toml"
# Parameter values are written bare into a TOML string: ARNs, names, numbers, e-mail addresses, URLs.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.:/@+=,*()#-]*")


class SamconfigError(ValueError):
    """samconfig.toml cannot serve the request: the message says what to fix (one line, no traceback)."""


@dataclass(frozen=True)
class Environment:
    """A samconfig.toml environment (`default` is dev, `prod` is prod)."""

    name: str
    stack_name: str
    region: str
    parameter_overrides: dict[str, str]


def parse_overrides(text: str) -> dict[str, str]:
    """`Key=Value Key2='a b'`, the syntax of `sam deploy --parameter-overrides`."""
    overrides = {}
    for item in shlex.split(text or ""):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SamconfigError(f"parameter override {item!r} is not Key=Value")
        overrides[name.removeprefix("ParameterKey=")] = value
    return overrides


def add_env_argument(parser: argparse.ArgumentParser) -> None:
    """`--env` (make's ENV): the samconfig.toml environment a command acts on."""
    parser.add_argument("--env", default="default", help="samconfig.toml environment (default: default)")


def load(name: str = "default", path: Path = SAMCONFIG) -> Environment:
    """Environment `name` of samconfig.toml; ValueError if it lacks a stack or a region."""
    config = tomllib.loads(path.read_text())
    environments = sorted(key for key, value in config.items() if isinstance(value, dict))  # not `version`
    if name not in environments:
        raise SamconfigError(
            f"samconfig.toml has no environment {name!r}: ENV is one of {', '.join(environments)}"
        )
    section = config[name]
    global_parameters = section.get("global", {}).get("parameters", {})
    deploy = section.get("deploy", {}).get("parameters", {})
    stack_name, region = global_parameters.get("stack_name"), global_parameters.get("region")
    if not stack_name or not region:
        raise SamconfigError(f"samconfig.toml's [{name}.global.parameters] needs stack_name and region")
    return Environment(name, stack_name, region, parse_overrides(deploy.get("parameter_overrides", "")))


def set_overrides(
    name: str, updates: dict[str, str], path: Path = SAMCONFIG, unset: tuple[str, ...] = ()
) -> Environment:
    """Merge `updates` into environment `name`'s parameter_overrides and drop `unset`, in the file.

    Each name must be a template parameter and each value one CloudFormation would take (type, bounds,
    AllowedValues, AllowedPattern): otherwise ValueError, and the file stays as it was. Only that one line
    changes: comments and the other settings stay as they are.
    """
    parameters = template_parameters.load()
    template_parameters.check_names((*updates, *unset), parameters)
    for key, value in updates.items():
        if not _PLAIN_VALUE.fullmatch(value):
            raise ValueError(f"{key}={value!r}: only plain values (no spaces or quotes) can be kept here")
    template_parameters.check(updates, parameters)
    merged = {k: v for k, v in load(name, path).parameter_overrides.items() if k not in unset} | updates
    line = "parameter_overrides = " + '"' + " ".join(f"{k}={v}" for k, v in merged.items()) + '"'
    _rewrite(name, "deploy", "parameter_overrides", line, path)
    return load(name, path)


def known_regions() -> list[str]:
    """The regions CloudFormation is in, from the endpoint data botocore ships (no call to AWS)."""
    import botocore.session  # only for a region change: make config's other paths need no SDK

    session = botocore.session.get_session()
    return sorted(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("cloudformation", partition)
    )


def set_region(name: str, region: str, path: Path = SAMCONFIG) -> Environment:
    """Set environment `name`'s region (its [global.parameters]), for every command that reads it."""
    regions = known_regions()
    if region not in regions:
        close = difflib.get_close_matches(region, regions, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"{region!r} is not an AWS region{hint}")
    _rewrite(name, "global", "region", f'region = "{region}"', path)
    return load(name, path)


def _rewrite(name: str, table: str, key: str, line: str, path: Path) -> None:
    """Replace `key`'s line in [<name>.<table>.parameters] (or add it at the top of that table)."""
    text = path.read_text()
    section = re.search(rf"^\[{re.escape(name)}\.{table}\.parameters\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if section is None:
        raise ValueError(f"samconfig.toml has no [{name}.{table}.parameters]")
    body = section.group(1)
    if re.search(rf"^{key}\s*=.*$", body, re.M):
        body = re.sub(rf"^{key}\s*=.*$", lambda _: line, body, count=1, flags=re.M)
    else:
        body = line + "\n" + body
    path.write_text(text[: section.start(1)] + body + text[section.end(1) :])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Show or keep an environment's parameter overrides.")
    add_env_argument(parser)
    parser.add_argument("--set", default="", help='"Key=Value ..." to keep in samconfig.toml')
    parser.add_argument("--unset", default="", help='"Key ..." to stop naming (the stack keeps its value)')
    parser.add_argument("--region", default="", help="the environment's region")
    parser.add_argument(
        "--file", type=Path, default=SAMCONFIG, help="the samconfig file (default: the repo's)"
    )
    args = parser.parse_args(argv)
    try:
        updates, unset = parse_overrides(args.set), tuple(args.unset.split())
        if args.region:
            set_region(args.env, args.region, args.file)
        changed = updates or unset
        env = set_overrides(args.env, updates, args.file, unset) if changed else load(args.env, args.file)
    except ValueError as exc:
        print(f"make config: not written: {exc}", file=sys.stderr)
        return 2
    print(f"[{env.name}] stack {env.stack_name} in {env.region}; every deploy uses:")
    for key, value in env.parameter_overrides.items():
        print(f"  {key}={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
