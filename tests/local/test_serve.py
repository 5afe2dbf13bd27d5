"""`make serve` over real HTTP: the template's API, a real Cognito authorizer, the built function warm.

ID tokens are real ones signed by moto's Cognito; forged ones are signed here with other keys. Every
refusal must be API Gateway's JSON 401 through the template's gateway responses, and the function
must not even run.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import moto
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from local.local_pool import LOCAL_PASSWORD, STATE_FILE
from local.network import PortInUse, free_port
from local.serve import AMPLIFY_OUTPUTS, INFO_FILE, SIGNING_KEY_FILE, LocalApi, local_api
from local.services import moto_client
from tests.bench.bench import http_overhead

REPO = Path(__file__).resolve().parents[2]
ORIGIN = "http://localhost:8080"


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    with local_api({"AllowedOrigin": ORIGIN}) as running:
        yield running


def call(
    url: str, method: str = "POST", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def moto_signing_key() -> RSAKey:
    """The key moto signs every pool's tokens with, bundled in moto: anyone who installs moto has it."""
    path = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-private.json.gz"
    return RSAKey.import_key(json.loads(gzip.decompress(path.read_bytes())))


def local_signing_key() -> RSAKey:
    """The key this checkout's local pool signs with (only make serve and its owner can read it)."""
    return RSAKey.import_key(json.loads(SIGNING_KEY_FILE.read_text()))


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def expired(api: LocalApi) -> str:
    claims = claims_of(api.id_token()) | {"exp": int(time.time()) - 60, "iat": int(time.time()) - 3660}
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, local_signing_key())


def forged_with_motos_key(api: LocalApi) -> str:
    """The review's forgery: a new user's token (same iss, aud and kid) signed with moto's shipped key."""
    claims = claims_of(api.id_token()) | {"sub": "00000000-0000-4000-8000-00000000f0e9"}
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, moto_signing_key())


def other_key(api: LocalApi, kid: str) -> str:
    key = RSAKey.generate_key(2048, parameters={"kid": kid})
    return jwt.encode({"alg": "RS256", "kid": kid}, claims_of(api.id_token()), key)


def unsigned(api: LocalApi) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"dummy"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims_of(api.id_token())).encode()).rstrip(b"=").decode()
    return f"{header}.{body}."


def other_pool(api: LocalApi) -> str:
    idp = moto_client(api.stack.moto_url, "cognito-idp")
    pool = idp.create_user_pool(PoolName="another-app")["UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="x")["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="eve@example.com", MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=pool, Username="eve@example.com", Password=LOCAL_PASSWORD, Permanent=True
    )
    answer = idp.initiate_auth(
        ClientId=client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "eve@example.com", "PASSWORD": LOCAL_PASSWORD},
    )
    return answer["AuthenticationResult"]["IdToken"]


REFUSED: dict[str, Callable[[LocalApi], str | None]] = {
    "no-header": lambda api: None,
    "garbage": lambda api: "not-a-jwt",
    "bearer-and-nothing": lambda api: "Bearer ",
    "bearer-access-token": lambda api: "Bearer " + api.sign_in()["AccessToken"],
    "forged-with-moto-kid": lambda api: other_key(api, "dummy"),
    "forged-with-motos-shipped-key": forged_with_motos_key,
    "unknown-kid": lambda api: other_key(api, "rotated-2026"),
    "another-pool": other_pool,
    "expired": expired,
    "alg-none": unsigned,
    "access-token": lambda api: api.sign_in()["AccessToken"],
}


def test_a_signed_in_user_gets_a_token(api: LocalApi) -> None:
    status, headers, body = call(api.token_url, headers={"Authorization": api.id_token()})
    assert status == 200, body
    assert set(json.loads(body)) == {"token", "expires_at"}
    assert headers["Cache-Control"] == "no-store"
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Expose-Headers"] == "Retry-After"


def test_a_bearer_prefix_is_accepted_as_api_gateway_does(api: LocalApi) -> None:
    """Mobile developers add `Bearer ` all the time; API Gateway's REST Cognito authorizer takes it (see
    local/cognito_authorizer.py for the evidence), so make serve does too."""
    status, _, body = call(api.token_url, headers={"Authorization": "Bearer " + api.id_token()})
    assert status == 200, body


