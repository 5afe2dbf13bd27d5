"""Issuing a token: the API key from the secret, exchanged at Gradium, with one refresh on a rotated key."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from broker.api_key import ApiKeySource
from broker.circuit_breaker import CircuitBreaker
from broker.errors import ApiKeyUnavailable, UpstreamError, UpstreamRejectedKey
from broker.gradium_client import GradiumClient, MintedToken

# After Gradium refused a key that a forced re-read of the secret confirmed, requests fail at once for
# this long instead of each re-reading the secret (a paid call, and throttled under load).
REJECTED_KEY_COOLDOWN_SECONDS = 30.0


@dataclass(frozen=True)
class IssuedToken:
    """A minted token and how long Gradium took to mint it (retries and refresh included)."""

    minted: MintedToken
    upstream_ms: float
    key_refreshed: bool


class TokenBroker:
    """Exchanges the server's Gradium API key for single-use tokens."""

    def __init__(
        self,
        api_key: ApiKeySource,
        gradium: GradiumClient,
        timeout_seconds: float,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api_key = api_key
        self._gradium = gradium
        self._timeout_seconds = timeout_seconds
        self._breaker = breaker
        self._clock = clock
        self._rejected_key: str | None = None
        self._rejected_until = 0.0

    def issue(self, admit: Callable[[], None] = lambda: None) -> IssuedToken:
        """Mint one fresh token; never cached, never reused.

        `admit()` runs once Gradium is sure to be called: the key is at hand, the circuit breaker is
        not open and the key is not in its rejected-key cool-down. The per-user quota goes there, and
        is checked before it is counted rather than given back afterwards: an answer decided without
        calling Gradium (the breaker's 503, the cool-down's 502, a missing key) spends nothing, at no
        extra write. An exchange that did reach Gradium counts, whatever Gradium answered.

        If Gradium rejects the cached key, the secret is read again, bypassing the cache, and the
        call is retried once with the new key, so a rotated key works at once. If the secret still
        holds the rejected key, or cannot be read, requests fail at once for
        REJECTED_KEY_COOLDOWN_SECONDS. The whole exchange, retry included, stays within one time budget.
        """
        key = self._api_key.get()
        if key == self._rejected_key and self._clock() < self._rejected_until:
            raise UpstreamRejectedKey(None)
        if self._breaker is not None:
            self._breaker.before_call()  # raises UpstreamUnavailable while the circuit is open
        admit()
        started = time.monotonic()
        deadline = started + self._timeout_seconds
        refreshed = False
        try:
            minted = self._mint(key, deadline)
        except UpstreamRejectedKey:
            try:
                fresh_key = self._api_key.get(refresh=True)
            except ApiKeyUnavailable:  # the secret cannot be read now: its back-off decides when again
                self._reject(key)
                raise
            if fresh_key == key:  # the current key itself is refused: retrying cannot help
                self._reject(key)
                raise
            refreshed = True
            minted = self._mint(fresh_key, deadline)
        self._rejected_key = None
        return IssuedToken(minted, (time.monotonic() - started) * 1000, refreshed)

    def _reject(self, key: str) -> None:
        self._rejected_key, self._rejected_until = key, self._clock() + REJECTED_KEY_COOLDOWN_SECONDS

    def _mint(self, key: str, deadline: float) -> MintedToken:
        if self._breaker is None:
            return self._gradium.mint_token(key, deadline)
        try:
            minted = self._gradium.mint_token(key, deadline)
        except UpstreamRejectedKey:
            self._breaker.record_success()  # Gradium is up: it judged the key
            raise
        except UpstreamError:
            self._breaker.record_failure()
            raise
        self._breaker.record_success()
        return minted
