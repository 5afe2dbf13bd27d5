"""Unit-test fixtures: Secrets Manager on moto (in-process) with a count of the reads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from moto import mock_aws

from broker.api_key import ApiKeySource

NAME = "gradium-token-broker/api-key"


class CountingSecrets:
    """A Secrets Manager client on moto that counts GetSecretValue calls through botocore's events."""

    def __init__(self) -> None:
        self.client = boto3.client("secretsmanager", region_name="us-east-1")
        self.reads = 0
        self.client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._count)

    def _count(self, **_: object) -> None:
        self.reads += 1

    def source(
        self,
        ttl: int = 300,
        max_staleness: float = 4 * 3600,
        clock: Callable[[], float] = time.monotonic,
        on_failure: Callable[[str], None] = lambda reason: None,
    ) -> ApiKeySource:
        provider = SecretsProvider(boto3_client=self.client)
        return ApiKeySource(NAME, ttl, provider, max_staleness, on_failure=on_failure, clock=clock)


@pytest.fixture
def secrets() -> Iterator[CountingSecrets]:
    with mock_aws():
        yield CountingSecrets()