@pytest.mark.parametrize("kind", REFUSED)
def test_every_refused_token_is_the_gateways_json_401(api: LocalApi, kind: str) -> None:
    token = REFUSED[kind](api)
    invocations = api.emulator.logs().count("START RequestId")
    status, headers, body = call(api.token_url, headers={"Authorization": token} if token else {})
    assert (status, json.loads(body)) == (401, {"error": "Unauthorized"})
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert api.emulator.logs().count("START RequestId") == invocations, "the function ran"


def test_the_preflight_is_answered_from_the_template_without_auth(api: LocalApi) -> None:
    status, headers, _ = call(
        api.token_url,
        "OPTIONS",
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Methods"] == "POST,OPTIONS"
    assert headers["Access-Control-Allow-Headers"] == "Authorization,Content-Type"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/gradium-token"),
        ("POST", "/v1/other"),
        ("POST", "/gradium-token"),
        ("POST", "/v2/gradium-token"),
        ("TRACE", "/v1/gradium-token"),  # http.server's HTML 501 before (a contract fuzzer found it)
        ("PROPFIND", "/v1/gradium-token"),
    ],
)
def test_unknown_routes_and_methods_are_the_gateways_403(api: LocalApi, method: str, path: str) -> None:
    status, headers, body = call(api.base_url + path, method, {"Authorization": api.id_token()})
    assert (status, json.loads(body)) == (403, {"error": "Missing Authentication Token"})
    assert headers["Cache-Control"] == "no-store"
    assert headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.usefixtures("within_one_minute")
def test_the_quota_429_has_a_retry_after_a_browser_may_read(api: LocalApi) -> None:
    token = api.add_user("quota@example.com")
    answers = [call(api.token_url, headers={"Authorization": token}) for _ in range(11)]
    assert [status for status, _, _ in answers] == [200] * 10 + [429]
    headers = answers[-1][1]
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["Access-Control-Expose-Headers"] == "Retry-After"
    assert "Retry-After" in headers["Access-Control-Expose-Headers"].split(",")


def test_the_http_overhead_over_a_direct_invocation_is_small() -> None:
    """`make bench`'s figure: p50 of a token over HTTP against the same call straight to the emulator."""
    overhead = http_overhead(calls=30)
    print(f"\nHTTP through make serve: {overhead}")
    assert overhead["added_p50_ms"] < 15  # token verification and one loopback hop; generous for CI


def test_a_required_group_lets_a_member_of_two_groups_in() -> None:
    with local_api({"RequiredGroup": "voice"}) as api:
        assert call(api.token_url, headers={"Authorization": api.id_token()})[0] == 200  # set up for it
        member = api.add_user("two@example.com", ("beta", "voice"))
        assert sorted(claims_of(member)["cognito:groups"]) == ["beta", "voice"]
        assert call(api.token_url, headers={"Authorization": member})[0] == 200
        outsider = api.add_user("none@example.com", ("beta",))
        status, _, body = call(api.token_url, headers={"Authorization": outsider})
        assert (status, json.loads(body)) == (403, {"error": "Forbidden"})


def test_a_stage_override_moves_the_route() -> None:
    with local_api({"StageName": "dev"}) as api:
        assert api.token_url.endswith("/dev/gradium-token")
        assert call(api.token_url, headers={"Authorization": api.id_token()})[0] == 200
        assert call(api.base_url + "/v1/gradium-token", headers={"Authorization": api.id_token()})[0] == 403


def test_a_busy_port_is_refused(api: LocalApi) -> None:
    port = int(api.base_url.rsplit(":", 1)[1])
    with pytest.raises(PortInUse), local_api(port=port):
        pass


