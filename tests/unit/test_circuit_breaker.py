"""CircuitBreaker: opens after consecutive failures, answers 503 with Retry-After, probes, closes."""

from __future__ import annotations

import pytest

from broker.circuit_breaker import CircuitBreaker
from broker.errors import UpstreamUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, opened: list[int]) -> CircuitBreaker:
    return CircuitBreaker(3, 10, on_open=lambda: opened.append(1), clock=clock)


def test_it_opens_after_consecutive_failures_only() -> None:
    clock, opened = Clock(), []
    circuit = breaker(clock, opened)
    circuit.record_failure()
    circuit.record_failure()
    circuit.record_success()  # not consecutive
    circuit.record_failure()
    circuit.record_failure()
    circuit.before_call()
    assert opened == []
    circuit.record_failure()
    assert opened == [1]
    with pytest.raises(UpstreamUnavailable) as refused:
        circuit.before_call()
    assert (refused.value.status, refused.value.headers()) == (503, {"Retry-After": "10"})
    assert refused.value.public_message == "Gradium token service is unavailable"


def test_after_the_cool_down_one_probe_decides() -> None:
    clock, opened = Clock(), []
    circuit = breaker(clock, opened)
    for _ in range(3):
        circuit.record_failure()
    clock.now += 7.2
    with pytest.raises(UpstreamUnavailable) as refused:
        circuit.before_call()
    assert refused.value.retry_after == 3  # rounded up
    clock.now += 3
    circuit.before_call()  # the probe goes through
    circuit.record_failure()  # and fails: open again at once, for a whole cool-down
    assert opened == [1, 1]
    with pytest.raises(UpstreamUnavailable):
        circuit.before_call()
    clock.now += 10
    circuit.before_call()
    circuit.record_success()  # the probe succeeds: closed
    circuit.before_call()
    circuit.record_failure()
    circuit.before_call()  # one failure after closing does not reopen
