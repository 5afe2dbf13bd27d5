"""The local Cognito an app talks to (`make serve`'s PORT+1): what real Cognito answers an unsigned app,
and nothing else, signed with this checkout's own key.

Real Cognito answers an unsigned request only for its public actions: the sign-in, sign-up and
password-reset flows and the calls an access token authorizes (GetUser, GlobalSignOut …). Every
management action (`Admin*`, `List*`, `Create*` …) needs an IAM signature. moto's whole server answers
every service to anyone (its dispatcher picks the service from the credential scope and the action from
the target's last part, moto/moto_server/werkzeug_app.py `DomainDispatcherApplication`), so this endpoint
hands moto only the public Cognito actions, to moto's Cognito app alone (`create_backend_app("cognito-idp")`),
and answers everything else itself, as Cognito would.

moto signs every pool's tokens with one private key that ships in the package
(moto/cognitoidp/models.py: `CognitoIdpUserPool.__init__` loads `cognitoidp/resources/jwks-private.json`;
`create_jwt` signs with `self.json_web_key` under `kid: "dummy"`), so anyone could forge a token its JWKS
verifies. Each checkout gets its own RSA key instead (`.aws-sam/local-signing-key.json`, mode 0600, kept
across restarts so that pool ids and ID tokens stay valid); the local pool signs with it and this
endpoint's JWKS publishes it alone.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from joserfc.jwk import RSAKey
from moto.cognitoidp.models import cognitoidp_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import create_backend_app

from local.origin_guard import WsgiApp

# moto names every key "dummy" in the tokens it signs (create_jwt's header): the JWKS names ours so.
KEY_ID = "dummy"
TARGET_PREFIX = "AWSCognitoIdentityProviderService."

# The user-pool actions real Cognito takes without an IAM signature: unauthenticated ones and those an
# access token or session authorizes ("Authorization of user pool API operations", Cognito developer guide).
PUBLIC_ACTIONS = frozenset(
    {
        # sign-in, sign-up and password reset
        "InitiateAuth",
        "RespondToAuthChallenge",
        "SignUp",
        "ConfirmSignUp",
        "ResendConfirmationCode",
        "ForgotPassword",
        "ConfirmForgotPassword",
        "RevokeToken",
        "GetTokensFromRefreshToken",
        "AssociateSoftwareToken",
        "VerifySoftwareToken",
        # authorized by the user's own access token
        "GetUser",
        "UpdateUserAttributes",
        "DeleteUserAttributes",
        "DeleteUser",
        "ChangePassword",
        "GlobalSignOut",
        "GetUserAttributeVerificationCode",
        "VerifyUserAttribute",
        "SetUserMFAPreference",
        "SetUserSettings",
        "GetUserAuthFactors",
        "ConfirmDevice",
        "GetDevice",
        "ListDevices",
        "ForgetDevice",
        "UpdateDeviceStatus",
    }
)
_WELL_KNOWN = re.compile(
    r"/(?P<pool>[\w-]+_[0-9A-Za-z]+)/\.well-known/(?P<doc>jwks\.json|openid-configuration)"
)


class SigningKeyExposed(ValueError):
    """The key file can be read by others than its owner: tokens signed with it prove nothing."""


def signing_key(path: Path) -> RSAKey:
    """This checkout's signing key: read from `path`, or made once and written there with mode 0600."""
    if not path.exists():
        key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a private temporary file (mkstemp: mode 0600), then linked into place: the
        # link is atomic and never replaces a key another make serve (or test worker) made meanwhile.
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
        try:
            with os.fdopen(descriptor, "w") as file:
                json.dump(key.as_dict(private=True), file)
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise SigningKeyExposed(
            f"{path} can be read by other users: delete it (make serve makes a new one; ID tokens "
            "signed before are refused) or chmod 600 it"
        )
    return RSAKey.import_key(json.loads(path.read_text()))


class CognitoEndpoint:
    """WSGI: the public Cognito actions, to moto's Cognito app; the JWKS and OpenID configuration of the
    pools it signs for (`sign_for`); a Cognito-shaped refusal for everything else."""

    def __init__(self, key: RSAKey, region: str) -> None:
        self._key = key
        self._cognito: WsgiApp = create_backend_app("cognito-idp")
        self._jwks = json.dumps({"keys": [key.as_dict(private=False)]}).encode()
        self._region = region
        self._pools: set[str] = set()

    def sign_for(self, user_pool_id: str, token_seconds: int | None = None) -> None:
        """Have moto's pool sign its tokens with this endpoint's key, not the key bundled in moto, and
        publish the key as that pool's JWKS; with `token_seconds`, its ID and access tokens expire after
        that long, as the stack's app client says. moto has no API for either: the pool keeps the key it
        signs with in `json_web_key`, and signs every token for an hour (`create_jwt`'s `expires_in`
        default, whatever the client's validity; moto/cognitoidp/models.py)."""
        backend = cognitoidp_backends[DEFAULT_ACCOUNT_ID][self._region]
        pool = backend.describe_user_pool(user_pool_id)
        pool.json_web_key = self._key
        if token_seconds:
            pool.create_jwt = functools.partial(type(pool).create_jwt, pool, expires_in=token_seconds)
        self._pools.add(user_pool_id)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if method == "OPTIONS":  # a preflight names no target: the call it announces is checked when it comes
            return self._cognito(environ, start_response)
        if method == "POST" and path == "/":
            return self._action(environ, start_response)
        well_known = _WELL_KNOWN.fullmatch(path)
        if method == "GET" and well_known:
            return self._well_known(well_known["pool"], well_known["doc"], environ, start_response)
        return _answer(start_response, 403, {"message": "Missing Authentication Token"})

    def _action(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        action = target.removeprefix(TARGET_PREFIX)
        if not target.startswith(TARGET_PREFIX) or not action.isidentifier():
            return _error(start_response, "UnknownOperationException", "Unknown operation")
        if action not in PUBLIC_ACTIONS:
            # A management action: real Cognito wants an IAM signature, which no app holds.
            return _error(
                start_response, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        # An app signs nothing; a credential in the request would only pick moto's account or region.
        environ.pop("HTTP_AUTHORIZATION", None)
        return self._cognito(environ, start_response)

    def _well_known(
        self, pool: str, document: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if pool not in self._pools:
            message = f"User pool {pool} does not exist."
            return _error(start_response, "ResourceNotFoundException", message, 404)
        if document == "jwks.json":
            return _answer(start_response, 200, self._jwks)
        issuer = f"https://cognito-idp.{self._region}.amazonaws.com/{pool}"
        host = environ.get("HTTP_HOST", "")
        return _answer(
            start_response,
            200,
            {
                "issuer": issuer,
                "jwks_uri": f"http://{host}/{pool}/.well-known/jwks.json",
                "id_token_signing_alg_values_supported": ["RS256"],
                "subject_types_supported": ["public"],
                "response_types_supported": ["code", "token"],
            },
        )


def _error(start_response: Callable[..., Any], kind: str, message: str, status: int = 400) -> list[bytes]:
    """An error as Cognito's JSON protocol gives it: `__type`, `message`, and x-amzn-ErrorType."""
    return _answer(start_response, status, {"__type": kind, "message": message}, [("x-amzn-ErrorType", kind)])


def _answer(
    start_response: Callable[..., Any],
    status: int,
    body: dict[str, Any] | bytes,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}[status]
    start_response(
        f"{status} {reason}",
        [
            ("Content-Type", "application/x-amz-json-1.1" if status == 400 else "application/json"),
            ("Content-Length", str(len(data))),
            *(headers or []),
        ],
    )
    return [data]
