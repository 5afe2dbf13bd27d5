"""TokenBroker: the key from Secrets Manager (moto) exchanged at the stand-in, and key rotation."""

from __future__ import annotations

import time

import pytest

from broker.circuit_breaker import CircuitBreaker
from broker.errors import (
    ApiKeyUnavailable,
    UpstreamError,
    UpstreamRejectedKey,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from broker.gradium_client import GradiumClient
from broker.token_broker import REJECTED_KEY_COOLDOWN_SECONDS, TokenBroker
from local.gradium_standin import GradiumStandIn, Reply
from local.services import STANDIN_API_KEY
from tests.unit.conftest import NAME, CountingSecrets


def broker(secrets: CountingSecrets, standin: GradiumStandIn, timeout: float = 5) -> TokenBroker:
    return TokenBroker(secrets.source(), GradiumClient(standin.token_url), timeout)


def test_issues_a_fresh_token_on_every_call(secrets: CountingSecrets, standin: GradiumStandIn) -> None:
    secrets.client.create_secret(Name=NAME, SecretString=STANDIN_API_KEY)
    token_broker = broker(secrets, standin)
    issued = [token_broker.issue() for _ in range(3)]
    assert [i.minted.token for i in issued] == standin.issued_tokens
    assert len(set(standin.issued_tokens)) == 3
    assert all(i.upstream_ms > 0 and not i.key_refreshed for i in issued)
    assert secrets.reads == 1


def test_a_rotated_key_works_at_once(secrets: CountingSecrets, standin: GradiumStandIn) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_old")
    standin.api_keys = {"gd_old"}
    token_broker = broker(secrets, standin)
    token_broker.issue()  # caches gd_old

    secrets.client.put_secret_value(SecretId=NAME, SecretString="gd_new")
    standin.api_keys = {"gd_new"}  # Gradium revoked the old key
    issued = token_broker.issue()

    assert issued.key_refreshed
    assert [r.headers["x-api-key"] for r in standin.requests] == ["gd_old", "gd_old", "gd_new"]
    assert secrets.reads == 2
    token_broker.issue()
    assert secrets.reads == 2  # the new key is cached again


def test_a_refused_key_that_did_not_change_is_not_retried(
    secrets: CountingSecrets, standin: GradiumStandIn
) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_revoked")
    with pytest.raises(UpstreamRejectedKey) as refused:
        broker(secrets, standin).issue()
    assert refused.value.status == 502
    assert len(standin.requests) == 1
    assert secrets.reads == 2


def test_only_one_refresh_per_request(secrets: CountingSecrets, standin: GradiumStandIn) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_old")
    standin.api_keys = {"gd_old"}
    token_broker = broker(secrets, standin)
    token_broker.issue()
    secrets.client.put_secret_value(SecretId=NAME, SecretString="gd_also_wrong")
    standin.api_keys = {"gd_elsewhere"}
    with pytest.raises(UpstreamRejectedKey):
        token_broker.issue()
    assert len(standin.requests) == 3


def test_no_upstream_call_without_a_key(secrets: CountingSecrets, standin: GradiumStandIn) -> None:
    with pytest.raises(ApiKeyUnavailable):
        broker(secrets, standin).issue()
    assert standin.requests == []


def test_the_retry_after_a_refresh_shares_the_budget(
    secrets: CountingSecrets, standin: GradiumStandIn
) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_old")
    standin.api_keys = {"gd_old"}
    token_broker = broker(secrets, standin, timeout=0.6)
    token_broker.issue()
    secrets.client.put_secret_value(SecretId=NAME, SecretString="gd_new")
    standin.queue(Reply(401, b"revoked", delay=0.4), Reply(200, {"token": "t", "expires_at": "x"}, delay=0.4))
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        token_broker.issue()
    assert time.monotonic() - started < 1.5  # 0.6 s budget; two 0.4 s replies plus a refresh


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_confirmed_revoked_key_fails_fast_for_the_cool_down(
    secrets: CountingSecrets, standin: GradiumStandIn
) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_revoked")
    clock = Clock()
    token_broker = TokenBroker(secrets.source(), GradiumClient(standin.token_url), 5, clock=clock)
    for _ in range(21):
        with pytest.raises(UpstreamRejectedKey) as refused:
            token_broker.issue()
        assert refused.value.status == 502
    assert secrets.reads == 2  # the first read and one forced refresh, not one per request
    assert len(standin.requests) == 1
    clock.now += REJECTED_KEY_COOLDOWN_SECONDS
    secrets.client.put_secret_value(SecretId=NAME, SecretString=STANDIN_API_KEY)  # rotated at last
    assert token_broker.issue().key_refreshed  # after the cool-down, a refresh finds the new key
    assert secrets.reads == 3


def test_the_breaker_opens_on_failures_and_spares_gradium(
    secrets: CountingSecrets, standin: GradiumStandIn
) -> None:
    secrets.client.create_secret(Name=NAME, SecretString=STANDIN_API_KEY)
    clock, opened = Clock(), []
    circuit = CircuitBreaker(2, 10, on_open=lambda: opened.append(1), clock=clock)
    token_broker = TokenBroker(secrets.source(), GradiumClient(standin.token_url), 5, circuit)
    standin.queue(*[Reply(503, b"down")] * 6)  # two requests of three attempts each
    for _ in range(2):
        with pytest.raises(UpstreamError):
            token_broker.issue()
    assert opened == [1] and len(standin.requests) == 6
    with pytest.raises(UpstreamUnavailable):
        token_broker.issue()
    assert len(standin.requests) == 6  # Gradium was not called
    clock.now += 10
    assert token_broker.issue().minted.token  # the probe succeeds and closes the circuit
    assert token_broker.issue().minted.token


def test_a_rejected_key_does_not_trip_the_breaker(secrets: CountingSecrets, standin: GradiumStandIn) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_revoked")
    clock, opened = Clock(), []
    circuit = CircuitBreaker(1, 10, on_open=lambda: opened.append(1), clock=clock)
    token_broker = TokenBroker(secrets.source(), GradiumClient(standin.token_url), 5, circuit, clock=clock)
    with pytest.raises(UpstreamRejectedKey):
        token_broker.issue()
    assert opened == []


def test_a_revoked_key_while_secrets_manager_fails_is_read_once_and_alarmed(
    secrets: CountingSecrets, standin: GradiumStandIn
) -> None:
    """The review's reproduction: 20 requests once made 40 GetSecretValue calls, each waited on the
    failing read, and SecretRefreshFailures never fired. Now: one forced read, then the cool-down."""
    secrets.client.create_secret(Name=NAME, SecretString="gd_revoked")
    clock, failures = Clock(), []
    source = secrets.source(clock=clock, on_failure=failures.append)
    token_broker = TokenBroker(source, GradiumClient(standin.token_url), 5, clock=clock)
    source.get()  # the key was good when it was cached
    secrets.client.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)  # Secrets Manager fails
    refused = []
    for _ in range(20):
        with pytest.raises((ApiKeyUnavailable, UpstreamRejectedKey)) as failure:
            token_broker.issue()
        refused.append(type(failure.value).__name__)
    assert refused == ["ApiKeyUnavailable"] + ["UpstreamRejectedKey"] * 19
    assert secrets.reads == 2  # the first read, then one forced re-read
    assert len(failures) == 1 and "ResourceNotFoundException" in failures[0]
    assert len(standin.requests) == 1


def test_a_malformed_rotation_is_read_once_per_back_off(
    secrets: CountingSecrets, standin: GradiumStandIn
) -> None:
    secrets.client.create_secret(Name=NAME, SecretString="gd_revoked")
    clock, failures = Clock(), []
    source = secrets.source(clock=clock, on_failure=failures.append)
    token_broker = TokenBroker(source, GradiumClient(standin.token_url), 5, clock=clock)
    source.get()
    secrets.client.put_secret_value(SecretId=NAME, SecretString="gd_pasted\nwith a newline")
    for _ in range(20):
        with pytest.raises((ApiKeyUnavailable, UpstreamRejectedKey)):
            token_broker.issue()
    assert secrets.reads == 2 and len(failures) == 1 and "malformed" in failures[0]
    clock.now += REJECTED_KEY_COOLDOWN_SECONDS  # past both the cool-down and the first back-off
    with pytest.raises(ApiKeyUnavailable):
        token_broker.issue()
    assert secrets.reads == 3 and len(failures) == 2
