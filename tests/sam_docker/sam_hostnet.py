"""`sam` (the unmodified SAM CLI) with its Lambda containers on the host's network.

`--docker-network host` does not do that in SAM CLI 1.170: the container is created on Docker's default
network and "host" only skips the later `network.connect` (samcli/local/docker/container.py,
`if self.network_id and self.network_id != "host"`; aws/aws-sam-cli#4236). On this dockerd (--bridge=none)
the default network has no interface at all, so SAM cannot reach the emulator. This wrapper changes only
the container that SAM asks Docker for: host network, the RIE listening on the 127.0.0.1 port SAM will call
(instead of 0.0.0.0:8080 behind a port mapping) and its Runtime API on a free port (not 9001). Nothing
else: the function's variables come from SAM alone (--env-vars), as on a user's machine. From the team's
shared tools (sam-docker), its extra-variables option left out for that reason.
"""

import socket
import sys

import docker.models.containers
from samcli.cli.main import cli

_create = docker.models.containers.ContainerCollection.create


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _create_on_host_network(self, image, command=None, **kwargs):
    entrypoint = kwargs.get("entrypoint") or []
    if entrypoint[:1] == ["/var/rapid/aws-lambda-rie"]:
        _, port = kwargs.pop("ports")["8080"]  # SAM's ("127.0.0.1", rapid_port_host)
        kwargs["network_mode"] = "host"
        kwargs["entrypoint"] = [
            *entrypoint,
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{port}",
            "--runtime-api-address",
            f"127.0.0.1:{_free_port()}",
        ]
    return _create(self, image, command, **kwargs)


docker.models.containers.ContainerCollection.create = _create_on_host_network
sys.exit(cli())