def test_make_serve_writes_its_sign_in_details_and_stops_everything_on_ctrl_c() -> None:
    port = free_port(consecutive=2)  # the API's port and the local Cognito's
    INFO_FILE.unlink(missing_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "local.serve", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not INFO_FILE.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.1)
        info = json.loads(INFO_FILE.read_text())
        keys = {
            "token_url",
            "region",
            "cognito_endpoint",
            "user_pool_id",
            "app_client_id",
            "username",
            "password",
        }
        assert keys <= set(info)
        assert info["token_url"] == f"http://127.0.0.1:{port}/v1/gradium-token"
        idp = moto_client(info["cognito_endpoint"], "cognito-idp")
        signed_in = idp.initiate_auth(
            ClientId=info["app_client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": info["username"], "PASSWORD": info["password"]},
        )
        token = signed_in["AuthenticationResult"]["IdToken"]
        assert call(info["token_url"], headers={"Authorization": token})[0] == 200
        second = subprocess.run(
            [sys.executable, "-m", "local.serve", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert f"port {port}" in second.stderr and "in use" in second.stderr
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited: its output says why
            os.killpg(server.pid, signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert 'curl -sS -X POST -H "Authorization: ' in output and "Stopped." in output
    assert "START RequestId" in output  # the function's logs reach the console
    # Every process it started (the emulator, the runtime) shared its session, and none is left.
    leftovers = [
        status
        for status in Path("/proc").glob("[0-9]*/stat")
        if status.exists() and _session_of(status) == server.pid
    ]
    assert leftovers == [], "a process it started is still running"


def _session_of(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


EVIL = "https://evil.example"


def ports(api: LocalApi) -> dict[str, str]:
    """Every HTTP port `make serve` opens that a page could guess: the API, the app's Cognito endpoint,
    the function's moto server and the Gradium stand-in."""
    assert api.stack.standin is not None
    return {
        "api": api.base_url,
        "cognito": api.info["cognito_endpoint"],
        "moto": api.stack.moto_url,
        "standin": api.stack.standin.base_url,
    }


def secret_id(api: LocalApi) -> str:
    """The secret the local function reads its key from."""
    return api.emulator.env["GRADIUM_API_KEY_SECRET_ID"]


def aws_call(url: str, target: str, body: dict[str, Any], headers: dict[str, str] | None = None):
    return call_with_body(
        url,
        json.dumps(body).encode(),
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target} | (headers or {}),
    )


def call_with_body(
    url: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


@pytest.mark.parametrize("port", ["api", "cognito", "moto", "standin"])
def test_no_port_grants_a_page_of_another_origin_anything(api: LocalApi, port: str) -> None:
    """The review's reproduction: a cross-origin GetSecretValue from any page read the (real) key."""
    url = ports(api)[port] + "/"
    preflight = call(
        url,
        "OPTIONS",
        {
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-amz-target",
        },
    )
    status, headers, body = aws_call(
        url,
        "secretsmanager.GetSecretValue",
        {"SecretId": secret_id(api)},
        {"Origin": EVIL},
    )
    for answer_headers in (preflight[1], headers):
        # The API's own answers name the app's origin (as API Gateway's do), which a browser refuses for EVIL.
        assert answer_headers.get("Access-Control-Allow-Origin") in (None, ORIGIN), port
    assert status >= 400 and b"SecretString" not in body and b"gd_" not in body


@pytest.mark.parametrize("port", ["cognito", "moto"])
def test_a_page_without_an_origin_header_or_under_another_host_name_is_refused(
    api: LocalApi, port: str
) -> None:
    """A `no-cors` request carries no Origin but Sec-Fetch-Site; DNS rebinding shows in the Host."""
    url = ports(api)[port]
    jwks = f"{url}/{api.info['user_pool_id']}/.well-known/jwks.json"
    assert call(jwks, "GET", {"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert call(jwks, "GET", {"Host": "rebound.evil.example"})[0] == 403
    assert call(jwks, "GET")[0] == 200


def scope(service: str) -> dict[str, str]:
    """A SigV4-looking Authorization whose credential scope names `service`: moto routes by it."""
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host, Signature=0"
    }


def admin_create_user(api: LocalApi) -> tuple[str, dict[str, Any], dict[str, str]]:
    body = {"UserPoolId": api.info["user_pool_id"], "Username": "mallory@example.com"}
    return "AWSCognitoIdentityProviderService.AdminCreateUser", body, scope("cognito-idp")


# The review's reproductions against the app-facing Cognito port, each with no Origin header (curl).
NOT_FOR_APPS: dict[str, Callable[[LocalApi], tuple[str, dict[str, Any], dict[str, str]]]] = {
    "secret-value": lambda api: (
        "AWSCognitoIdentityProviderService.GetSecretValue",
        {"SecretId": secret_id(api)},
        scope("secretsmanager"),
    ),
    "list-secrets": lambda api: (
        "AWSCognitoIdentityProviderService.ListSecrets",
        {},
        scope("secretsmanager"),
    ),
    "dynamodb-tables": lambda api: (
        "AWSCognitoIdentityProviderService.x_20120810.ListTables",
        {},
        scope("dynamodb"),
    ),
    "secrets-target": lambda api: ("secretsmanager.GetSecretValue", {"SecretId": secret_id(api)}, {}),
    "list-user-pools": lambda api: (
        "AWSCognitoIdentityProviderService.ListUserPools",
        {"MaxResults": 10},
        scope("cognito-idp"),
    ),
    "admin-create-user": admin_create_user,
    "admin-add-to-group": lambda api: (
        "AWSCognitoIdentityProviderService.AdminAddUserToGroup",
        {"UserPoolId": api.info["user_pool_id"], "Username": api.info["username"], "GroupName": "voice"},
        {},
    ),
}


@pytest.mark.parametrize("probe", NOT_FOR_APPS)
def test_the_apps_cognito_endpoint_answers_no_other_service_and_no_management_action(
    api: LocalApi, probe: str
) -> None:
    target, body, headers = NOT_FOR_APPS[probe](api)
    status, answer_headers, answer = aws_call(api.info["cognito_endpoint"], target, body, headers)
    assert status == 400, answer
    kind = json.loads(answer)["__type"]
    assert kind in ("UnknownOperationException", "MissingAuthenticationTokenException")
    assert answer_headers["x-amzn-ErrorType"] == kind
    for leaked in (b"SecretString", b"SecretList", b"TableNames", b"UserPools", b"gd_", b"mallory"):
        assert leaked not in answer
    idp = moto_client(api.stack.moto_url, "cognito-idp")
    users = idp.list_users(UserPoolId=api.info["user_pool_id"])["Users"]
    assert "mallory@example.com" not in [user["Username"] for user in users]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/moto-api/data.json"),
        ("POST", "/moto-api/reset"),
        ("GET", "/"),
        ("GET", "/x/.well-known/jwks.json"),
    ],
)
def test_the_apps_cognito_endpoint_serves_nothing_of_motos_own(api: LocalApi, method: str, path: str) -> None:
    status, _, body = call(api.info["cognito_endpoint"] + path, method)
    assert status in (403, 404) and b"moto" not in body.lower()
    assert call(api.token_url, headers={"Authorization": api.id_token()})[0] == 200  # nothing was reset


def test_the_apps_cognito_endpoint_publishes_only_this_checkouts_key(api: LocalApi) -> None:
    pool = api.info["user_pool_id"]
    status, _, body = call(f"{api.info['cognito_endpoint']}/{pool}/.well-known/jwks.json", "GET")
    assert status == 200
    published = [RSAKey.import_key(key).thumbprint() for key in json.loads(body)["keys"]]
    assert published == [local_signing_key().thumbprint()] != [moto_signing_key().thumbprint()]
    assert stat.S_IMODE(SIGNING_KEY_FILE.stat().st_mode) == 0o600
    status, _, body = call(f"{api.info['cognito_endpoint']}/{pool}/.well-known/openid-configuration", "GET")
    assert status == 200 and json.loads(body)["issuer"] == api.info["issuer"]


def test_the_apps_cognito_endpoint_signs_in_by_password_and_srp_for_its_origin_only(api: LocalApi) -> None:
    cognito = api.info["cognito_endpoint"]
    sign_in = {
        "ClientId": api.info["app_client_id"],
        "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": api.info["username"], "PASSWORD": api.info["password"]},
    }
    status, headers, body = aws_call(
        cognito, "AWSCognitoIdentityProviderService.InitiateAuth", sign_in, {"Origin": ORIGIN}
    )
    assert status == 200 and "IdToken" in json.loads(body)["AuthenticationResult"]
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    tokens = json.loads(body)["AuthenticationResult"]
    status, _, body = aws_call(
        cognito, "AWSCognitoIdentityProviderService.GetUser", {"AccessToken": tokens["AccessToken"]}
    )
    assert status == 200 and json.loads(body)["Username"]
    srp = sign_in | {
        "AuthFlow": "USER_SRP_AUTH",
        "AuthParameters": {"USERNAME": api.info["username"], "SRP_A": "ab" * 64},
    }
    status, _, body = aws_call(cognito, "AWSCognitoIdentityProviderService.InitiateAuth", srp)
    assert status == 200 and json.loads(body)["ChallengeName"] == "PASSWORD_VERIFIER"
    status, headers, _ = call(
        cognito,
        "OPTIONS",
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-amz-target",
        },
    )
    assert (status, headers["Access-Control-Allow-Origin"]) == (204, ORIGIN)
    assert headers["Access-Control-Allow-Headers"] == "x-amz-target"


def test_a_token_of_another_app_client_of_the_pool_is_403(api: LocalApi) -> None:
    """API Gateway passes any app client's token; the function's ALLOWED_CLIENT_IDS (the stack's own
    client, here the local pool's) refuses it, as deployed."""
    idp = moto_client(api.stack.moto_url, "cognito-idp")
    other = idp.create_user_pool_client(
        UserPoolId=api.info["user_pool_id"],
        ClientName="self-sign-up-web",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]["ClientId"]
    token = idp.initiate_auth(
        ClientId=other,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": api.info["username"], "PASSWORD": api.info["password"]},
    )["AuthenticationResult"]["IdToken"]
    status, _, body = call(api.token_url, headers={"Authorization": token})
    assert (status, json.loads(body)) == (403, {"error": "Forbidden"})


def raw_exchange(api: LocalApi, request: bytes, timeout: float = 5) -> tuple[bytes, float]:
    """Send raw bytes to the local API; return everything it answered until it closed, and how long."""
    host, port = api.base_url.removeprefix("http://").rsplit(":", 1)
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)  # the client has sent all it will
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received, time.monotonic() - started


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "10, 12"])
def test_a_bad_content_length_is_a_fast_json_400(api: LocalApi, length: str) -> None:
    path = api.token_url.split(api.base_url, 1)[1]
    request = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {api.id_token()}\r\n"
        f"Content-Length: {length}\r\n\r\n{{}}"
    ).encode()
    answer, elapsed = raw_exchange(api, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:200]
    assert json.loads(body) == {"error": "Bad Request"}
    assert answer.count(b"HTTP/1.1 ") == 1 and elapsed < 2


