"""Gradium's speech WebSockets (TTS and ASR) on loopback; the token endpoint itself is the local API
(`make serve`)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections import deque
from collections.abc import Collection
from urllib.parse import parse_qs, urlsplit

from websockets.sync.server import ServerConnection, serve

# What a session may be told to do instead of Gradium's normal flow (SpeechStandIn.misbehave).
MISBEHAVIOURS = frozenset({"no_ready", "drop_after_audio", "error_1011"})
AUDIO_CHUNK = b"\x00\x01" * 3840  # 80 ms of Gradium's "pcm": 48 kHz, 16-bit mono


class SpeechStandIn:
    """Gradium's documented flows on ws://127.0.0.1: `/api/speech/tts` (setup -> ready, text -> audio,
    end_of_stream) and `/api/speech/asr` (setup -> ready, audio -> text, end_of_stream).

    It accepts `valid_tokens` (a live view: the Gradium stand-in's minted tokens). A token opens one
    session only; a second connection with it gets a 1008 error and is closed.
    `enforce_single_use=False` makes a broken server, to prove the smoke test notices.
    `misbehave(...)` scripts the next sessions: no `ready`, a drop after the first audio, a 1011 error.
    """

    def __init__(self, valid_tokens: Collection[str], enforce_single_use: bool = True) -> None:
        self.valid_tokens = valid_tokens
        self.used_tokens: set[str] = set()
        self.received_audio_bytes = 0
        self.enforce_single_use = enforce_single_use
        self._script: deque[str] = deque()
        self._server = serve(self._session, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """What a client takes as Gradium's speech URL: `<base_url>/tts`, `<base_url>/asr`."""
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/api/speech"

    @property
    def url(self) -> str:
        return f"{self.base_url}/tts"

    def start(self) -> SpeechStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def misbehave(self, *behaviours: str) -> None:
        """Let the next sessions (one behaviour each) go wrong as named in MISBEHAVIOURS."""
        if not set(behaviours) <= MISBEHAVIOURS:
            raise ValueError(f"unknown misbehaviour(s): {sorted(set(behaviours) - MISBEHAVIOURS)}")
        self._script.extend(behaviours)

    def _session(self, socket: ServerConnection) -> None:
        parts = urlsplit(socket.request.path)
        token = parse_qs(parts.query).get("token", [""])[0]
        if token not in self.valid_tokens or (self.enforce_single_use and token in self.used_tokens):
            socket.send(json.dumps({"type": "error", "message": "Invalid or used token", "code": 1008}))
            socket.close(1008, "invalid token")
            return
        self.used_tokens.add(token)
        behaviour = self._script.popleft() if self._script else None
        setup = json.loads(socket.recv())
        if setup.get("type") != "setup":
            socket.send(json.dumps({"type": "error", "message": "setup must come first", "code": 1008}))
            socket.close(1008)
            return
        if behaviour == "no_ready":
            for _ in socket:  # says nothing until the client gives up
                pass
            return
        if behaviour == "error_1011":
            socket.send(json.dumps({"type": "error", "message": "Unknown voice_id", "code": 1011}))
            socket.close(1011)
            return
        socket.send(json.dumps({"type": "ready", "request_id": secrets.token_hex(8)}))
        if parts.path.endswith("/asr"):
            self._transcribe(socket)
        else:
            self._speak(socket, drop_after_audio=behaviour == "drop_after_audio")

    def _speak(self, socket: ServerConnection, drop_after_audio: bool) -> None:
        for raw in socket:
            message = json.loads(raw)
            if message.get("type") == "text":
                chunk = base64.b64encode(AUDIO_CHUNK).decode()
                for _ in range(3):
                    socket.send(json.dumps({"type": "audio", "audio": chunk}))
                    if drop_after_audio:
                        socket.close(1001)  # going away: a session dropped mid-stream
                        return
                socket.send(
                    json.dumps({"type": "text", "text": message["text"], "start_s": 0.0, "stop_s": 0.24})
                )
            elif message.get("type") == "end_of_stream":
                socket.send(json.dumps({"type": "end_of_stream"}))
                socket.close()
                return

    def _transcribe(self, socket: ServerConnection) -> None:
        """One text segment per second of audio received, then end_of_stream."""
        heard = 0
        for raw in socket:
            message = json.loads(raw)
            if message.get("type") == "audio":
                chunk = base64.b64decode(message["audio"])
                self.received_audio_bytes += len(chunk)
                heard += len(chunk)
                while heard >= 32_000:  # one second of pcm_16000
                    heard -= 32_000
                    socket.send(json.dumps({"type": "text", "text": "hello", "start_s": 0.0, "stop_s": 1.0}))
            elif message.get("type") == "end_of_stream":
                if heard:
                    socket.send(json.dumps({"type": "text", "text": "world", "start_s": 1.0, "stop_s": 1.5}))
                socket.send(json.dumps({"type": "end_of_stream"}))
                socket.close()
                return
