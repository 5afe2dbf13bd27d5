"""caller_from_event and require_group: the function's own check of the authorizer's claims."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from broker.caller import Caller, caller_from_event, parse_groups, require_client, require_group
from broker.errors import BadRequest, Forbidden, Unauthenticated

EVENTS = Path(__file__).resolve().parents[2] / "events"


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_the_signed_in_event_names_its_caller() -> None:
    caller = caller_from_event(event("signed_in.json"))
    assert caller.sub == "7d3f1c2a-9b8e-4f60-a1d2-3c4b5e6f7a80"
    assert caller.groups == {"voice-users", "beta-testers"}
    assert caller.client_id == "4q2h7k9m1n3p5r7t9v1x3z5b7d"  # the ID token's aud


def test_an_event_without_claims_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated) as refused:
        caller_from_event(event("no_claims.json"))
    assert refused.value.status == 401


@pytest.mark.parametrize(
    "request_context",
    [
        None,
        "x",
        {},
        {"authorizer": None},
        {"authorizer": {"claims": "sub=abc"}},
        {"authorizer": {"claims": {}}},
        {"authorizer": {"claims": {"sub": ""}}},
        {"authorizer": {"claims": {"sub": "   "}}},
        {"authorizer": {"claims": {"sub": 42}}},
        {"authorizer": {"principalId": "abc"}},
    ],
)
def test_missing_or_malformed_claims_are_unauthenticated(request_context: object) -> None:
    with pytest.raises(Unauthenticated):
        caller_from_event({"requestContext": request_context})


@pytest.mark.parametrize("bad_event", [None, [], "event", 42])
def test_an_event_that_is_not_an_object_is_a_bad_request(bad_event: object) -> None:
    with pytest.raises(BadRequest) as refused:
        caller_from_event(bad_event)
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("raw", "groups"),
    [
        ("voice-users,beta", {"voice-users", "beta"}),
        ("[voice-users beta]", {"voice-users", "beta"}),
        ("voice-users", {"voice-users"}),
        (["voice-users", "beta"], {"voice-users", "beta"}),
        ("", set()),
        ("[]", set()),
        (None, set()),
        (7, set()),
    ],
)
def test_group_claims_in_every_shape_api_gateway_sends(raw: object, groups: set[str]) -> None:
    assert parse_groups(raw) == groups


def test_require_group() -> None:
    member = Caller(sub="s", groups=frozenset({"voice-users"}))
    require_group(member, None)
    require_group(member, "voice-users")
    with pytest.raises(Forbidden) as refused:
        require_group(member, "admins")
    assert refused.value.status == 403
    with pytest.raises(Forbidden):
        require_group(Caller(sub="s", groups=frozenset({"voice-users-2"})), "voice-users")


def test_a_token_of_a_listed_app_client_passes() -> None:
    caller = caller_from_event(event("signed_in.json"))
    require_client(caller, frozenset({"4q2h7k9m1n3p5r7t9v1x3z5b7d", "7otherwebclient0000000000"}))


def test_no_allow_list_lets_any_app_client_of_the_pool_in() -> None:
    require_client(caller_from_event(event("other_app_client.json")), frozenset())


@pytest.mark.parametrize("name", ["other_app_client.json", "no_aud"])
def test_a_token_of_another_app_client_is_forbidden(name: str) -> None:
    if name == "no_aud":
        no_aud = event("signed_in.json")
        del no_aud["requestContext"]["authorizer"]["claims"]["aud"]
        caller = caller_from_event(no_aud)
    else:
        caller = caller_from_event(event(name))
    with pytest.raises(Forbidden) as refused:
        require_client(caller, frozenset({"4q2h7k9m1n3p5r7t9v1x3z5b7d"}))
    assert refused.value.status == 403
