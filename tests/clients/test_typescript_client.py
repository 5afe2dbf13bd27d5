"""The TypeScript client in docs/clients.md, compiled with tsc and run by Node's test runner.

The code block in the guide is the code under test: the guide cannot drift from what works. The broker
is the local API (`make serve`: the template's endpoint, its Cognito authorizer and the built function)
with a real ID token from moto's Cognito; Gradium's TTS socket is the stand-in of tests/smoke/standins.py,
speaking for the tokens the local Gradium stand-in mints.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.gradium_standin import GradiumStandIn, Reply
from local.serve import LocalApi, local_api
from tests.smoke.standins import TtsStandIn

HERE = Path(__file__).resolve().parent
GUIDE = HERE.parents[1] / "docs" / "clients.md"
TSC = HERE / "node_modules" / ".bin" / "tsc"
NODE = shutil.which("node") or "node"  # Node 20+: its WebSocket global needs --experimental-websocket


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


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    with local_api() as running:
        yield running


@pytest.fixture
def standins(api: LocalApi) -> Iterator[tuple[LocalApi, GradiumStandIn, TtsStandIn]]:
    gradium = api.stack.standin
    assert gradium is not None
    gradium.issued_tokens.clear()
    tts = TtsStandIn(gradium.issued_tokens).start()  # a token Gradium did not mint opens no session
    try:
        yield api, gradium, tts
    finally:
        tts.stop()


def run_node(compiled: Path, api: LocalApi, tts: TtsStandIn, scenario: str) -> None:
    env = os.environ | {
        "CLIENT_MODULE": compiled.as_uri(),
        "TOKEN_URL": api.token_url,
        "TTS_URL": tts.url,
        "ID_TOKEN": api.id_token(),
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
    api, gradium, tts = standins
    run_node(compiled, api, tts, "speak")
    assert len(gradium.issued_tokens) == 1
    assert tts.used_tokens == set(gradium.issued_tokens)


def test_a_refused_token_is_replaced_by_a_fresh_one(compiled: Path, standins) -> None:
    api, gradium, tts = standins
    # The first token is one the socket refuses, as a used or expired one.
    gradium.queue(Reply(200, {"token": "gtk_already_used", "expires_at": "2026-11-25T12:00:00Z"}))
    run_node(compiled, api, tts, "reconnect")
    assert len(gradium.issued_tokens) == 1
    assert tts.used_tokens == set(gradium.issued_tokens)


def test_a_throttled_client_waits_for_retry_after(compiled: Path, standins) -> None:
    api, gradium, tts = standins
    gradium.queue(Reply(429, b"slow down", {"Retry-After": "1"}))  # passed on by the broker
    run_node(compiled, api, tts, "throttled")
    assert len(gradium.issued_tokens) == 1


def test_no_token_for_a_signed_out_user(compiled: Path, standins) -> None:
    api, gradium, tts = standins
    run_node(compiled, api, tts, "signed out")
    assert gradium.issued_tokens == []
