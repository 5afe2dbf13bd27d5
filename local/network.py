"""Where local servers listen and how this machine and other devices reach them."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
from collections.abc import Iterator

# Binding to these serves every interface (HOST=0.0.0.0): devices on the LAN, a phone.
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 (on purpose: make serve warns about it)


class PortInUse(Exception):
    """The port asked for is taken."""


@contextlib.contextmanager
def port_in_use_as(what: str) -> Iterator[None]:
    """Turn EADDRINUSE from a bind inside the block into PortInUse(`what` is in use)."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"{what} is in use") from None
        raise


def free_port(consecutive: int = 1) -> int:
    """A free loopback port, and the `consecutive - 1` ports after it free too (make serve takes PORT+1)."""
    while True:
        with contextlib.ExitStack() as held:
            sockets = [held.enter_context(socket.socket()) for _ in range(consecutive)]
            sockets[0].bind(("127.0.0.1", 0))
            port = sockets[0].getsockname()[1]
            try:
                for offset, sock in enumerate(sockets[1:], start=1):
                    sock.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
            return port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_host(host: str) -> str:
    """Where this machine reaches a server bound to `host`."""
    if host in WILDCARD_HOSTS or host == "localhost":
        return "::1" if host == "::" else "127.0.0.1"
    return host


def device_host(host: str) -> str:
    """Where another device reaches a server bound to `host`: the machine's own address for a wildcard
    (the interface of its default route; a UDP connect sends nothing), else the host itself."""
    if host not in WILDCARD_HOSTS:
        return local_host(host)
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routed like the internet, never answered
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"  # no network: nothing else could reach it anyway


def url_host(host: str) -> str:
    """A host as a URL names it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host
