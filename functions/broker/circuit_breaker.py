"""A circuit breaker on Gradium, per execution environment.

After `failures` consecutive failed exchanges the circuit opens: requests are answered at once with a
503 and Retry-After instead of each paying the whole retry dance against a service that is down. After
the cool-down one request goes through as a probe; its success closes the circuit, its failure opens it
again. A Lambda environment serves one request at a time, so no locking is needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from broker.errors import UpstreamUnavailable


class CircuitBreaker:
    """Counts consecutive failures of the calls it guards; `on_open()` hears of each opening."""

    def __init__(
        self,
        failures: int,
        cooldown_seconds: float,
        on_open: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failures
        self._cooldown_seconds = cooldown_seconds
        self._on_open = on_open
        self._clock = clock
        self._consecutive_failures = 0
        self._open_until: float | None = None  # set while open; a probe is due once it has passed

    def before_call(self) -> None:
        """Raise UpstreamUnavailable while the circuit is open and its cool-down runs."""
        if self._open_until is None:
            return
        remaining = self._open_until - self._clock()
        if remaining > 0:
            raise UpstreamUnavailable(retry_after=max(1, math.ceil(remaining)))
        # The cool-down is over: this call is the probe. Another failure reopens at once.
        self._consecutive_failures = max(self._consecutive_failures, self._threshold - 1)

    def record_success(self) -> None:
        """Gradium answered (with a token, or a judgement of the key): the circuit closes."""
        self._consecutive_failures = 0
        self._open_until = None

    def record_failure(self) -> None:
        """Gradium failed (5xx, 429, a timeout, no connection, a bad answer)."""
        self._consecutive_failures += 1
        if self._consecutive_failures >= self._threshold:
            self._open_until = self._clock() + self._cooldown_seconds
            self._on_open()
