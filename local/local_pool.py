"""make serve's user pool: the local one (in moto: a pool, an app client and a test user, with stable ids)
or a real one (USER_POOL_ID), and what an app is told of it (.aws-sam/local-api.json, amplify_outputs.json).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from local.cognito_authorizer import issuer_of
from local.paths import REPO
from local.sam_template import Template
from local.services import LocalServices, moto_client

STATE_FILE = REPO / ".aws-sam" / "local-pool.json"  # what keeps the local pool's ids across restarts
LOCAL_USER = "dev@example.com"
LOCAL_PASSWORD = "Local-dev-passphrase-1"  # moto's pool, on loopback only: not a secret
# CloudFormation's TokenValidityUnits, in seconds.
_UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


@dataclass(frozen=True)
class Pool:
    """The pool whose ID tokens the local API accepts."""

    user_pool_id: str
    issuer: str
    app_client_id: str = ""  # "": a real pool, whose app clients are not known here
    username: str | None = None  # the local pool's test user
    password: str | None = None

    @property
    def is_local(self) -> bool:
        return bool(self.app_client_id)

    def info(self) -> dict[str, str]:
        """What .aws-sam/local-api.json says of the pool: its ids and, for the local one, the test user."""
        return {name: value for name, value in asdict(self).items() if value}


def real_pool(user_pool_id: str, region: str) -> Pool:
    return Pool(user_pool_id, issuer_of(region, user_pool_id))


def local_pool(services: LocalServices, required_group: str, name: str, region: str) -> Pool:
    """A user pool, an app client and one signed-up user with a permanent password, in moto; with
    `required_group`, the user is in it, so that it gets tokens out of the box."""
    idp = moto_client(services.moto_url, "cognito-idp")
    pool_id = idp.create_user_pool(PoolName=name, UsernameAttributes=["email"])["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="local-app",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    create_user(
        idp,
        pool_id,
        LOCAL_USER,
        groups=(required_group,) if required_group else (),
        attributes=({"Name": "email", "Value": LOCAL_USER}, {"Name": "email_verified", "Value": "true"}),
    )
    return Pool(pool_id, issuer_of(region, pool_id), client_id, LOCAL_USER, LOCAL_PASSWORD)


def create_user(
    idp: Any,
    pool_id: str,
    username: str,
    groups: tuple[str, ...] = (),
    attributes: tuple[dict[str, str], ...] = (),
) -> None:
    """A confirmed user with the password LOCAL_PASSWORD (permanent), in `groups` (created if need be)."""
    idp.admin_create_user(
        UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS", UserAttributes=list(attributes)
    )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=LOCAL_PASSWORD, Permanent=True
    )
    for group in groups:
        with contextlib.suppress(idp.exceptions.GroupExistsException):
            idp.create_group(UserPoolId=pool_id, GroupName=group)
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)


def token_seconds(template: Template) -> int:
    """How long the stack's app client's ID tokens last (15 minutes): the local ones last as long, so that
    an app's refresh of its tokens runs locally as it will against the stack."""
    client = template.resources["UserPoolAppClient"]["Properties"]
    unit = client.get("TokenValidityUnits", {}).get("IdToken", "hours")
    return int(client.get("IdTokenValidity", 1)) * _UNIT_SECONDS[unit]


def amplify_outputs(template: Template, pool: Pool, token_url: str, cognito_endpoint: str) -> dict[str, Any]:
    """The stack's AmplifyOutputs output, for the local pool and token URL, plus where the local Cognito
    is: Amplify JS takes it as `Auth.Cognito.userPoolEndpoint` (the Gen 2 schema has no field for it)."""
    names = {"UserPool": pool.user_pool_id, "UserPoolAppClient": pool.app_client_id}
    outputs: dict[str, Any] = json.loads(template.output("AmplifyOutputs", names))
    outputs["custom"]["gradium_token_url"] = token_url
    outputs["custom"]["user_pool_endpoint"] = cognito_endpoint
    return outputs


def stable_pool_name(fresh: bool) -> str:
    """The local pool's name, kept in STATE_FILE across restarts (a new one with `fresh`).

    moto derives the pool's and the app client's ids from the pool's name and settings when its id strategy
    is HASH (MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY, moto/cognitoidp/utils.py `generate_id`), so the same
    name gives the same ids: an app's dev configuration outlives a restart, and so do its ID tokens (the
    pool signs with this checkout's key, SIGNING_KEY_FILE, kept too), though not its refresh tokens.
    """
    os.environ["MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY"] = "HASH"
    os.environ["MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY"] = "HASH"
    state = json.loads(STATE_FILE.read_text()) if STATE_FILE.exists() and not fresh else {}
    if "pool_name" not in state:
        state["pool_name"] = f"local-users-{uuid.uuid4().hex[:8]}"
        STATE_FILE.parent.mkdir(exist_ok=True)
        STATE_FILE.write_text(json.dumps(state) + "\n")
    return str(state["pool_name"])
