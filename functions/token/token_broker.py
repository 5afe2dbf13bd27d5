"""Issuing a token: the API key from the secret, exchanged at Gradium, with one refresh on a rotated key."""

from __future__ import annotations

import time
from dataclasses import dataclass

from api_key import ApiKeySource
from errors import UpstreamRejectedKey
from gradium_client import GradiumClient, MintedToken


@dataclass(frozen=True)
class IssuedToken:
    """A minted token and how long Gradium took to mint it (retries and refresh included)."""

    minted: MintedToken
    upstream_ms: float
    key_refreshed: bool


class TokenBroker:
    """Exchanges the server's Gradium API key for single-use tokens."""

    def __init__(self, api_key: ApiKeySource, gradium: GradiumClient, timeout_seconds: float) -> None:
        self._api_key = api_key
        self._gradium = gradium
        self._timeout_seconds = timeout_seconds

    def issue(self) -> IssuedToken:
        """Mint one fresh token; never cached, never reused.

        If Gradium rejects the cached key, the secret is read again, bypassing the cache, and the
        call is retried once with the new key, so a rotated key works at once. The whole exchange,
        retry included, stays within one time budget.
        """
        key = self._api_key.get()
        started = time.monotonic()
        deadline = started + self._timeout_seconds
        refreshed = False
        try:
            minted = self._gradium.mint_token(key, deadline)
        except UpstreamRejectedKey:
            fresh_key = self._api_key.get(refresh=True)
            if fresh_key == key:
                raise  # the current key itself is refused: retrying cannot help
            refreshed = True
            minted = self._gradium.mint_token(fresh_key, deadline)
        return IssuedToken(minted, (time.monotonic() - started) * 1000, refreshed)
