"""clients/typescript/gradium-client.ts, compiled with tsc and run by Node's test runner.

The broker is the local API (`make serve`: the template's endpoint, its Cognito authorizer and the built
function) with real ID tokens from moto's Cognito; Gradium's token endpoint is the local stand-in and its
speech sockets are local/speech_standin.py, which accept only the tokens that stand-in minted. Each test
sets the stand-ins up for one scenario of client.test.mjs and checks what the servers saw.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from local.demo import CLIENT, compile_typescript
from local.gradium_standin import GradiumStandIn, Reply
from local.serve import LocalApi, local_api
from local.speech_standin import SpeechStandIn

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node") or "node"  # Node 20+: its WebSocket global needs --experimental-websocket
REQUIRED_GROUP = "voice-users"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("client")
    compile_typescript(build, CLIENT)
    return build / "gradium-client.js"


@dataclass
class Servers:
    api: LocalApi
    gradium: GradiumStandIn
    speech: SpeechStandIn
    id_token: str


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    # With a required group, so that a user outside it shows the 403 (the local user is in it).
    with local_api({"RequiredGroup": REQUIRED_GROUP}) as running:
        yield running


@pytest.fixture
def servers(api: LocalApi) -> Iterator[Servers]:
    gradium = api.stack.standin
    assert gradium is not None
    gradium.issued_tokens.clear()
    # Each test signs in as a user of its own: the module's scenarios take more tokens than one user's
    # per-minute quota, which would otherwise fail whichever scenario comes last within a minute.
    id_token = api.add_user(f"client-{secrets.token_hex(4)}@example.com", (REQUIRED_GROUP,))
    speech = SpeechStandIn(gradium.issued_tokens).start()  # a token Gradium did not mint opens no session
    try:
        yield Servers(api, gradium, speech, id_token)
    finally:
        speech.stop()


def run_node(compiled: Path, servers: Servers, scenario: str, id_token: str | None = None) -> None:
    env = os.environ | {
        "CLIENT_MODULE": compiled.as_uri(),
        "TOKEN_URL": servers.api.token_url,
        "SPEECH_URL": servers.speech.base_url,
        "ID_TOKEN": id_token or servers.id_token,
    }
    result = subprocess.run(
        [
            NODE,
            "--experimental-websocket",
            "--test",
            f"--test-name-pattern=^{scenario}:",
            HERE / "client.test.mjs",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 1" in result.stdout, result.stdout


def test_speak(compiled: Path, servers: Servers) -> None:
    run_node(compiled, servers, "speak")
    assert len(servers.gradium.issued_tokens) == 1
    assert servers.speech.used_tokens == set(servers.gradium.issued_tokens)


def test_a_refused_token_is_replaced_by_a_fresh_one(compiled: Path, servers: Servers) -> None:
    # The first token is one the socket refuses, as a used or expired one.
    servers.gradium.queue(Reply(200, {"token": "gtk_already_used", "expires_at": "2026-11-25T12:00:00Z"}))
    run_node(compiled, servers, "reconnect")
    assert len(servers.gradium.issued_tokens) == 1
    assert servers.speech.used_tokens == set(servers.gradium.issued_tokens)


def test_a_throttled_client_waits_for_retry_after(compiled: Path, servers: Servers) -> None:
    servers.gradium.queue(Reply(429, b"slow down", {"Retry-After": "2"}))  # passed on by the broker
    run_node(compiled, servers, "throttled")
    assert len(servers.gradium.issued_tokens) == 1


def test_a_long_retry_after_is_handed_to_the_app(compiled: Path, servers: Servers) -> None:
    servers.gradium.queue(Reply(429, b"slow down", {"Retry-After": "600"}))
    run_node(compiled, servers, "long wait")
    assert servers.gradium.issued_tokens == []


def test_a_broker_502_is_not_retried(compiled: Path, servers: Servers) -> None:
    # The broker tries Gradium three times per request: three 503s make one 502 for the client, which
    # counted against the user's quota; the client hands it to the app instead of spending another.
    servers.gradium.queue(*[Reply(503, b"down")] * 3)
    before = len(servers.gradium.requests)
    run_node(compiled, servers, "server error")
    assert len(servers.gradium.requests) - before == 3 and servers.gradium.issued_tokens == []


def test_an_open_circuits_503_is_waited_out(compiled: Path) -> None:
    """A broker whose breaker opened on one failure answers 503 with Retry-After (counting nothing); the
    client waits that long and gets its token from the probe."""
    overrides = {"GradiumBreakerFailures": "1", "GradiumBreakerCooldownSeconds": "2"}
    with local_api({"RequiredGroup": REQUIRED_GROUP} | overrides) as api:
        gradium = api.stack.standin
        assert gradium is not None
        id_token = api.add_user(f"client-{secrets.token_hex(4)}@example.com", (REQUIRED_GROUP,))
        gradium.queue(*[Reply(503, b"down")] * 3)
        opened = urllib.request.Request(api.token_url, method="POST", headers={"Authorization": id_token})
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(opened, timeout=30)
        assert failed.value.code == 502  # the breaker is open now, for 2 s
        speech = SpeechStandIn(gradium.issued_tokens).start()
        try:
            run_node(compiled, Servers(api, gradium, speech, id_token), "unavailable")
        finally:
            speech.stop()
        assert len(gradium.issued_tokens) == 1 and len(gradium.requests) == 4  # 3 failed, 1 probe


def test_no_token_for_a_signed_out_user(compiled: Path, servers: Servers) -> None:
    run_node(compiled, servers, "signed out")
    run_node(compiled, servers, "refused sign-in")
    assert servers.gradium.issued_tokens == []


def test_a_user_outside_the_required_group_is_not_allowed(compiled: Path, servers: Servers) -> None:
    outsider = servers.api.add_user("outsider@example.com", ("beta",))
    run_node(compiled, servers, "not allowed", id_token=outsider)
    assert servers.gradium.issued_tokens == []


def test_a_drop_mid_stream_is_not_spoken_twice(compiled: Path, servers: Servers) -> None:
    servers.speech.misbehave("drop_after_audio")
    run_node(compiled, servers, "mid-stream")
    assert len(servers.gradium.issued_tokens) == 1  # no second session


def test_a_session_that_never_gets_ready_times_out(compiled: Path, servers: Servers) -> None:
    servers.speech.misbehave("no_ready")
    run_node(compiled, servers, "no ready")


def test_a_gradium_error_is_reported_with_its_message(compiled: Path, servers: Servers) -> None:
    servers.speech.misbehave("error_1011")
    run_node(compiled, servers, "gradium error")
    assert len(servers.gradium.issued_tokens) == 1  # not retried


def test_asr(compiled: Path, servers: Servers) -> None:
    run_node(compiled, servers, "asr")
    assert servers.speech.received_audio_bytes == 25 * 3200
    assert servers.speech.used_tokens == set(servers.gradium.issued_tokens)


def test_pcm_conversions(compiled: Path, servers: Servers) -> None:
    run_node(compiled, servers, "pcm")


def test_prefetch_takes_each_token_once_and_keeps_one_ahead(compiled: Path, servers: Servers) -> None:
    run_node(compiled, servers, "prefetch ahead")
    issued = servers.gradium.issued_tokens
    assert len(issued) == 3  # one warmed, then one after each take: never more than one ahead
    assert servers.speech.used_tokens == set(issued[:2])  # each used once, in order; the third unused


def test_prefetch_discards_a_token_close_to_its_expiry(compiled: Path, servers: Servers) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    servers.gradium.queue(Reply(200, {"token": "gtk_expiring_soon", "expires_at": soon}))
    run_node(compiled, servers, "prefetch expiry")
    assert "gtk_expiring_soon" not in servers.speech.used_tokens
    assert len(servers.speech.used_tokens) == 1


def test_prefetch_spends_nothing_while_rate_limited(compiled: Path, servers: Servers) -> None:
    servers.gradium.queue(Reply(429, b"slow down", {"Retry-After": "600"}))
    before = len(servers.gradium.requests)
    run_node(compiled, servers, "prefetch quiet")
    assert len(servers.gradium.requests) - before == 1 and servers.gradium.issued_tokens == []


def test_the_guides_behaviour_table_names_tests_that_exist() -> None:
    """docs/clients.md maps each behaviour of the Swift and Kotlin clients to the test proving it here."""
    guide = (HERE.parents[1] / "docs" / "clients.md").read_text()
    table = [line for line in guide.splitlines() if line.startswith("| ") and "`test_" in line]
    named = {name for line in table for name in re.findall(r"`(test_\w+?)(?:\.py)?`", line)}
    assert len(table) >= 10 and len(named) >= 10
    sources = "\n".join(path.read_text() for path in HERE.glob("test_*.py"))
    for name in named:
        assert f"def {name}(" in sources or (HERE / f"{name}.py").exists(), name
