"""A local HTTP server that speaks Gradium's documented token contract, for tests and `make invoke`.

`GET /api/api-keys/token` with a known `x-api-key` answers 200 `{"token", "expires_at"}`, and
`GET /api/usages/credits` the balance in `credits`; an unknown key answers 401. Tests queue scripted
replies (errors, delays, redirects, odd bodies) ahead of that default and read back every request and
how many TCP connections carried them.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

from local.http_server import BackgroundHTTPServer

TOKEN_PATH = "/api/api-keys/token"
CREDITS_PATH = "/api/usages/credits"
TOKEN_LIFETIME = timedelta(seconds=300)


@dataclass
class Reply:
    """One scripted answer; `body` bytes are sent as they are, a dict as JSON.

    `delay` waits before answering; `drip` sends the whole answer one byte at a time with that many
    seconds between bytes; `interim` is sent verbatim before the status line (e.g. a 103 answer).
    `headers` replace the default Content-Type and Content-Length, and "Connection: close" closes.
    """

    status: int = 200
    body: bytes | dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0
    interim: bytes = b""


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    connection: int


class GradiumStandIn(BackgroundHTTPServer):
    """Threaded stand-in for api.gradium.ai on 127.0.0.1 (or `host`), on a free port unless one is given."""

    def __init__(
        self, api_keys: set[str] | frozenset[str] = frozenset(), port: int = 0, host: str = "127.0.0.1"
    ) -> None:
        self.api_keys = set(api_keys)
        self.script: deque[Reply] = deque()
        self.requests: list[SeenRequest] = []
        self.issued_tokens: list[str] = []
        self.token_delay = 0.0  # seconds every minted token waits: a simulated network round trip
        # The fields as Gradium's docs name them; tests swap in the published client's spelling.
        self.credits: dict[str, object] = {
            "remaining_credits": 84_250,
            "allocated_credits": 100_000,
            "billing_period": "monthly",
            "next_rollover_date": "2026-12-01",
            "plan_name": "Pro",
        }
        self._connections = 0
        self._lock = threading.Lock()
        super().__init__(self._handler_class(), port, host)

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (a kept-alive connection counts once)."""
        return self._connections

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, before the default behaviour."""
        self.script.extend(replies)

    def _next_reply(self, path: str, api_key: str | None) -> Reply:
        with self._lock:
            if self.script:
                return self.script.popleft()
        if api_key not in self.api_keys:
            return Reply(401, {"detail": "Invalid API key"})
        if path == CREDITS_PATH:
            return Reply(200, dict(self.credits))
        token = "gtk_" + secrets.token_urlsafe(24)
        with self._lock:
            self.issued_tokens.append(token)
        expires = datetime.now(UTC) + TOKEN_LIFETIME
        expires_at = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        return Reply(200, {"token": token, "expires_at": expires_at}, delay=self.token_delay)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real service
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def setup(self) -> None:
                super().setup()
                with standin._lock:
                    standin._connections += 1
                    self.connection_number = standin._connections

            def do_GET(self) -> None:
                standin.requests.append(
                    SeenRequest("GET", self.path, dict(self.headers.items()), self.connection_number)
                )
                if self.path not in (TOKEN_PATH, CREDITS_PATH):
                    self._send(Reply(404, {"detail": "Not Found"}))
                    return
                self._send(standin._next_reply(self.path, self.headers.get("x-api-key")))

            def _send(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                if isinstance(body, dict):
                    body = json.dumps(body).encode()
                body = body or b""
                headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
                headers.update(reply.headers)
                if headers.get("Connection", "").lower() == "close":
                    self.close_connection = True
                head = f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('Status',))[0]}\r\n"
                head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
                # HTTP header bytes are Latin-1, as http.client reads them.
                answer = reply.interim + head.encode("latin-1") + body
                # A client that timed out or gave up has gone already.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    if not reply.drip:
                        self.wfile.write(answer)
                        return
                    for index in range(len(answer)):
                        self.wfile.write(answer[index : index + 1])
                        self.wfile.flush()
                        time.sleep(reply.drip)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet

        return Handler
