"""Gradium's TTS WebSocket on loopback; the token endpoint itself is the local API (`make serve`)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Collection
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import ServerConnection, serve


class TtsStandIn:
    """Gradium's documented TTS flow on ws://127.0.0.1: setup -> ready, text -> audio, end_of_stream.

    It accepts `valid_tokens` (a live view: the Gradium stand-in's minted tokens). A token opens one
    session only; a second connection with it gets a 1008 error and is closed.
    `enforce_single_use=False` makes a broken server, to prove the smoke test notices.
    """

    def __init__(self, valid_tokens: Collection[str], enforce_single_use: bool = True) -> None:
        self.valid_tokens = valid_tokens
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
