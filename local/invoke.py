"""`make invoke`: run an event through a built function under the Lambda emulator, without Docker; with
`--docker` (make's DOCKER=1), through the real `sam local invoke` and its Lambda container instead.

Secrets Manager is a moto server holding the API key; Gradium is the local stand-in, or the real
service with `--real-gradium` (`make invoke GRADIUM=real`: the key from GRADIUM_API_KEY_FILE or a hidden
prompt). Prints the function's response, a minted token as its fingerprint only, then the cold-start and
warm latencies of the built function (with Docker: the wall time of the one `sam local invoke`).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from broker.config import SETTINGS
from broker.log_safety import token_fingerprint
from local.lambda_emulator import LambdaEmulator, function_code
from local.paths import EVENTS_DIR
from local.real_gradium import add_real_gradium_flag, gradium_key
from local.sam_local import ADD_HOST, ENV_FILE, listen_host, standins
from local.sam_template import source_template
from local.services import REGION, STANDIN_API_KEY, local_services

# Each function's default event; `--event` (make's EVENT) picks another.
DEFAULT_EVENTS = {
    "TokenFunction": EVENTS_DIR / "signed_in.json",
    "CreditsMonitorFunction": EVENTS_DIR / "credits_monitor" / "scheduled.json",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--function", choices=sorted(DEFAULT_EVENTS), default="TokenFunction")
    parser.add_argument("--event", type=Path, help="event file (default: the function's own)")
    parser.add_argument("--warm", type=int, default=20, help="warm invocations to time after the first")
    parser.add_argument("--docker", action="store_true", help="run `sam local invoke` (Docker) instead")
    parser.add_argument("--sam", default="sam", help="the SAM CLI command, with --docker (default: sam)")
    parser.add_argument("--sam-flags", default="", help="more `sam local invoke` flags, with --docker")
    parser.add_argument("--architecture", help="the template's Architecture (arm64, x86_64), with --docker")
    add_real_gradium_flag(parser)
    args = parser.parse_args(argv)
    event_path = args.event or DEFAULT_EVENTS[args.function]
    # The template make invoke's environment comes from (stack.provision), translated once per process.
    handler = source_template(REGION).resources[args.function]["Properties"]["Handler"]

    try:
        real_key = gradium_key(args.real_gradium)
    except ValueError as exc:
        print(f"make invoke: {exc}", file=sys.stderr)
        return 2
    try:
        event = json.loads(event_path.read_text())
    except OSError as exc:
        print(
            f"make invoke: cannot read {event_path} ({exc.strerror}); the events are in events/",
            file=sys.stderr,
        )
        return 2
    except ValueError:
        print(
            f"make invoke: {event_path} is not JSON (an event is a JSON object, as in events/)",
            file=sys.stderr,
        )
        return 2
    if args.docker:
        return _invoke_in_docker(args, event_path, real_key)
    with local_services(with_standin=not real_key) as stack:
        overrides = {"GRADIUM_TOKEN_URL": SETTINGS["token_url"].default} if real_key else {}
        overrides["AWS_LAMBDA_FUNCTION_NAME"] = args.function
        env = stack.provision(real_key or STANDIN_API_KEY, overrides, args.function)
        gradium = "api.gradium.ai (GRADIUM=real)" if real_key else "the local stand-in"
        print(f"Invoking the built {args.function} with {event_path.name}; Gradium is {gradium}.\n")
        with LambdaEmulator(env, function_code(args.function), handler) as emulator:
            cold = emulator.invoke(event)
            print(json.dumps(redacted(cold.response), indent=2))
            if not _succeeded(cold.response):
                print("\nThe function's log lines:\n" + _function_lines(emulator.logs()))
            warm_calls = [emulator.invoke(event) for _ in range(args.warm)]
            init_ms = emulator.init_duration_ms()
    print(f"\ncold start: {cold.elapsed_ms:.0f} ms (init {init_ms or 0:.0f} ms)")
    by_status: dict[object, list[float]] = defaultdict(list)
    for call in warm_calls:
        by_status[_status(call.response)].append(call.elapsed_ms)
    for status, times in sorted(by_status.items(), key=lambda item: str(item[0])):
        print(
            f"warm {status}: p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms"
            f" over {len(times)} calls"
        )
    if 429 in by_status:
        print("(429: the per-user quota, TOKENS_PER_USER_PER_MINUTE in events/env.json, at work)")
    return _exit_code(cold.response)


def _invoke_in_docker(args: argparse.Namespace, event_path: Path, real_key: str | None) -> int:
    """The documented recipe (docs/local-development.md): the stand-ins for containers, their --env-vars
    file, then `sam local invoke` itself, whose answer (stdout) is printed redacted; its log (stderr),
    which never holds a token, goes to the terminal as it comes."""
    command = [*shlex.split(args.sam), "local", "invoke", args.function, "-e", str(event_path)]
    command += ["--region", REGION, "--add-host", ADD_HOST, *shlex.split(args.sam_flags)]
    if args.architecture:
        command += ["--parameter-overrides", f"Architecture={args.architecture}"]
    if platform.machine() in ("x86_64", "AMD64") and args.architecture != "x86_64":
        print(
            "arm64 runs emulated on this x86_64 machine (seconds per cold start); ARCH=x86_64 runs natively."
        )
    with (
        standins(listen_host(), real_key) as running,
        tempfile.TemporaryDirectory(dir=ENV_FILE.parent) as tmp,
    ):
        env_file = running.write(Path(tmp) / "env.json")
        command += ["--env-vars", str(env_file)]
        gradium = "api.gradium.ai (GRADIUM=real)" if real_key else "the local stand-in"
        print(f"sam local invoke {args.function} with {event_path.name}; Gradium is {gradium}.\n", flush=True)
        started = time.monotonic()
        try:
            answer = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        except FileNotFoundError:
            print(
                f"make invoke DOCKER=1: {command[0]} not found (install SAM CLI, or make venv)",
                file=sys.stderr,
            )
            return 2
        elapsed = time.monotonic() - started
    try:
        response = json.loads(answer.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        print(
            f"\nsam local invoke gave no answer (exit {answer.returncode}); its log is above.",
            file=sys.stderr,
        )
        return answer.returncode or 1
    print("\n" + json.dumps(redacted(response), indent=2))
    print(f"\nsam local invoke: {elapsed:.1f} s (a cold start: SAM starts a container for each invoke)")
    return _exit_code(response)


def redacted(response: dict) -> dict:
    """The response with a minted token shown as its fingerprint: a live token (with a real key) must not
    land in a terminal's scrollback or a CI log."""
    try:
        body = json.loads(response["body"])
    except (KeyError, TypeError, ValueError):
        return response
    if not isinstance(body, dict) or not isinstance(body.get("token"), str):
        return response
    body["token"] = f"<redacted: {len(body['token'])} chars, sha256 {token_fingerprint(body['token'])}>"
    return response | {"body": json.dumps(body)}


def _status(response: dict) -> object:
    """An API answer's statusCode, the monitor's "ok"/"failed", or "Lambda error"."""
    return response.get("statusCode") or response.get("status") or "Lambda error"


def _succeeded(response: dict) -> bool:
    status = _status(response)
    return status == "ok" or (isinstance(status, int) and 200 <= status < 300)


def _exit_code(response: dict) -> int:
    """0 when the function answered as designed (a 2xx to 4xx, the monitor's "ok"), 1 otherwise."""
    status = _status(response)
    if isinstance(status, int):
        return 0 if 200 <= status < 500 else 1
    return 0 if status == "ok" else 1


def _function_lines(logs: str) -> str:
    """The function's own lines (JSON logs, runtime errors), without the emulator's."""
    return "\n".join(line for line in logs.splitlines() if "(rapid)" not in line and line.strip())


if __name__ == "__main__":
    sys.exit(main())
