"""TokenQuota with real boto3 against moto DynamoDB: limits, windows, isolation, failures, races."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.stack import create_quota_table, moto_server

from errors import QuotaExceeded, QuotaUnavailable
from quota import DYNAMODB_CONFIG, WINDOW_SECONDS, TokenQuota

TABLE = "token-quota"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_quota_table(client, TABLE)
        yield client


def test_allows_the_limit_then_refuses_with_the_seconds_to_the_next_window(dynamodb: Any) -> None:
    clock = Clock(1_800_000_015.2)  # 15.2 s into a window
    quota = TokenQuota(TABLE, 3, dynamodb, clock)
    for _ in range(3):
        quota.consume("user-a")
    with pytest.raises(QuotaExceeded) as refused:
        quota.consume("user-a")
    assert refused.value.status == 429
    assert refused.value.headers() == {"Retry-After": "45"}


def test_other_users_are_unaffected(dynamodb: Any) -> None:
    quota = TokenQuota(TABLE, 1, dynamodb, Clock(1_800_000_000))
    quota.consume("user-a")
    with pytest.raises(QuotaExceeded):
        quota.consume("user-a")
    quota.consume("user-b")


def test_a_new_window_starts_a_new_count(dynamodb: Any) -> None:
    clock = Clock(1_800_000_059.9)
    quota = TokenQuota(TABLE, 1, dynamodb, clock)
    quota.consume("user-a")
    with pytest.raises(QuotaExceeded) as refused:
        quota.consume("user-a")
    assert refused.value.retry_after == 1
    clock.now += 0.2
    quota.consume("user-a")


def test_one_item_per_user_and_window_with_a_ttl(dynamodb: Any) -> None:
    now = 1_800_000_030
    quota = TokenQuota(TABLE, 5, dynamodb, Clock(now))
    quota.consume("user-a")
    quota.consume("user-a")
    [item] = dynamodb.scan(TableName=TABLE)["Items"]
    window = now // WINDOW_SECONDS
    assert item["pk"] == {"S": f"user-a#{window}"}
    assert item["tokens"] == {"N": "2"}
    assert item["expires_at"] == {"N": str((window + 2) * WINDOW_SECONDS)}


def test_a_failing_table_is_reported_as_unavailable(dynamodb: Any) -> None:
    quota = TokenQuota("no-such-table", 5, dynamodb)
    with pytest.raises(QuotaUnavailable) as failure:
        quota.consume("user-a")
    assert failure.value.status == 503
    assert "ResourceNotFoundException" in str(failure.value)


def test_an_unreachable_dynamodb_is_reported_as_unavailable() -> None:
    client = boto3.client(
        "dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9", config=DYNAMODB_CONFIG
    )
    with pytest.raises(QuotaUnavailable, match="EndpointConnectionError"):
        TokenQuota(TABLE, 5, client).consume("user-a")


def test_two_callers_racing_for_the_last_slot_exactly_one_wins() -> None:
    """Two threads with their own clients race over HTTP for the last slot; exactly one gets it.

    A quota that read the count and then wrote it back would let both in: both would read 4.
    """
    with moto_server(threaded=False) as (url, _):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=url)
        create_quota_table(dynamodb, TABLE)
        clock = Clock(1_800_000_010)
        setup = TokenQuota(TABLE, 5, dynamodb, clock)
        for _ in range(4):
            setup.consume("user-a")  # one slot left

        contenders = [
            TokenQuota(TABLE, 5, boto3.client("dynamodb", region_name="us-east-1", endpoint_url=url), clock)
            for _ in range(2)
        ]
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def race(quota: TokenQuota) -> None:
            start.wait()
            try:
                quota.consume("user-a")
                outcomes.append("won")
            except QuotaExceeded:
                outcomes.append("refused")

        threads = [threading.Thread(target=race, args=(q,)) for q in contenders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"user-a#{1_800_000_010 // 60}"}})
    assert sorted(outcomes) == ["refused", "won"]
    assert item["Item"]["tokens"] == {"N": "5"}