def test_a_chunked_body_is_read_and_not_parsed_as_the_next_request(api: LocalApi) -> None:
    """Before, the chunks stayed in the kept-alive stream and were read as a second request."""
    host, port = api.base_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    path = api.token_url.split(api.base_url, 1)[1]
    headers = {"Authorization": api.id_token()}
    connection.request(
        "POST",
        path,
        body=iter([b'{"a": 1}', b"GET / HTTP/1.1\r\n\r\n"]),
        headers=headers,
        encode_chunked=True,
    )
    first = connection.getresponse()
    assert first.status == 200 and "token" in json.loads(first.read())
    connection.request("POST", path, headers=headers)
    second = connection.getresponse()
    assert second.status == 200 and "token" in json.loads(second.read())
    connection.close()


def test_a_malformed_chunked_body_is_a_400_that_closes_the_connection(api: LocalApi) -> None:
    path = api.token_url.split(api.base_url, 1)[1]
    request = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {api.id_token()}\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"
    ).encode()
    answer, elapsed = raw_exchange(api, request)
    assert answer.startswith(b"HTTP/1.1 400") and answer.count(b"HTTP/1.1 ") == 1 and elapsed < 2


def test_a_token_without_a_kid_is_the_gateways_401(api: LocalApi) -> None:
    token = jwt.encode({"alg": "RS256"}, claims_of(api.id_token()), local_signing_key())
    status, _, body = call(api.token_url, headers={"Authorization": token})
    assert (status, json.loads(body)) == (401, {"error": "Unauthorized"})


