"""TokenQuota with real boto3 against moto DynamoDB: both limits, windows, isolation, item size, races."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from broker.errors import DailyQuotaExceeded, QuotaExceeded, QuotaUnavailable, ServiceDailyLimitReached
from broker.quota import (
    CEILING_KEY,
    DAY_SECONDS,
    DYNAMODB_CONFIG,
    MINUTE_SECONDS,
    STALE_MINUTES_REMOVED,
    TokenQuota,
)
from local.services import create_quota_table, moto_server

TABLE = "token-quota"
MIDNIGHT = 1_800_057_600  # a UTC midnight: 2027-01-15T00:00:00Z
SUB = "3f2c9a4e-8d1b-4c7a-9e5f-0a1b2c3d4e5f"  # a Cognito sub is a UUID


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


def the_item(dynamodb: Any, sub: str, now: float) -> dict[str, Any]:
    return dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"{sub}#{int(now) // DAY_SECONDS}"}})["Item"]


def test_allows_the_minute_limit_then_refuses_with_the_seconds_to_the_next_minute(dynamodb: Any) -> None:
    clock = Clock(MIDNIGHT + 600 + 15.2)  # 15.2 s into a minute
    quota = TokenQuota(TABLE, 3, 0, dynamodb, clock)
    for _ in range(3):
        quota.consume("user-a")
    with pytest.raises(QuotaExceeded) as refused:
        quota.consume("user-a")
    assert type(refused.value) is QuotaExceeded
    assert refused.value.status == 429
    assert refused.value.headers() == {"Retry-After": "45"}


def test_other_users_are_unaffected(dynamodb: Any) -> None:
    quota = TokenQuota(TABLE, 1, 1, dynamodb, Clock(MIDNIGHT + 3600))
    quota.consume("user-a")
    with pytest.raises(QuotaExceeded):
        quota.consume("user-a")
    quota.consume("user-b")


def test_a_new_minute_starts_a_new_minute_count(dynamodb: Any) -> None:
    clock = Clock(MIDNIGHT + 59.9)
    quota = TokenQuota(TABLE, 1, 0, dynamodb, clock)
    quota.consume("user-a")
    with pytest.raises(QuotaExceeded) as refused:
        quota.consume("user-a")
    assert refused.value.retry_after == 1
    clock.now += 0.2
    quota.consume("user-a")


def test_the_daily_cap_refuses_until_the_next_utc_day(dynamodb: Any) -> None:
    clock = Clock(MIDNIGHT + DAY_SECONDS - 90.5)  # 23:58:29.5
    quota = TokenQuota(TABLE, 0, 2, dynamodb, clock)
    quota.consume("user-a")
    clock.now += 60  # another minute: the daily cap counts across minutes
    quota.consume("user-a")
    with pytest.raises(DailyQuotaExceeded) as refused:
        quota.consume("user-a")
    assert refused.value.status == 429
    assert refused.value.headers() == {"Retry-After": "31"}  # to midnight, rounded up
    assert refused.value.public_message == "Daily token limit reached; retry tomorrow"
    assert refused.value.metric == "DailyQuotaRejections"
    clock.now = MIDNIGHT + DAY_SECONDS  # 00:00:00 of the next day
    quota.consume("user-a")


def test_both_limits_at_once_the_one_that_bites_sets_the_wait(dynamodb: Any) -> None:
    clock = Clock(MIDNIGHT + 7200 + 40)
    quota = TokenQuota(TABLE, 2, 3, dynamodb, clock)
    quota.consume("user-a")
    quota.consume("user-a")
    with pytest.raises(QuotaExceeded) as minute_refusal:
        quota.consume("user-a")
    assert type(minute_refusal.value) is QuotaExceeded  # the minute limit: 20 s to wait, not a day
    assert minute_refusal.value.retry_after == 20
    clock.now += 20
    quota.consume("user-a")  # the third of the day
    with pytest.raises(DailyQuotaExceeded) as day_refusal:
        quota.consume("user-a")  # the minute would allow it; the day does not
    assert day_refusal.value.retry_after == DAY_SECONDS - 7260
    # A refused request is not counted against either limit.
    item = the_item(dynamodb, "user-a", clock.now)
    assert item["tokens"] == {"N": "3"}


def test_one_item_per_user_and_day_with_a_ttl(dynamodb: Any) -> None:
    now = MIDNIGHT + 30
    quota = TokenQuota(TABLE, 5, 10, dynamodb, Clock(now))
    quota.consume("user-a")
    quota.consume("user-a")
    [item] = dynamodb.scan(TableName=TABLE)["Items"]
    assert item["pk"] == {"S": f"user-a#{MIDNIGHT // DAY_SECONDS}"}
    assert item["tokens"] == {"N": "2"}
    assert item["m0"] == {"N": "2"}
    assert item["expires_at"] == {"N": str(MIDNIGHT + DAY_SECONDS + MINUTE_SECONDS)}


def test_recent_minute_counters_are_removed_by_the_next_update(dynamodb: Any) -> None:
    clock = Clock(MIDNIGHT + 600)  # minute 10
    quota = TokenQuota(TABLE, 5, 100, dynamodb, clock)
    quota.consume("user-a")
    clock.now += STALE_MINUTES_REMOVED * MINUTE_SECONDS  # minute 25: minute 10 is within reach
    quota.consume("user-a")
    minutes = {name for name in the_item(dynamodb, "user-a", clock.now) if name.startswith("m")}
    assert minutes == {f"m{10 + STALE_MINUTES_REMOVED}"}


def dynamodb_item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: names plus values; a number takes 1 byte per 2 significant
    digits plus 1 (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        else:
            digits = value["N"].lstrip("-").replace(".", "").strip("0") or "0"
            size += math.ceil(len(digits) / 2) + 1
    return size


def test_the_item_stays_under_one_write_unit_whatever_the_limits(dynamodb: Any) -> None:
    """The worst a day can do: a request every STALE_MINUTES_REMOVED + 1 minutes leaves every counter
    stale. With each counter and the day's count at their largest values, the item is still under 1 KB,
    so every request costs one write request unit, as the per-minute quota alone did."""
    clock = Clock(MIDNIGHT)
    quota = TokenQuota(TABLE, 10_000, 1_000_000, dynamodb, clock)
    while clock.now < MIDNIGHT + DAY_SECONDS:
        quota.consume(SUB)
        clock.now += (STALE_MINUTES_REMOVED + 1) * MINUTE_SECONDS
    item = the_item(dynamodb, SUB, MIDNIGHT)
    counters = [name for name in item if name.startswith("m")]
    assert len(counters) == math.ceil(1440 / (STALE_MINUTES_REMOVED + 1))
    worst = item | {name: {"N": "9999"} for name in counters} | {"tokens": {"N": "999999"}}
    assert dynamodb_item_bytes(worst) < 1024


def test_a_failing_table_is_reported_as_unavailable(dynamodb: Any) -> None:
    quota = TokenQuota("no-such-table", 5, 200, dynamodb)
    with pytest.raises(QuotaUnavailable) as failure:
        quota.consume("user-a")
    assert failure.value.status == 503
    assert "ResourceNotFoundException" in str(failure.value)


def test_an_unreachable_dynamodb_is_reported_as_unavailable() -> None:
    client = boto3.client(
        "dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9", config=DYNAMODB_CONFIG
    )
    with pytest.raises(QuotaUnavailable, match="EndpointConnectionError"):
        TokenQuota(TABLE, 5, 200, client).consume("user-a")


def test_a_quota_needs_a_limit() -> None:
    with pytest.raises(ValueError, match="limit"):
        TokenQuota(TABLE, 0, 0, object())


@pytest.mark.parametrize(
    ("per_minute", "per_day", "refusal"),
    [(5, 0, QuotaExceeded), (0, 5, DailyQuotaExceeded), (5, 5, DailyQuotaExceeded)],
    ids=["minute limit", "daily cap", "both at once"],
)
def test_two_callers_racing_for_the_last_slot_exactly_one_wins(
    per_minute: int, per_day: int, refusal: type[QuotaExceeded]
) -> None:
    """Two threads with their own clients race over HTTP for the last slot; exactly one gets it.

    A quota that read the count and then wrote it back would let both in: both would read 4.
    """
    now = MIDNIGHT + 3600 + 10
    sub = f"user-{uuid.uuid4().hex[:8]}"  # the in-process moto server keeps its tables between tests
    with moto_server(threaded=False) as (url, _):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=url)
        create_quota_table(dynamodb, TABLE)
        clock = Clock(now)
        setup = TokenQuota(TABLE, per_minute, per_day, dynamodb, clock)
        for _ in range(4):
            setup.consume(sub)  # one slot left

        contenders = [
            TokenQuota(
                TABLE,
                per_minute,
                per_day,
                boto3.client("dynamodb", region_name="us-east-1", endpoint_url=url),
                clock,
            )
            for _ in range(2)
        ]
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def race(quota: TokenQuota) -> None:
            start.wait()
            try:
                quota.consume(sub)
                outcomes.append("won")
            except QuotaExceeded as exc:
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=race, args=(q,)) for q in contenders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        item = the_item(dynamodb, sub, now)
    assert sorted(outcomes) == sorted(["won", refusal.__name__])
    assert item["tokens"] == {"N": "5"}


def ceiling_count(dynamodb: Any, now: float) -> int:
    key = {"pk": {"S": f"{CEILING_KEY}#{int(now) // DAY_SECONDS}"}}
    item = dynamodb.get_item(TableName=TABLE, Key=key).get("Item", {})
    return int(item.get("tokens", {}).get("N", "0"))


def test_the_ceiling_counts_all_users_together_and_refuses_everyone_past_it(dynamodb: Any) -> None:
    clock = Clock(MIDNIGHT + 3600 + 0.4)
    quota = TokenQuota(TABLE, 10, 200, dynamodb, clock, ceiling=3)
    for sub in ("user-a", "user-b", "user-a"):
        quota.consume(sub)
    for sub in ("user-a", "user-c"):  # user-c has spent nothing of their own
        with pytest.raises(ServiceDailyLimitReached) as refused:
            quota.consume(sub)
        assert refused.value.status == 429
        assert refused.value.headers() == {"Retry-After": str(math.ceil(DAY_SECONDS - 3600.4))}
        assert "for everyone" in refused.value.public_message
    assert ceiling_count(dynamodb, clock.now) == 3
    # The refused requests were not counted against their users either.
    assert the_item(dynamodb, "user-a", clock.now)["tokens"] == {"N": "2"}
    key = {"pk": {"S": f"user-c#{int(clock.now) // DAY_SECONDS}"}}
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key=key)  # refused before any write


def test_once_refused_the_environment_refuses_the_rest_of_the_day_without_a_write(dynamodb: Any) -> None:
    clock = Clock(MIDNIGHT + 7200)
    quota = TokenQuota(TABLE, 0, 0, dynamodb, clock, ceiling=1)  # the ceiling alone
    quota.consume("user-a")
    with pytest.raises(ServiceDailyLimitReached):
        quota.consume("user-b")
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": f"{CEILING_KEY}#{int(clock.now) // DAY_SECONDS}"}})
    with pytest.raises(ServiceDailyLimitReached):
        quota.consume("user-b")  # remembered: no write could have told it the count is gone
    assert ceiling_count(dynamodb, clock.now) == 0
    clock.now += DAY_SECONDS  # a new UTC day, a new count
    quota.consume("user-b")
    assert ceiling_count(dynamodb, clock.now) == 1


def test_a_user_over_their_own_limit_never_touches_the_ceiling(dynamodb: Any) -> None:
    clock = Clock(MIDNIGHT + 60)
    quota = TokenQuota(TABLE, 1, 0, dynamodb, clock, ceiling=100)
    quota.consume("user-a")
    for _ in range(3):
        with pytest.raises(QuotaExceeded) as refused:
            quota.consume("user-a")
        assert type(refused.value) is QuotaExceeded
    assert ceiling_count(dynamodb, clock.now) == 1


def test_concurrent_requests_never_overshoot_the_ceiling() -> None:
    """Many users at once, over real HTTP to a moto server: exactly the ceiling's worth is admitted."""
    with moto_server(threaded=False) as (url, _):
        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            # One attempt, no read timeout to speak of: this tests the conditional writes' atomicity. With
            # the function's 0.5 s and a retry, 30 requests queued on a one-at-a-time server on a busy
            # machine time out, and a retried write that had been applied counts twice (seen once in
            # `make test`).
            config=DYNAMODB_CONFIG.merge(Config(read_timeout=30, retries={"total_max_attempts": 1})),
        )
        create_quota_table(client, TABLE)
        quota = TokenQuota(TABLE, 0, 5, client, Clock(MIDNIGHT + 5000), ceiling=12)
        outcomes: list[str] = []

        def one(sub: str) -> None:
            try:
                quota.consume(sub)
                outcomes.append("ok")
            except ServiceDailyLimitReached:
                outcomes.append("ceiling")

        threads = [threading.Thread(target=one, args=(f"user-{i % 8}",)) for i in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes.count("ok") == 12 and outcomes.count("ceiling") == 18
