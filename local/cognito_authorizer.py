"""API Gateway's REST `COGNITO_USER_POOLS` authorizer (no scopes), for the local API.

The `Authorization` header must hold an ID token of the configured pool: an RS256 signature that the
pool's JWKS verifies, `iss` equal to the pool's issuer, `exp` in the future and `token_use` = `id`.
Claims reach the function as API Gateway puts them: every value a string.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

from joserfc import jwt
from joserfc.errors import ClaimError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

# An unknown `kid` refetches the JWKS (a rotated key), at most this often, so that forged tokens
# naming random kids cannot turn every request into a fetch.
JWKS_REFRESH_INTERVAL_SECONDS = 30.0
JWKS_FETCH_TIMEOUT_SECONDS = 2.0
MAX_JWKS_BYTES = 64 * 1024


class Unauthorized(Exception):
    """The request carries no acceptable ID token: API Gateway answers 401."""


def issuer_of(region: str, user_pool_id: str) -> str:
    """The `iss` of a pool's tokens; moto signs its tokens with the same issuer in server mode."""
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


class CognitoAuthorizer:
    """Verifies ID tokens of one user pool against its JWKS, fetched from `jwks_url` and cached."""

    def __init__(self, issuer: str, jwks_url: str, fetch_headers: dict[str, str] | None = None) -> None:
        self.issuer = issuer
        self._jwks_url = jwks_url
        self._fetch_headers = fetch_headers or {}
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self._claims = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            token_use={"essential": True, "value": "id"},
            exp={"essential": True},
            sub={"essential": True},
        )

    def claims(self, authorization: str | None) -> dict[str, str]:
        """The claims of the ID token in an `Authorization` header value, as API Gateway passes them.

        Raises Unauthorized for a missing header and for any token that is not a valid ID token of
        this pool.
        """
        if not authorization:
            raise Unauthorized("no Authorization header")
        # API Gateway's REST Cognito authorizer takes "Bearer <ID token>" as well as the bare token:
        # Amplify's docs send it so (aws-amplify/docs#1137, tested in the API Gateway console), users
        # confirm it (aws-amplify/docs#959), and a deployed end-to-end test found the ID token accepted
        # and the access token refused (awslabs/nx-plugin-for-aws#828).
        value = authorization.strip().removeprefix("Bearer ").strip()
        try:
            # Cognito signs with one of the pool's keys and names it; a token without `kid` is not one.
            if not isinstance(extract_compact(value.encode()).headers().get("kid"), str):
                raise Unauthorized("the token names no key (kid)")
            token = self._decode(value)
            self._claims.validate(token.claims)
        except ClaimError as exc:
            raise Unauthorized(_claim_refusal(exc.claim, token.claims)) from None
        except JoseError as exc:
            raise Unauthorized(_REFUSALS.get(exc.error, exc.description or exc.error)) from None
        except (ValueError, TypeError):  # not a JWS at all (its parts are not base64 JSON)
            raise Unauthorized("not a JWT") from None
        return {name: gateway_claim(name, value) for name, value in token.claims.items()}

    def _decode(self, value: str) -> jwt.Token:
        try:
            return jwt.decode(value, self._key_set(), algorithms=["RS256"])
        except InvalidKeyIdError:
            if not self._refresh_allowed():
                raise
            return jwt.decode(value, self._key_set(refresh=True), algorithms=["RS256"])

    def _refresh_allowed(self) -> bool:
        return time.monotonic() - self._fetched_at >= JWKS_REFRESH_INTERVAL_SECONDS

    def _key_set(self, refresh: bool = False) -> KeySet:
        with self._lock:
            if self._keys is None or refresh:
                self._fetched_at = time.monotonic()  # a failed fetch waits its turn too
                request = urllib.request.Request(self._jwks_url, headers=self._fetch_headers)
                try:
                    with urllib.request.urlopen(request, timeout=JWKS_FETCH_TIMEOUT_SECONDS) as answer:
                        self._keys = KeySet.import_key_set(json.loads(answer.read(MAX_JWKS_BYTES)))
                except (OSError, ValueError, TypeError, KeyError, JoseError):
                    # Unreachable, or not a key set: no token can be verified, so none is accepted.
                    raise Unauthorized("the pool's JWKS could not be fetched") from None
            return self._keys


# Why a token was refused, for the developer at make serve's console (the caller gets API Gateway's 401).
_REFUSALS = {
    "bad_signature": "its signature does not verify with the pool's keys (another pool, or a forged token)",
    "invalid_key_id": "it names a key (kid) the pool does not publish (another pool, or a forged token)",
}


def _claim_refusal(claim: str, claims: dict[str, Any]) -> str:
    if claim == "token_use" and claims.get("token_use") == "access":
        return "an access token: send the ID token (Amplify: fetchAuthSession().tokens.idToken)"
    if claim == "exp":
        return "it has expired (exp): refresh it (Amplify refreshes it in fetchAuthSession)"
    if claim == "iss":
        return f"another pool issued it (iss {claims.get('iss')!r}, not this pool's)"
    return f"its {claim} claim is missing or wrong"


def gateway_claim(name: str, value: Any) -> str:
    """One claim as API Gateway's REST authorizer passes it: a string, dates in Java's Date format."""
    if name in ("exp", "iat") and isinstance(value, int | float):
        return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)