def serve(*args: str) -> subprocess.Popen[str]:
    """`python -m local.serve` (what make serve runs), in a session of its own (Ctrl-C: os.killpg)."""
    return subprocess.Popen(
        [sys.executable, "-m", "local.serve", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@contextlib.contextmanager
def make_serve(*args: str) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """`python -m local.serve` (what make serve runs) on a free port pair until the block ends: what it
    wrote to .aws-sam/local-api.json, and (once stopped) the lines it printed."""
    INFO_FILE.unlink(missing_ok=True)
    server = serve("--port", str(free_port(consecutive=2)), *args)
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not INFO_FILE.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.1)
        if not INFO_FILE.exists():
            os.killpg(server.pid, signal.SIGINT)
            raise AssertionError("make serve did not start:\n" + server.communicate(timeout=30)[0])
        yield json.loads(INFO_FILE.read_text()), printed
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)
        printed += server.communicate(timeout=30)[0].splitlines()


def sign_in_at(info: dict[str, Any]) -> str:
    """An ID token of the test user, from the Cognito endpoint make serve reported."""
    return moto_client(info["cognito_endpoint"], "cognito-idp").initiate_auth(
        ClientId=info["app_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": info["username"], "PASSWORD": info["password"]},
    )["AuthenticationResult"]["IdToken"]


