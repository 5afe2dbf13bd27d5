"""Who is calling: the Cognito claims API Gateway's authorizer put in the event, checked again here.

The function does not trust that an authorizer ran: `sam local start-api` skips Cognito authorizers
and a misconfigured API may not have one, so a request without claims is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker.errors import BadRequest, Forbidden, Unauthenticated


@dataclass(frozen=True)
class Caller:
    """A signed-in user of the app, as the authorizer's claims describe them."""

    sub: str
    groups: frozenset[str]
    client_id: str = ""  # the ID token's `aud`: the app client it was issued to ("" if absent)


def caller_from_event(event: Any) -> Caller:
    """Return the caller of an API Gateway REST proxy event, or raise Unauthenticated/BadRequest."""
    if not isinstance(event, dict):
        raise BadRequest("event is not a JSON object")
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, dict) else None
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(sub, str) or not sub.strip():
        raise Unauthenticated("no authorizer claims with a sub")
    client_id = claims.get("aud")
    return Caller(
        sub=sub.strip(),
        groups=parse_groups(claims.get("cognito:groups")),
        client_id=client_id.strip() if isinstance(client_id, str) else "",
    )


def require_client(caller: Caller, allowed: frozenset[str]) -> None:
    """Raise Forbidden unless `allowed` is empty or the caller's ID token was issued to one of its app
    clients. API Gateway's Cognito authorizer does not check `aud`: without this, every app client of a
    shared pool (one with self sign-up, say) could mint tokens."""
    if allowed and caller.client_id not in allowed:
        raise Forbidden("caller's app client is not allowed")


def require_group(caller: Caller, group: str | None) -> None:
    """Raise Forbidden unless `group` is unset or the caller belongs to it."""
    if group is not None and group not in caller.groups:
        raise Forbidden("caller is not in the required group")


def parse_groups(value: object) -> frozenset[str]:
    """Parse `cognito:groups`: REST APIs send "a,b", HTTP APIs "[a b]"; a real list is accepted too."""
    if isinstance(value, list):
        items = [str(item) for item in value]
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        items = text.replace(",", " ").split()
    else:
        items = []
    return frozenset(item.strip() for item in items if item.strip())
