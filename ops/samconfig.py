"""samconfig.toml's environments: the one place that says, per environment, which stack, which region and
which parameter overrides a deploy uses. `make deploy`, `smoke`, `logs`, `put-key` and the guard read it.

`sam deploy --parameter-overrides` on the command line *replaces* the file's overrides for that run, and the
next plain deploy silently drops them; `set_overrides` (`make config`) writes them into the file instead.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

SAMCONFIG = Path(__file__).resolve().parents[1] / "samconfig.toml"
# Parameter values are written bare into a TOML string: ARNs, names, numbers, e-mail addresses, URLs.
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.:/@+=,*()#-]*")


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
            raise ValueError(f"parameter override {item!r} is not Key=Value")
        overrides[name.removeprefix("ParameterKey=")] = value
    return overrides


def load(name: str = "default", path: Path = SAMCONFIG) -> Environment:
    """Environment `name` of samconfig.toml; ValueError if it lacks a stack or a region."""
    config = tomllib.loads(path.read_text())
    if name not in config:
        raise ValueError(f"samconfig.toml has no environment {name!r} (it has {', '.join(sorted(config))})")
    section = config[name]
    global_parameters = section.get("global", {}).get("parameters", {})
    deploy = section.get("deploy", {}).get("parameters", {})
    stack_name, region = global_parameters.get("stack_name"), global_parameters.get("region")
    if not stack_name or not region:
        raise ValueError(f"samconfig.toml's [{name}.global.parameters] needs stack_name and region")
    return Environment(name, stack_name, region, parse_overrides(deploy.get("parameter_overrides", "")))


def set_overrides(name: str, updates: dict[str, str], path: Path = SAMCONFIG) -> Environment:
    """Merge `updates` into environment `name`'s parameter_overrides, in the file; returns the result.

    Only that one line changes: comments and the other settings stay as they are.
    """
    for key, value in updates.items():
        if not re.fullmatch(r"[A-Za-z0-9]+", key) or not _PLAIN_VALUE.fullmatch(value):
            raise ValueError(f"{key}={value!r}: only plain parameter names and values can be kept here")
    merged = load(name, path).parameter_overrides | updates
    line = "parameter_overrides = " + '"' + " ".join(f"{k}={v}" for k, v in merged.items()) + '"'
    text = path.read_text()
    section = re.search(rf"^\[{re.escape(name)}\.deploy\.parameters\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if section is None:
        raise ValueError(f"samconfig.toml has no [{name}.deploy.parameters]")
    body = section.group(1)
    if re.search(r"^parameter_overrides\s*=.*$", body, re.M):
        body = re.sub(r"^parameter_overrides\s*=.*$", lambda _: line, body, count=1, flags=re.M)
    else:
        body = line + "\n" + body
    path.write_text(text[: section.start(1)] + body + text[section.end(1) :])
    return load(name, path)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Show or keep an environment's parameter overrides.")
    parser.add_argument("--env", default="default", help="samconfig.toml environment (default: default)")
    parser.add_argument("--set", default="", help='"Key=Value ..." to keep in samconfig.toml')
    args = parser.parse_args(argv)
    updates = parse_overrides(args.set)
    env = set_overrides(args.env, updates) if updates else load(args.env)
    print(f"[{env.name}] stack {env.stack_name} in {env.region}; every deploy uses:")
    for key, value in env.parameter_overrides.items():
        print(f"  {key}={value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