@pytest.fixture
def kept_pool_state() -> Iterator[None]:
    """The developer's own .aws-sam/local-pool.json survives these tests."""
    saved = STATE_FILE.read_bytes() if STATE_FILE.exists() else None
    try:
        yield
    finally:
        if saved is None:
            STATE_FILE.unlink(missing_ok=True)
        else:
            STATE_FILE.write_bytes(saved)


@pytest.mark.usefixtures("kept_pool_state")
def test_the_pool_client_and_user_outlive_a_restart_until_fresh() -> None:
    with make_serve() as (first, _):
        token = sign_in_at(first)
    with make_serve() as (second, printed):
        written = json.loads(AMPLIFY_OUTPUTS.read_text())  # what an app's dev build reads
        assert written == second["amplify_outputs"]
        assert written["auth"]["user_pool_client_id"] == first["app_client_id"]
        assert written["custom"]["gradium_token_url"] == second["token_url"]
        assert (second["user_pool_id"], second["app_client_id"]) == (
            first["user_pool_id"],
            first["app_client_id"],
        )
        assert (
            call(second["token_url"], headers={"Authorization": token})[0] == 200
        )  # yesterday's token works
        assert call(second["token_url"], headers={"Authorization": sign_in_at(second)})[0] == 200
    assert any("FRESH=1" in line for line in printed)
    with make_serve("--fresh") as (fresh, _):
        assert fresh["user_pool_id"] != first["user_pool_id"]
        assert fresh["app_client_id"] != first["app_client_id"]
        assert call(fresh["token_url"], headers={"Authorization": token})[0] == 401  # another pool's token


def test_with_host_0000_every_port_an_app_needs_listens_there_and_urls_name_this_machine() -> None:
    with make_serve("--host", "0.0.0.0") as (info, printed):  # noqa: S104 (the point of the test)
        token_url, cognito = urlsplit(info["token_url"]), urlsplit(info["cognito_endpoint"])
        assert token_url.hostname == cognito.hostname != "0.0.0.0"  # noqa: S104
        assert cognito.port == token_url.port + 1
        token = sign_in_at(info)  # at the reported address, as a device would
        assert call(info["token_url"], headers={"Authorization": token})[0] == 200
        for address in ("127.0.0.1", token_url.hostname):  # every interface
            with socket.create_connection((address, cognito.port), timeout=5):
                pass
    assert any(line.startswith("WARNING: HOST=0.0.0.0") for line in printed)


def test_the_android_emulators_address_for_this_machine_is_accepted(api: LocalApi) -> None:
    """The emulator reaches the host's loopback as 10.0.2.2 and says so in its Host header."""
    jwks = f"{api.info['cognito_endpoint']}/{api.info['user_pool_id']}/.well-known/jwks.json"
    port = urlsplit(jwks).port
    assert call(jwks, "GET", {"Host": f"10.0.2.2:{port}"})[0] == 200


