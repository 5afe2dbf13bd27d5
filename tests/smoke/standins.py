"""Local stand-ins for a deployed stack: the token endpoint, and Gradium's TTS WebSocket."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import ServerConnection, serve

from local.loopback_server import LoopbackHTTPServer

TOKEN_PATH = "/v1/gradium-token"


class TtsStandIn:
    """Gradium's documented TTS flow on ws://127.0.0.1: setup -> ready, text -> audio, end_of_stream.

    A token opens one session only; a second connection with it gets a 1008 error and is closed.
    `enforce_single_use=False` makes a broken server, to prove the smoke test notices.
    """

    def __init__(self, enforce_single_use: bool = True) -> None:
        self.valid_tokens: set[str] = set()
        self.used_tokens: set[str] = set()
        self.enforce_single_use = enforce_single_use
        self._server = serve(self._session, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/api/speech/tts"

    def start(self) -> TtsStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def _session(self, socket: ServerConnection) -> None:
        token = parse_qs(urlsplit(socket.request.path).query).get("token", [""])[0]
        if token not in self.valid_tokens or (self.enforce_single_use and token in self.used_tokens):
            socket.send(json.dumps({"type": "error", "message": "Invalid or used token", "code": 1008}))
            socket.close(1008, "invalid token")
            return
        self.used_tokens.add(token)
        setup = json.loads(socket.recv())
        if setup.get("type") != "setup":
            socket.send(json.dumps({"type": "error", "message": "setup must come first", "code": 1008}))
            socket.close(1008)
            return
        socket.send(json.dumps({"type": "ready", "request_id": secrets.token_hex(8)}))
        for raw in socket:
            message = json.loads(raw)
            if message.get("type") == "text":
                chunk = base64.b64encode(b"\x00\x01" * 3840).decode()  # 80 ms of 48 kHz 16-bit mono
                for _ in range(3):
                    socket.send(json.dumps({"type": "audio", "audio": chunk}))
                socket.send(
                    json.dumps({"type": "text", "text": message["text"], "start_s": 0.0, "stop_s": 0.24})
                )
            elif message.get("type") == "end_of_stream":
                socket.send(json.dumps({"type": "end_of_stream"}))
                socket.close()
                return


class TokenApiStandIn(LoopbackHTTPServer):
    """The deployed endpoint's contract on http://127.0.0.1: a Cognito ID token in, a Gradium token out."""

    def __init__(self, tts: TtsStandIn, client_id: str, status: int = 200) -> None:
        self.tts = tts
        self.client_id = client_id
        self.status = status  # the answer to every signed-in request; 200 mints a token
        # Answered first, one per request; a 429 comes with Retry-After: 1.
        self.queued_statuses: deque[int] = deque()
        self.spoiled = 0  # this many next tokens are unknown to the TTS stand-in, as a used or expired one
        self.issued: list[str] = []
        super().__init__(self._handler())

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    def _signed_in(self, authorization: str | None) -> bool:
        """An ID token of our app client (signature unchecked: moto signs with its own test key)."""
        try:
            payload = authorization.split(".")[1]  # type: ignore[union-attr]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (AttributeError, IndexError, ValueError):
            return False
        return claims.get("token_use") == "id" and claims.get("aud") == self.client_id

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != TOKEN_PATH:
                    return self._send(404, {"error": "Missing Authentication Token"})
                if not api._signed_in(self.headers.get("Authorization")):
                    return self._send(401, {"error": "Unauthorized"})
                status = api.queued_statuses.popleft() if api.queued_statuses else api.status
                if status == 429:
                    return self._send(
                        429, {"error": "Too many token requests; retry later"}, {"Retry-After": "1"}
                    )
                if status != 200:
                    return self._send(status, {"error": "Gradium token service failed"})
                token = "gtk_" + secrets.token_urlsafe(24)
                api.issued.append(token)
                if api.spoiled:
                    api.spoiled -= 1
                else:
                    api.tts.valid_tokens.add(token)
                expires = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
                return self._send(200, {"token": token, "expires_at": expires})

            def _send(self, status: int, body: dict[str, str], extra: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {
                    "Content-Type": "application/json",
                    "Cache-Control": "no-store",
                    "Content-Length": str(len(data)),
                    **(extra or {}),
                }.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
