"""What each function builds once per execution environment, and how: the wiring behind the handlers.

Built during init, the SDK clients, the secret cache and the kept-alive connection to Gradium serve every
later invocation of the environment. A build that fails leaves None: the handler then answers each request
with its own JSON error instead of the runtime printing the exception (whose text may quote a setting).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from broker.api_key import SECRETS_MANAGER_CONFIG, ApiKeySource
from broker.circuit_breaker import CircuitBreaker
from broker.config import ConfigError, MonitorSettings, Settings
from broker.gradium_client import Credits, GradiumClient
from broker.log_safety import unexpected_fields
from broker.quota import DYNAMODB_CONFIG, TokenQuota
from broker.token_broker import TokenBroker


def build_once[T](build: Callable[[], T], logger: Logger) -> T | None:
    """`build()`, or None with the reason logged by class and place, never by its text."""
    try:
        return build()
    except ConfigError as exc:
        logger.error("Configuration refused", extra={"reason": str(exc)})
    except Exception as exc:
        logger.error("Start-up failed", extra=unexpected_fields(exc))
    return None


@dataclass(frozen=True)
class Service:
    """The token function's parts."""

    settings: Settings
    broker: TokenBroker
    quota: TokenQuota | None
    traced: Callable[[str], contextlib.AbstractContextManager[Any]]


def build_service(logger: Logger, metrics: Metrics) -> Service:
    """The token function's parts from its settings; failures it meets later go to the handler's logger
    and metrics (flushed with the request's own)."""
    settings = Settings.from_env()
    # One boto3 session for both clients: the second client then reuses the first one's loaded
    # endpoint and retry data (about 15 ms instead of 90 ms of cold start).
    session = boto3.session.Session()
    secrets = SecretsProvider(boto_config=SECRETS_MANAGER_CONFIG, boto3_session=session)
    api_key = ApiKeySource(
        settings.secret_id,
        settings.secret_cache_ttl_seconds,
        secrets,
        settings.secret_max_staleness_seconds,
        on_failure=lambda reason: _secret_refresh_failed(logger, metrics, reason),
    )
    breaker = None
    if settings.breaker_failures:
        breaker = CircuitBreaker(
            settings.breaker_failures,
            settings.breaker_cooldown_seconds,
            lambda: _circuit_opened(logger, metrics),
        )
    broker = TokenBroker(api_key, GradiumClient(settings.token_url), settings.timeout_seconds, breaker)
    quota = None
    if settings.quota_table_name and settings.quota_enabled:
        dynamodb = session.client("dynamodb", config=DYNAMODB_CONFIG)
        quota = TokenQuota(
            settings.quota_table_name,
            settings.tokens_per_user_per_minute,
            settings.tokens_per_user_per_day,
            dynamodb,
            ceiling=settings.daily_token_ceiling,
        )
    return Service(settings, broker, quota, tracing(settings.tracing_enabled))


def _secret_refresh_failed(logger: Logger, metrics: Metrics, reason: str) -> None:
    # Alarmed (SecretRefreshFailuresAlarm): the last good key serves until it is too old, and a key
    # Gradium refused cannot be replaced until the secret can be read again.
    logger.warning("Secret refresh failed", extra={"reason": reason})
    metrics.add_metric(name="SecretRefreshFailures", unit=MetricUnit.Count, value=1)


def _circuit_opened(logger: Logger, metrics: Metrics) -> None:
    logger.warning("Gradium circuit opened; answering 503 until a probe succeeds")
    metrics.add_metric(name="CircuitOpened", unit=MetricUnit.Count, value=1)


def tracing(enabled: bool) -> Callable[[str], contextlib.AbstractContextManager[Any]]:
    """X-Ray subsegments when tracing is on; otherwise nothing, not even the X-Ray SDK's import."""
    if not enabled:
        return lambda name: contextlib.nullcontext()
    from aws_lambda_powertools import Tracer  # patches botocore and http.client: AWS and Gradium calls

    tracer = Tracer()
    return tracer.provider.in_subsegment


class CreditsMonitor:
    """The credits monitor's parts: reads the balance with the API key from the secret."""

    def __init__(self, settings: MonitorSettings) -> None:
        provider = SecretsProvider(boto_config=SECRETS_MANAGER_CONFIG, boto3_session=boto3.session.Session())
        # A run an hour: the key is read afresh each time (no cache worth keeping, no last good key).
        self._api_key = ApiKeySource(settings.secret_id, 0, provider, 0)
        self._gradium = GradiumClient(settings.token_url)
        self._timeout_seconds = settings.timeout_seconds

    def check(self) -> Credits:
        """The balance; raises a BrokerError (ApiKeyUnavailable, UpstreamError...) on any failure."""
        key = self._api_key.get()
        return self._gradium.get_credits(key, time.monotonic() + self._timeout_seconds)


def build_monitor() -> CreditsMonitor:
    return CreditsMonitor(MonitorSettings.from_env())
