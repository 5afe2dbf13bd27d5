"""Each row of `make chaos`, measured on the built function and asserted (a shorter soak)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.services import local_services
from tests.chaos.chaos import Chaos, FaultProxy


@pytest.fixture(scope="module")
def chaos() -> Iterator[Chaos]:
    with local_services() as stack, FaultProxy(stack.moto_url) as proxy:
        yield Chaos(stack, proxy)


def show(row: dict[str, Any]) -> None:
    print("\n" + ", ".join(f"{k} {v}" for k, v in row.items()))


@pytest.mark.parametrize("fault", ["error", "hang"])
def test_a_secrets_manager_outage_is_served_from_the_last_good_key(chaos: Chaos, fault: str) -> None:
    row = chaos.secrets_manager_fails_past_the_ttl(fault)
    show(row)
    assert row["answered_200"] == row["requests"]
    assert row["secrets_manager_calls"] <= 2  # one refresh (two SDK attempts), then the back-off
    assert row["p50_ms"] < 50  # only the one refresh waits on the outage


def test_a_revoked_key_costs_one_forced_refresh_not_one_per_request(chaos: Chaos) -> None:
    row = chaos.revoked_key()
    show(row)
    assert row["answered_502"] == row["requests"]
    assert row["secrets_manager_calls"] == 2  # the first read and one forced refresh (was 21)
    assert row["gradium_calls"] == 1


def test_a_gradium_outage_opens_the_circuit_and_it_closes_on_recovery(chaos: Chaos) -> None:
    row = chaos.gradium_down_then_back(cooldown=1.0)
    show(row)
    assert row["requests_until_open"] == 5
    assert row["open_answers_503"] == 10
    assert row["gradium_calls_while_open"] == 0
    assert row["open_p50_ms"] < row["failing_p50_ms"] / 5
    assert row["requests_until_recovery"] == 1


@pytest.mark.parametrize(("fail_open", "status"), [(False, 503), (True, 200)])
def test_a_hanging_quota_table_is_bounded(chaos: Chaos, fail_open: bool, status: int) -> None:
    row = chaos.dynamodb_down(fail_open)
    show(row)
    assert row["statuses"] == [status]
    assert row["p50_ms"] < 3000  # two SDK attempts of 0.5 s + 0.5 s, far from the 25 s function timeout


def test_warm_calls_do_not_drift(chaos: Chaos) -> None:
    row = chaos.soak(1000)
    show(row)
    assert row["answered_200"] == row["requests"]
    assert row["rss_growth_mb"] < 5
    assert row["late_p99_ms"] < max(3 * row["early_p99_ms"], row["early_p99_ms"] + 10)
