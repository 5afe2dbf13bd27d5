"""Scheduled: publish the Gradium account's balance as a metric, so an alarm fires before it runs out.

Same secret, same Gradium client and same logging rules as the token function (built in service.py); the
key is sent to the configured Gradium host only, and no failure's text reaches the logs or the result.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from broker.errors import BrokerError, Misconfigured
from broker.log_safety import pin_sdk_loggers, unexpected_fields
from broker.service import build_monitor, build_once

logger = Logger()
metrics = Metrics()
pin_sdk_loggers()

MONITOR = build_once(build_monitor, logger)


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
