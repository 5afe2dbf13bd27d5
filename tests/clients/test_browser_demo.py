"""The TypeScript client in a real browser: clients/typescript/demo in headless Chromium against `make serve`.

The page is served from its own origin (another port) and the API allows exactly that origin, as a
deployed stack with AllowedOrigin would: the browser signs in against moto's Cognito, gets a token with
CORS, reads a 429's Retry-After (only possible with Access-Control-Expose-Headers), opens the TTS socket
of the speech stand-in and decodes the PCM into Web Audio buffers. The screenshot lands in artifacts/.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlencode

import pytest

from local.gradium_standin import Reply
from local.loopback_server import LoopbackHTTPServer
from local.serve import LOCAL_PASSWORD, LOCAL_USER, LocalApi, local_api
from tests.clients.test_typescript_client import CLIENT, HERE, NODE, compile_typescript
from tests.smoke.standins import AUDIO_CHUNK, SpeechStandIn

DEMO = CLIENT.parent / "demo"
ARTIFACTS = HERE.parents[1] / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The compiled demo on its own origin: http://127.0.0.1:<port>/demo/."""
    site = tmp_path_factory.mktemp("site")
    compile_typescript(site, CLIENT, DEMO / "demo.ts")
    shutil.copy(DEMO / "index.html", site / "demo" / "index.html")
    with LoopbackHTTPServer(functools.partial(QuietHandler, directory=str(site))) as server:
        yield server.base_url


def open_demo(api: LocalApi, origin: str, speech: SpeechStandIn, name: str) -> dict:
    """Run the demo once in Chromium; what the page showed, and its screenshot in artifacts/<name>.png."""
    assert Path(CHROMIUM).exists(), "install Debian's chromium (.ci/run does: apt-get install chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    query = urlencode(
        {
            "token_url": api.token_url,
            "cognito_endpoint": api.info["cognito_endpoint"],
            "region": api.info["region"],
            "app_client_id": api.info["app_client_id"],
            "speech_url": speech.base_url,
        }
    )
    env = os.environ | {
        "CHROMIUM": CHROMIUM,
        "DEMO_URL": f"{origin}/demo/index.html?{query}",
        "USERNAME": LOCAL_USER,
        "PASSWORD": LOCAL_PASSWORD,
        "SCREENSHOT": str(ARTIFACTS / f"{name}.png"),
    }
    result = subprocess.run(
        [NODE, HERE / "browser_demo.mjs"], cwd=HERE, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_demo_signs_in_waits_out_a_429_and_plays_the_audio(demo_site: str) -> None:
    with local_api({"AllowedOrigin": demo_site}) as api:
        gradium = api.stack.standin
        assert gradium is not None
        speech = SpeechStandIn(gradium.issued_tokens).start()
        try:
            gradium.queue(Reply(429, b"slow down", {"Retry-After": "2"}))  # the broker passes it on
            page = open_demo(api, demo_site, speech, "browser-demo")
        finally:
            speech.stop()
    assert page["status"]["state"] == "done", page
    # 2 s: read from Retry-After, which the browser exposes only with Access-Control-Expose-Headers
    # (without it the client would fall back to 1 s).
    assert page["status"]["waited"] == "2", page
    samples_per_chunk = len(AUDIO_CHUNK) // 2
    assert page["status"]["chunks"] == "3"
    assert page["status"]["samples"] == str(3 * samples_per_chunk)
    # The stand-in's samples are all 0x0100: 256 / 32768 once decoded.
    assert float(page["status"]["peak"]) == pytest.approx(256 / 32768, abs=1e-6)
    assert page["errors"] == []
    assert len(gradium.issued_tokens) == 1 and speech.used_tokens == set(gradium.issued_tokens)
    assert (ARTIFACTS / "browser-demo.png").stat().st_size > 10_000


def test_a_page_on_another_origin_gets_no_token(demo_site: str) -> None:
    """CORS is real here: with the API allowing another origin, the browser withholds the answers. Since
    the local Cognito endpoint answers the app's origin only too, such a page cannot even sign in: it
    fails at its first cross-origin call, and no token is minted at all."""
    with local_api({"AllowedOrigin": "https://app.example.com"}) as api:
        gradium = api.stack.standin
        assert gradium is not None
        speech = SpeechStandIn(gradium.issued_tokens).start()
        try:
            page = open_demo(api, demo_site, speech, "browser-demo-wrong-origin")
        finally:
            speech.stop()
    assert page["status"]["state"] == "failed", page
    assert page["status"]["error"] == "TypeError"  # fetch's answer to a refused cross-origin call
    assert "signed in" not in page["events"]
    assert gradium.issued_tokens == [] and speech.used_tokens == set()  # no token was even minted
