"""Issuing a token: the API key from the secret, exchanged at Gradium, with one refresh on a rotated key."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from api_key import ApiKeySource
from circuit_breaker import CircuitBreaker
from errors import UpstreamError, UpstreamRejectedKey
from gradium_client import GradiumClient, MintedToken

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

    def issue(self) -> IssuedToken:
        """Mint one fresh token; never cached, never reused.

        If Gradium rejects the cached key, the secret is read again, bypassing the cache, and the
        call is retried once with the new key, so a rotated key works at once. If the secret still
        holds the rejected key, requests fail at once for REJECTED_KEY_COOLDOWN_SECONDS. The whole
        exchange, retry included, stays within one time budget. Raises UpstreamUnavailable without
        calling Gradium while the circuit breaker is open.
        """
        key = self._api_key.get()
        if key == self._rejected_key and self._clock() < self._rejected_until:
            raise UpstreamRejectedKey(None)
        started = time.monotonic()
        deadline = started + self._timeout_seconds
        refreshed = False
        try:
            minted = self._mint(key, deadline)
        except UpstreamRejectedKey:
            fresh_key = self._api_key.get(refresh=True)
            if fresh_key == key:  # the current key itself is refused: retrying cannot help
                self._rejected_key, self._rejected_until = key, self._clock() + REJECTED_KEY_COOLDOWN_SECONDS
                raise
            refreshed = True
            minted = self._mint(fresh_key, deadline)
        self._rejected_key = None
        return IssuedToken(minted, (time.monotonic() - started) * 1000, refreshed)

    def _mint(self, key: str, deadline: float) -> MintedToken:
        if self._breaker is None:
            return self._gradium.mint_token(key, deadline)
        self._breaker.before_call()
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