def listening_addresses(port: int) -> set[str]:
    """The IPv4 and IPv6 addresses a socket listens on at `port` (from /proc/net/tcp{,6}, hex)."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                addresses.add(address)
    return addresses


def test_with_host_0000_the_lambda_emulators_port_stays_on_loopback() -> None:
    """The emulator checks no Host or Origin: no device on the LAN may reach it."""
    with local_api(host="0.0.0.0") as api:  # noqa: S104 (the point of the test)
        assert listening_addresses(int(urlsplit(api.base_url).port or 0)) == {"00000000"}  # the API: all
        assert listening_addresses(api.emulator.port) == {"0100007F"}  # 127.0.0.1, and nothing else


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ("TokensPerUserPerDay=lots", "TokensPerUserPerDay is a number, not 'lots'"),
        ("AllowedOrigin=localhost:5173", "AllowedOrigin must match"),
        ("TokensPerUserPerDya=5", "TokensPerUserPerDya is not a parameter of template.yaml (did you mean"),
    ],
)
def test_overrides_make_config_would_refuse_are_refused_before_the_server_starts(override, said) -> None:
    """Not a server whose every answer is a 500: make config's own check."""
    refused = serve("--port", str(free_port(consecutive=2)), "--parameter-overrides", override)
    printed = refused.communicate(timeout=60)[0]
    assert refused.returncode == 2
    assert printed.startswith(f"make serve: PARAMETER_OVERRIDES: {said}")
    assert len(printed.splitlines()) == 1


def test_a_busy_cognito_port_says_so_and_suggests_a_free_pair() -> None:
    port = free_port(consecutive=2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        refused = serve("--port", str(port))
        printed = refused.communicate(timeout=60)[0]
    assert refused.returncode == 2
    assert printed == (
        f"make serve: port {port + 1} on 127.0.0.1 (the local Cognito) is in use (another `make serve`?). "
        f"make serve takes PORT and PORT+1: choose a free pair, such as make serve PORT={port + 2}\n"
    )


def test_a_second_make_serve_leaves_the_first_ones_files_alone() -> None:
    """Its own files are named for its port, and gone when it stops: no file names a dead port."""
    with make_serve() as (first, _):
        first_files = INFO_FILE.read_text(), AMPLIFY_OUTPUTS.read_text()
        port = free_port(consecutive=2)
        own = (
            INFO_FILE.with_name(f"local-api-{port}.json"),
            AMPLIFY_OUTPUTS.with_name(f"amplify_outputs-{port}.json"),
        )
        second = serve("--port", str(port))
        try:
            deadline = time.monotonic() + 60
            while not own[0].exists() and time.monotonic() < deadline and second.poll() is None:
                time.sleep(0.1)
            assert json.loads(own[0].read_text())["token_url"].startswith(f"http://127.0.0.1:{port}/")
            assert json.loads(own[1].read_text())["custom"]["user_pool_endpoint"].endswith(f":{port + 1}")
            assert (INFO_FILE.read_text(), AMPLIFY_OUTPUTS.read_text()) == first_files
        finally:
            os.killpg(second.pid, signal.SIGINT)
            printed = second.communicate(timeout=30)[0]
        assert f"Sign-in details are in .aws-sam/local-api-{port}.json." in printed
        assert not own[0].exists() and not own[1].exists()
        assert (INFO_FILE.read_text(), AMPLIFY_OUTPUTS.read_text()) == first_files
        assert json.loads(INFO_FILE.read_text())["token_url"] == first["token_url"]


def test_the_console_says_why_a_token_was_refused_and_what_to_send() -> None:
    """The caller gets API Gateway's bare 401; the developer at make serve's console learns why."""
    with make_serve() as (info, printed):
        result = moto_client(info["cognito_endpoint"], "cognito-idp").initiate_auth(
            ClientId=info["app_client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": info["username"], "PASSWORD": info["password"]},
        )["AuthenticationResult"]
        access, id_token = result["AccessToken"], result["IdToken"]
        claims = claims_of(id_token)
        stale = jwt.encode(
            {"alg": "RS256", "kid": "dummy"},
            claims | {"exp": int(time.time()) - 60},
            local_signing_key(),
        )
        for token in (access, stale):
            status, _, body = call(info["token_url"], headers={"Authorization": token})
            assert (status, json.loads(body)) == (401, {"error": "Unauthorized"})
        page = {"Origin": "https://evil.example", "Content-Type": "application/x-amz-json-1.1"}
        assert call(info["cognito_endpoint"] + "/", headers=page)[0] == 403
    console = "\n".join(printed)
    assert "authorizer refused: an access token: send the ID token" in console
    assert "authorizer refused: it has expired (exp): refresh it" in console
    assert "local Cognito: refused a web page of origin https://evil.example (no AllowedOrigin)" in console
    # As the stack's app client (IdTokenValidity 15 minutes): an app's refresh runs locally too.
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims_of(access)["exp"] - claims_of(access)["iat"] == 15 * 60
    assert access not in console and id_token not in console
