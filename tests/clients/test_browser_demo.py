"""The TypeScript client in a real browser: `make demo`'s page (local/demo.py, clients/typescript/demo) in
headless Chromium against `make serve`'s local API.

The page is served from its own origin (another port) and the API allows exactly that origin, as a
deployed stack with AllowedOrigin would: the browser signs in against moto's Cognito, gets a token with
CORS, reads a 429's Retry-After (only possible with Access-Control-Expose-Headers), shows the token's
fingerprint and expiry and the quota left, opens the TTS socket of the speech stand-in and decodes the PCM
into Web Audio buffers. The screenshots land in artifacts/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from local.demo import demo_site, page_url
from local.gradium_standin import Reply
from local.local_pool import LOCAL_PASSWORD, LOCAL_USER
from local.serve import LocalApi, local_api
from local.speech_standin import AUDIO_CHUNK, SpeechStandIn
from tests.clients.runners import HERE, NODE

ARTIFACTS = HERE.parents[1] / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[str, Callable[[LocalApi], None]]]:
    """`make demo`'s page server (local/demo.py): the compiled page on its own origin, and `/quota`."""
    with demo_site() as served:
        yield served


def open_demo(api: LocalApi, origin: str, speech: SpeechStandIn, name: str) -> dict:
    """Run the demo once in Chromium; what the page showed, and its screenshot in artifacts/<name>.png."""
    assert Path(CHROMIUM).exists(), "install Debian's chromium (.ci/run does: apt-get install chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    env = os.environ | {
        "CHROMIUM": CHROMIUM,
        "DEMO_URL": page_url(origin, api, speech.base_url),
        "USERNAME": LOCAL_USER,
        "PASSWORD": LOCAL_PASSWORD,
        "SCREENSHOT": str(ARTIFACTS / f"{name}.png"),
    }
    result = subprocess.run(
        [NODE, HERE / "browser_demo.mjs"], cwd=HERE, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_demo_signs_in_waits_out_a_429_and_plays_the_audio(demo) -> None:
    origin, use = demo
    with local_api({"AllowedOrigin": origin}) as api:
        use(api)
        gradium = api.stack.standin
        assert gradium is not None
        speech = SpeechStandIn(gradium.issued_tokens).start()
        try:
            gradium.queue(Reply(429, b"slow down", {"Retry-After": "2"}))  # the broker passes it on
            page = open_demo(api, origin, speech, "browser-demo")
        finally:
            speech.stop()
    assert page["status"]["state"] == "done", page
    # Local mode: the page shows the test user's sign-in and fills it in; it speaks plainly (no "CORS").
    assert page["offered"]["text"] == (
        f"Local mode: sign in as {LOCAL_USER} / {LOCAL_PASSWORD}, the local pool's test user."
    )
    assert page["offered"]["username"] == LOCAL_USER
    assert "CORS" not in page["offered"]["intro"]
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
    [token] = gradium.issued_tokens
    assert page["token"]["fingerprint"] == hashlib.sha256(token.encode()).hexdigest()[:16]  # the audit's
    assert page["token"]["expiresAt"].endswith("Z")
    # The default daily cap of 200: the token and the request Gradium answered 429 (it reached Gradium).
    assert page["quota"]["leftToday"] == "198"
    assert (ARTIFACTS / "browser-demo.png").stat().st_size > 10_000


def test_the_demo_shows_the_answer_when_the_quota_runs_out(demo) -> None:
    origin, use = demo
    with local_api({"AllowedOrigin": origin, "TokensPerUserPerDay": "1"}) as api:
        use(api)
        gradium = api.stack.standin
        assert gradium is not None
        speech = SpeechStandIn(gradium.issued_tokens).start()
        try:
            spoke = open_demo(api, origin, speech, "browser-demo-first-token")
            refused = open_demo(api, origin, speech, "browser-demo-quota-spent")
        finally:
            speech.stop()
    assert spoke["status"]["state"] == "done" and spoke["quota"]["leftToday"] == "0"
    assert refused["status"]["state"] == "failed" and refused["status"]["error"] == "RateLimited"
    # The daily cap's wait, as a person reads it: a time of day and how long until then, not seconds.
    wait = r"until 00:00 UTC, in (\d+ h )?\d+ min"
    assert any(re.fullmatch(f"the broker answered 429: no more tokens {wait}", e) for e in refused["events"])
    assert re.fullmatch(f"No more tokens for now: try again {wait}\\.", refused["status"]["text"])
    assert refused["quota"]["leftToday"] == "0" and len(gradium.issued_tokens) == 1


def test_a_page_on_another_origin_gets_no_token(demo) -> None:
    """CORS is real here: with the API allowing another origin, the browser withholds the answers. Since
    the local Cognito endpoint answers the app's origin only too, such a page cannot even sign in: it
    fails at its first cross-origin call, and no token is minted at all."""
    with local_api({"AllowedOrigin": "https://app.example.com"}) as api:
        gradium = api.stack.standin
        assert gradium is not None
        speech = SpeechStandIn(gradium.issued_tokens).start()
        try:
            page = open_demo(api, demo[0], speech, "browser-demo-wrong-origin")
        finally:
            speech.stop()
    assert page["status"]["state"] == "failed", page
    assert page["status"]["error"] == "TypeError"  # fetch's answer to a refused cross-origin call
    assert "signed in" not in page["events"]
    assert gradium.issued_tokens == [] and speech.used_tokens == set()  # no token was even minted


def test_make_demo_prints_its_page_serves_it_and_stops_on_ctrl_c() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo_process = subprocess.Popen(
        [sys.executable, "-m", "local.demo", "--port", str(port)],
        cwd=HERE.parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines: list[str] = []
        assert demo_process.stdout is not None
        for line in demo_process.stdout:
            lines.append(line)
            if line.startswith("The demo: "):
                break
        url = lines[-1].removeprefix("The demo: ").strip()
        assert url.startswith(f"http://127.0.0.1:{port}/demo/index.html?token_url="), lines
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b"Sign in and speak" in page.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/quota", timeout=10) as quota:
            assert json.loads(quota.read())["left_today"] == 200
    finally:
        os.killpg(demo_process.pid, signal.SIGINT)
        output, _ = demo_process.communicate(timeout=30)
    assert demo_process.returncode == 0 and "Stopped." in output
