"""Shared fixtures: fake AWS credentials (nothing reaches AWS), a Gradium stand-in, a moto server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from local.gradium_standin import GradiumStandIn
from local.services import STANDIN_API_KEY, LocalServices, local_services


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials that no AWS account accepts, so a test that escaped moto fails instead of calling AWS."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture
def standin() -> Iterator[GradiumStandIn]:
    """A Gradium stand-in on a free loopback port that accepts STANDIN_API_KEY."""
    with GradiumStandIn({STANDIN_API_KEY}) as server:
        yield server


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalServices]:
    """One moto server for the session (tests use their own secret names and stand-ins)."""
    with local_services(with_standin=False) as running:
        yield running


@pytest.fixture
def secret_name() -> str:
    return f"gradium-token-broker/test/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def within_one_minute() -> None:
    """For a test whose calls must share one UTC minute of the per-minute quota (it counts per minute):
    the test starts at least 5 s before a minute ends."""
    left = 60 - time.time() % 60
    if left < 5:
        time.sleep(left + 0.05)
