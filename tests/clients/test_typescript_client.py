"""The TypeScript client in docs/clients.md, compiled with tsc and run by Node's test runner.

The code block in the guide is the code under test: the guide cannot drift from what works. The broker
and Gradium's TTS socket are the local stand-ins of tests/smoke/standins.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smoke.standins import TokenApiStandIn, TtsStandIn

HERE = Path(__file__).resolve().parent
GUIDE = HERE.parents[1] / "docs" / "clients.md"
TSC = HERE / "node_modules" / ".bin" / "tsc"
NODE = shutil.which("node") or "node"  # Node 20+: its WebSocket global needs --experimental-websocket
CLIENT_ID = "4q2h7k9m1n3p5r7t9v1x3z5b7d"


def id_token() -> str:
    """An ID token shaped as Cognito's; the stand-in reads its claims and does not check the signature."""

    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part({'token_use': 'id', 'aud': CLIENT_ID, 'sub': 'u-1'})}.c2ln"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert TSC.exists(), "run `make venv` first: it installs tests/clients' TypeScript compiler with npm ci"
    [source] = re.findall(r"```typescript\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    build = tmp_path_factory.mktemp("client")
    (build / "gradium-tts.ts").write_text(source)
    subprocess.run(
        [
            TSC,
            "--strict",
            "--target",
            "ES2022",
            "--module",
            "ES2022",
            "--lib",
            "ES2022,DOM",
            "--outDir",
            build,
            build / "gradium-tts.ts",
        ],
        check=True,
    )
    return build / "gradium-tts.js"


@pytest.fixture
def standins() -> Iterator[tuple[TokenApiStandIn, TtsStandIn]]:
    tts = TtsStandIn().start()
    api = TokenApiStandIn(tts, CLIENT_ID).start()
    try:
        yield api, tts
    finally:
        api.stop()
        tts.stop()


def run_node(compiled: Path, api: TokenApiStandIn, tts: TtsStandIn, scenario: str) -> None:
    env = os.environ | {
        "CLIENT_MODULE": compiled.as_uri(),
        "TOKEN_URL": api.token_url,
        "TTS_URL": tts.url,
        "ID_TOKEN": id_token(),
    }
    result = subprocess.run(
        [
            NODE,
            "--experimental-websocket",
            "--test",
            f"--test-name-pattern=^{scenario}:",
            HERE / "tts_client.test.mjs",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 1" in result.stdout, result.stdout


def test_speak(compiled: Path, standins) -> None:
    api, tts = standins
    run_node(compiled, api, tts, "speak")
    assert len(api.issued) == 1
    assert tts.used_tokens == set(api.issued)


def test_a_refused_token_is_replaced_by_a_fresh_one(compiled: Path, standins) -> None:
    api, tts = standins
    api.spoiled = 1  # the first token is refused by the socket, as a used or expired one
    run_node(compiled, api, tts, "reconnect")
    assert len(api.issued) == 2
    assert tts.used_tokens == {api.issued[1]}


def test_a_throttled_client_waits_for_retry_after(compiled: Path, standins) -> None:
    api, tts = standins
    api.queued_statuses.append(429)
    run_node(compiled, api, tts, "throttled")
    assert len(api.issued) == 1


def test_no_token_for_a_signed_out_user(compiled: Path, standins) -> None:
    api, tts = standins
    run_node(compiled, api, tts, "signed out")
    assert api.issued == []
