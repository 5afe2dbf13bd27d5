"""`make standins`: what the function talks to, served for SAM CLI's Lambda containers (`sam local invoke`
with Docker), and the `--env-vars` file that points the function at it.

Secrets Manager and DynamoDB are a moto server holding the key and the quota table that events/env.json
names; Gradium is the local stand-in (or, with GRADIUM=real, api.gradium.ai). A container reaches this
machine as host.docker.internal: Docker Desktop maps the name to the host's loopback; Linux Docker maps it
with `--add-host host.docker.internal:host-gateway` to the default bridge's gateway, an address of this
machine, so on Linux the stand-ins listen there (never on every interface).
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from broker.config import DOCKER_HOST_NAME, SETTINGS
from local.paths import REPO, shown
from local.real_gradium import add_real_gradium_flag, gradium_key
from local.services import REGION, STANDIN_API_KEY, LocalServices, env_json, local_services
from ops.private_json import write_private_json

ENV_FILE = REPO / ".aws-sam" / "sam-local-env.json"
FUNCTIONS = ("TokenFunction", "CreditsMonitorFunction")
# `sam local invoke --add-host` for Linux Docker; Docker Desktop maps the name itself and accepts it too.
ADD_HOST = f"{DOCKER_HOST_NAME}:host-gateway"
# The variables each function's container gets besides events/env.json's: the template declares them
# (empty in a stack), as SAM's --env-vars sets nothing else.
ENDPOINTS = {
    "TokenFunction": ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB"),
    "CreditsMonitorFunction": ("AWS_ENDPOINT_URL_SECRETS_MANAGER",),
}


@dataclass(frozen=True)
class StandIns:
    """The running stand-ins: where they listen and each function's variables for `--env-vars`."""

    host: str
    stack: LocalServices
    env_vars: dict[str, dict[str, str]]

    def write(self, path: Path) -> Path:
        """The --env-vars file (it names the local secret and table, never a key)."""
        return write_private_json(path, self.env_vars)


def listen_host(docker: str = "docker") -> str:
    """Where the stand-ins listen: the default bridge's gateway when it is an address of this machine
    (Linux Docker, where host-gateway maps to it), else loopback (Docker Desktop, whose bridge lives in
    its VM, and no Docker at all)."""
    try:
        gateway = subprocess.run(
            [docker, "network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "127.0.0.1"
    try:
        address = ipaddress.IPv4Address(gateway)
        with socket.socket() as probe:
            probe.bind((str(address), 0))
    except (OSError, ValueError):
        return "127.0.0.1"
    return str(address)


@contextmanager
def standins(host: str = "127.0.0.1", real_key: str | None = None) -> Iterator[StandIns]:
    """Serve moto and (unless `real_key`) the Gradium stand-in on `host`, with the secret holding the key
    and the quota table made; yields them with each function's variables as a container sees them."""
    # The moto server answers requests to host.docker.internal too (its guard refuses other names).
    with local_services(
        with_standin=real_key is None, host=host, names=("localhost", DOCKER_HOST_NAME)
    ) as stack:
        env_vars = {}
        for function in FUNCTIONS:
            env = env_json(function) | dict.fromkeys(ENDPOINTS[function], stack.moto_url)
            env["GRADIUM_TOKEN_URL"] = (
                stack.standin.token_url if stack.standin else SETTINGS["token_url"].default
            )
            env_vars[function] = {name: _in_container(value) for name, value in env.items()}
        # Both functions read one secret (events/env.json): it is written once.
        for secret_id in {env["GRADIUM_API_KEY_SECRET_ID"] for env in env_vars.values()}:
            stack.put_api_key(secret_id, real_key or STANDIN_API_KEY)
        if env_vars["TokenFunction"].get("QUOTA_TABLE_NAME"):
            stack.create_quota_table(env_vars["TokenFunction"]["QUOTA_TABLE_NAME"])
        yield StandIns(host, stack, env_vars)


def _in_container(value: str) -> str:
    """A URL of a stand-in as a container names it (host.docker.internal); any other value as it is."""
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname:
        return value
    return urlunsplit(parts._replace(netloc=f"{DOCKER_HOST_NAME}:{parts.port}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--env-file", type=Path, default=ENV_FILE, help=f"where to write it (default {ENV_FILE})"
    )
    parser.add_argument(
        "--host", help="address to listen on (default: Docker's bridge gateway, else 127.0.0.1)"
    )
    add_real_gradium_flag(parser)
    args = parser.parse_args(argv)
    try:
        real_key = gradium_key(args.real_gradium)
    except ValueError as exc:
        print(f"make standins: {exc}", file=sys.stderr)
        return 2
    host = args.host or listen_host()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with standins(host, real_key) as running:
        path = running.write(args.env_file)
        try:
            gradium = (
                "api.gradium.ai (GRADIUM=real)"
                if real_key
                else f"the stand-in at {running.stack.standin.base_url}"
            )
            print(
                f"Stand-ins for sam local, on {host} (containers: {DOCKER_HOST_NAME}):\n"
                f"  Secrets Manager and DynamoDB (moto): {running.stack.moto_url}\n"
                f"  Gradium: {gradium}\n"
                f"  --env-vars file: {shown(path)}\n\n"
                "In another terminal:\n"
                f"  sam local invoke TokenFunction -e events/signed_in.json --env-vars {shown(path)} "
                f"--region {REGION} --add-host {ADD_HOST}\n\n"
                "Ctrl-C stops them (and removes the file).",
                flush=True,
            )
            with suppress(KeyboardInterrupt):
                stopped.wait()
        finally:
            path.unlink(missing_ok=True)  # it would point sam local at ports nothing listens on
    return 0


if __name__ == "__main__":
    sys.exit(main())
