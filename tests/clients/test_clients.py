"""The clients against `make serve`: clients/typescript (compiled with tsc, run by Node's test runner),
clients/kotlin (compiled with kotlinc, run under JUnit) and clients/swift (built with SwiftPM, run under
XCTest), each through the same scenarios.

The broker is the local API (`make serve`: the template's endpoint, its Cognito authorizer and the built
function) with real ID tokens from moto's Cognito; Gradium's token endpoint is the local stand-in and its
speech sockets are local/speech_standin.py, which accept only the tokens that stand-in minted. Each test
sets the stand-ins up for one scenario and checks what the servers saw; tests/clients/runners.py runs the
scenario in each language.
"""

from __future__ import annotations

import re
import secrets
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from local.gradium_standin import Reply
from local.serve import local_api
from local.speech_standin import SpeechStandIn
from tests.clients.conftest import REQUIRED_GROUP
from tests.clients.runners import HERE, KotlinClient, Servers, SwiftClient, TypeScriptClient, run_program

Client = TypeScriptClient | KotlinClient | SwiftClient


def test_speak(client: Client, servers: Servers) -> None:
    client.run(servers, "speak")
    assert len(servers.gradium.issued_tokens) == 1
    assert servers.speech.used_tokens == set(servers.gradium.issued_tokens)


def test_a_refused_token_is_replaced_by_a_fresh_one(client: Client, servers: Servers) -> None:
    # The first token is one the socket refuses, as a used or expired one.
    servers.gradium.queue(Reply(200, {"token": "gtk_already_used", "expires_at": "2026-11-25T12:00:00Z"}))
    client.run(servers, "reconnect")
    assert len(servers.gradium.issued_tokens) == 1
    assert servers.speech.used_tokens == set(servers.gradium.issued_tokens)


def test_a_throttled_client_waits_for_retry_after(client: Client, servers: Servers) -> None:
    servers.gradium.queue(Reply(429, b"slow down", {"Retry-After": "2"}))  # passed on by the broker
    client.run(servers, "throttled")
    assert len(servers.gradium.issued_tokens) == 1


def test_a_long_retry_after_is_handed_to_the_app(client: Client, servers: Servers) -> None:
    servers.gradium.queue(Reply(429, b"slow down", {"Retry-After": "600"}))
    client.run(servers, "long wait")
    assert servers.gradium.issued_tokens == []


def test_a_broker_502_is_not_retried(client: Client, servers: Servers) -> None:
    # The broker tries Gradium three times per request: three 503s make one 502 for the client, which
    # counted against the user's quota; the client hands it to the app instead of spending another.
    servers.gradium.queue(*[Reply(503, b"down")] * 3)
    before = len(servers.gradium.requests)
    client.run(servers, "server error")
    assert len(servers.gradium.requests) - before == 3 and servers.gradium.issued_tokens == []


def test_an_open_circuits_503_is_waited_out(client: Client) -> None:
    """A broker whose breaker opened on one failure answers 503 with Retry-After (counting nothing); the
    client waits that long and gets its token from the probe."""
    overrides = {"GradiumBreakerFailures": "1", "GradiumBreakerCooldownSeconds": "2"}
    with local_api({"RequiredGroup": REQUIRED_GROUP} | overrides) as api:
        gradium = api.stack.standin
        assert gradium is not None
        username = f"client-{secrets.token_hex(4)}@example.com"
        id_token = api.add_user(username, (REQUIRED_GROUP,))
        gradium.queue(*[Reply(503, b"down")] * 3)
        opened = urllib.request.Request(api.token_url, method="POST", headers={"Authorization": id_token})
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(opened, timeout=30)
        assert failed.value.code == 502  # the breaker is open now, for 2 s
        speech = SpeechStandIn(gradium.issued_tokens).start()
        try:
            client.run(Servers(api, gradium, speech, username), "unavailable")
        finally:
            speech.stop()
        assert len(gradium.issued_tokens) == 1 and len(gradium.requests) == 4  # 3 failed, 1 probe


def test_no_token_for_a_signed_out_user(client: Client, servers: Servers) -> None:
    client.run(servers, "signed out")
    client.run(servers, "refused sign-in")
    assert servers.gradium.issued_tokens == []


def test_a_user_outside_the_required_group_is_not_allowed(client: Client, servers: Servers) -> None:
    outsider = f"outsider-{secrets.token_hex(4)}@example.com"
    servers.api.add_user(outsider, ("beta",))
    client.run(servers, "not allowed", username=outsider)
    assert servers.gradium.issued_tokens == []


def test_a_drop_mid_stream_is_not_spoken_twice(client: Client, servers: Servers) -> None:
    servers.speech.misbehave("drop_after_audio")
    client.run(servers, "mid-stream")
    assert len(servers.gradium.issued_tokens) == 1  # no second session


def test_a_session_that_never_gets_ready_times_out(client: Client, servers: Servers) -> None:
    servers.speech.misbehave("no_ready")
    client.run(servers, "no ready")


def test_a_gradium_error_is_reported_with_its_message(client: Client, servers: Servers) -> None:
    servers.speech.misbehave("error_1011")
    client.run(servers, "gradium error")
    assert len(servers.gradium.issued_tokens) == 1  # not retried


def test_asr(client: Client, servers: Servers) -> None:
    client.run(servers, "asr")
    assert servers.speech.received_audio_bytes == 25 * 3200
    assert servers.speech.used_tokens == set(servers.gradium.issued_tokens)


def test_pcm_conversions(typescript_client: TypeScriptClient, servers: Servers) -> None:
    """For Web Audio's float samples; Android's AudioTrack and AudioRecord take the 16-bit PCM as it is."""
    typescript_client.run(servers, "pcm")


def test_prefetch_takes_each_token_once_and_keeps_one_ahead(client: Client, servers: Servers) -> None:
    client.run(servers, "prefetch ahead")
    issued = servers.gradium.issued_tokens
    assert len(issued) == 3  # one warmed, then one after each take: never more than one ahead
    assert servers.speech.used_tokens == set(issued[:2])  # each used once, in order; the third unused


def test_prefetch_discards_a_token_close_to_its_expiry(client: Client, servers: Servers) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    servers.gradium.queue(Reply(200, {"token": "gtk_expiring_soon", "expires_at": soon}))
    client.run(servers, "prefetch expiry")
    assert "gtk_expiring_soon" not in servers.speech.used_tokens
    assert len(servers.speech.used_tokens) == 1


def test_prefetch_spends_nothing_while_rate_limited(client: Client, servers: Servers) -> None:
    servers.gradium.queue(Reply(429, b"slow down", {"Retry-After": "600"}))
    before = len(servers.gradium.requests)
    client.run(servers, "prefetch quiet")
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


def test_the_kotlin_clients_unit_tests(kotlin_client: KotlinClient) -> None:
    """clients/kotlin's serverless tests: Retry-After, the token answer, what is printed, a session."""
    command = kotlin_client.command("org.junit.runner.JUnitCore", "gradium.broker.ClientUnitTest")
    run_program(command, r"^OK \(\d+ tests\)$")


def test_the_swift_clients_unit_tests(swift_client: SwiftClient) -> None:
    """clients/swift's serverless tests: Retry-After, the token answer, what print and dump show."""
    run_program(swift_client.command("ClientUnitTests"), r"Executed [1-9]\d* tests?, with 0 failures")
