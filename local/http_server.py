"""A threaded HTTP server served from a daemon thread: the base of the HTTP stand-ins and of make serve."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from local.network import local_host, port_in_use_as, url_host


class _QuietServer(ThreadingHTTPServer):
    """A client that hung up on a kept-alive connection (one that timed out, or exited) is routine
    here, not a traceback on the test output; any other handler error is still printed."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class BackgroundHTTPServer:
    """Serves `handler` on `host` (loopback unless given), on a free port unless one is given, until
    stopped. Binds at once: a taken port is PortInUse here, before anything else starts."""

    def __init__(
        self, handler: Callable[..., BaseHTTPRequestHandler], port: int = 0, host: str = "127.0.0.1"
    ) -> None:
        with port_in_use_as(f"port {port} on {host}"):
            self._server = _QuietServer((host, port), handler)
        self._server.daemon_threads = True  # a handler sleeping on purpose must not hold up stop()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The server's URL as this machine reaches it."""
        return f"http://{url_host(local_host(str(self._server.server_address[0])))}:{self.port}"

    def start(self, handler: Callable[..., BaseHTTPRequestHandler] | None = None) -> Self:
        """Start serving; `handler` replaces the one the port was bound with (bind first, wire later)."""
        if handler is not None:
            self._server.RequestHandlerClass = handler
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
