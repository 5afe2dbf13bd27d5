"""Scheduled: publish the Gradium account's balance as a metric, so an alarm fires before it runs out.

Same secret, same Gradium client and same logging rules as the token function (app.py); the key is sent
to the configured Gradium host only, and no failure's text reaches the logs or the result.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from api_key import SECRETS_MANAGER_CONFIG, ApiKeySource
from config import ConfigError, MonitorSettings
from errors import BrokerError, Misconfigured
from gradium_client import Credits, GradiumClient
from log_safety import pin_sdk_loggers, unexpected_fields

logger = Logger()
metrics = Metrics()
pin_sdk_loggers()


class CreditsMonitor:
    """Reads the balance with the API key from the secret."""

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


def _build() -> CreditsMonitor | None:
    try:
        return CreditsMonitor(MonitorSettings.from_env())
    except ConfigError as exc:
        logger.error("Configuration refused", extra={"reason": str(exc)})
    except Exception as exc:
        logger.error("Start-up failed", extra=unexpected_fields(exc))
    return None


MONITOR = _build()


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """EventBridge Scheduler target: publish GradiumCreditsRemaining (and GradiumCreditsAllocated).

    A failed check is logged, counted as CreditsCheckFailures (alarmed) and returned, not raised: a
    raise would print its text and make the scheduler retry a call that is due again within the hour.
    """
    try:
        if MONITOR is None:
            raise Misconfigured("configuration was refused at start-up")
        credits = MONITOR.check()
    except BrokerError as exc:
        logger.error("Credits check failed", extra={"error": type(exc).__name__, "detail": str(exc)})
        return _failed(exc.public_message)
    except Exception as exc:
        logger.error("Credits check failed unexpectedly", extra=unexpected_fields(exc))
        return _failed(BrokerError.public_message)
    metrics.add_metric(name="GradiumCreditsRemaining", unit=MetricUnit.Count, value=credits.remaining)
    result: dict[str, Any] = {"status": "ok", "remaining_credits": credits.remaining}
    if credits.allocated is not None:
        metrics.add_metric(name="GradiumCreditsAllocated", unit=MetricUnit.Count, value=credits.allocated)
        result["allocated_credits"] = credits.allocated
    logger.info("Gradium credits", extra=result)
    return result


def _failed(message: str) -> dict[str, Any]:
    metrics.add_metric(name="CreditsCheckFailures", unit=MetricUnit.Count, value=1)
    return {"status": "failed", "error": message}
