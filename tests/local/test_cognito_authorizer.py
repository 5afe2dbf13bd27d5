"""The local Cognito authorizer against moto's real signed tokens: claims as API Gateway passes them."""

from __future__ import annotations

import base64
import re
import socket
import time
from collections.abc import Iterator

import pytest

from local.cognito_authorizer import (
    JWKS_REFRESH_INTERVAL_SECONDS,
    CognitoAuthorizer,
    Unauthorized,
    gateway_claim,
    issuer_of,
)
from local.services import REGION, moto_client, moto_server

PASSWORD = "Local-dev-passphrase-1"
# moto's server routes a request by the service its credential scope names; the JWKS fetch needs one.
MOTO_COGNITO_HEADERS = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/cognito-idp/aws4_request, "
    "SignedHeaders=host, Signature=0"
}


@pytest.fixture(scope="module")
def signed_in() -> Iterator[tuple[CognitoAuthorizer, str]]:
    """An authorizer of a fresh moto pool and an ID token of a user in two groups with a custom attribute."""
    with moto_server() as (url, _):
        idp = moto_client(url, "cognito-idp")
        pool = idp.create_user_pool(
            PoolName="claims",
            Schema=[{"Name": "plan", "AttributeDataType": "String", "Mutable": True}],
        )["UserPool"]["Id"]
        client = idp.create_user_pool_client(UserPoolId=pool, ClientName="app")["UserPoolClient"]["ClientId"]
        idp.admin_create_user(
            UserPoolId=pool,
            Username="ada",
            MessageAction="SUPPRESS",
            UserAttributes=[
                {"Name": "email", "Value": "ada@example.com"},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "custom:plan", "Value": "pro"},
            ],
        )
        idp.admin_set_user_password(UserPoolId=pool, Username="ada", Password=PASSWORD, Permanent=True)
        for group in ("voice", "beta"):
            idp.create_group(UserPoolId=pool, GroupName=group)
            idp.admin_add_user_to_group(UserPoolId=pool, Username="ada", GroupName=group)
        token = idp.initiate_auth(
            ClientId=client,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "ada", "PASSWORD": PASSWORD},
        )["AuthenticationResult"]["IdToken"]
        authorizer = CognitoAuthorizer(
            issuer_of(REGION, pool), f"{url}/{pool}/.well-known/jwks.json", MOTO_COGNITO_HEADERS
        )
        yield authorizer, token


def test_claims_are_strings_as_the_rest_authorizer_passes_them(signed_in) -> None:
    authorizer, token = signed_in
    claims = authorizer.claims(token)
    assert all(isinstance(value, str) for value in claims.values())
    date = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}"
    assert re.fullmatch(date, claims["exp"]) and re.fullmatch(date, claims["iat"])
    assert sorted(claims["cognito:groups"].split(",")) == ["beta", "voice"]
    assert claims["custom:plan"] == "pro"
    assert claims["token_use"] == "id"
    assert claims["iss"] == authorizer.issuer


def test_a_token_of_the_pool_with_its_issuer_changed_is_refused(signed_in) -> None:
    authorizer, token = signed_in
    other = CognitoAuthorizer(authorizer.issuer + "x", authorizer._jwks_url, MOTO_COGNITO_HEADERS)
    with pytest.raises(Unauthorized):
        other.claims(token)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # free, and nobody listens once the socket closes


def test_an_unreachable_jwks_refuses_the_token_fast(signed_in) -> None:
    """Before, the fetch's URLError escaped and the request got no answer at all."""
    authorizer, token = signed_in
    unreachable = CognitoAuthorizer(authorizer.issuer, f"http://127.0.0.1:{closed_port()}/jwks.json")
    started = time.monotonic()
    for _ in range(2):  # the first fetch, then an unknown kid's refetch
        with pytest.raises(Unauthorized, match="JWKS"):
            unreachable.claims(token)
    assert time.monotonic() - started < 5


def test_an_unknown_kid_whose_refetch_fails_is_refused(signed_in) -> None:
    authorizer, token = signed_in
    rotated = CognitoAuthorizer(authorizer.issuer, authorizer._jwks_url, MOTO_COGNITO_HEADERS)
    rotated.claims(token)  # the key set is cached
    rotated._jwks_url = f"http://127.0.0.1:{closed_port()}/jwks.json"  # then the pool's JWKS goes away
    rotated._fetched_at -= JWKS_REFRESH_INTERVAL_SECONDS
    _, claims, signature = token.split(".")
    other_kid = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"rotated-2027"}').rstrip(b"=").decode()
    with pytest.raises(Unauthorized, match="JWKS"):
        rotated.claims(f"{other_kid}.{claims}.{signature}")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("exp", 1680633579, "Tue Apr 04 18:39:39 UTC 2023"),
        ("auth_time", 1680633579, "1680633579"),
        ("email_verified", True, "true"),
        ("cognito:groups", ["a", "b"], "a,b"),
        ("custom:tier", "gold", "gold"),
    ],
)
def test_gateway_claim(name: str, value: object, expected: str) -> None:
    assert gateway_claim(name, value) == expected
