"""TokenBroker: the key from Secrets Manager (moto) exchanged at the stand-in, and key rotation."""

from __future__ import annotations

import time

import pytest

from local.gradium_standin import GradiumStandIn, Reply
from local.stack import STANDIN_API_KEY
from tests.unit.conftest import NAME, CountingSecrets

from errors import ApiKeyUnavailable, UpstreamRejectedKey, UpstreamTimeout
from gradium_client import GradiumClient
from token_broker import TokenBroker


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
