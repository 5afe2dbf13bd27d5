"""POST /gradium-token: give a signed-in user a fresh single-use Gradium token.

The handler only parses the event, calls the broker and shapes the answer; what each step means
lives in caller.py, token_broker.py, gradium_client.py and api_key.py.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from api_key import ApiKeySource
from caller import caller_from_event, require_group
from config import ConfigError, Settings
from errors import BrokerError, Misconfigured, UpstreamError
from gradium_client import GradiumClient
from token_broker import TokenBroker

logger = Logger()
metrics = Metrics()

RESPONSE_HEADERS = {
    "Content-Type": "application/json",
    # A token is single-use: no browser, proxy or CDN may keep a copy.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def _build() -> tuple[Settings | None, TokenBroker | None]:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        logger.error("Configuration refused", extra={"reason": str(exc)})
        return None, None
    broker = TokenBroker(
        ApiKeySource(settings.secret_id, settings.secret_cache_ttl_seconds),
        GradiumClient(settings.token_url),
        settings.timeout_seconds,
    )
    return settings, broker


# Built once per environment, during init: the SDK client, the secret cache and the kept-alive
# connection to Gradium then serve every later invocation.
SETTINGS, BROKER = _build()


# log_event=False is explicit so POWERTOOLS_LOGGER_LOG_EVENT=true cannot log the caller's JWT.
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False, clear_state=True
)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """API Gateway REST proxy handler for POST /gradium-token."""
    try:
        caller = caller_from_event(event)
        logger.append_keys(caller_sub=caller.sub)
        if SETTINGS is None or BROKER is None:
            raise Misconfigured("configuration was refused at start-up")
        require_group(caller, SETTINGS.required_group)
        issued = BROKER.issue()
    except BrokerError as exc:
        return _failure(exc)

    metrics.add_metric(name="TokensIssued", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=issued.upstream_ms)
    logger.info(
        "Token issued",
        extra={
            "audit": "token_issued",
            "expires_at": issued.minted.expires_at,
            "upstream_ms": round(issued.upstream_ms, 1),
            "upstream_attempts": issued.minted.attempts,
            "key_refreshed": issued.key_refreshed,
            # A short digest lets an operator match Gradium's usage records without the token itself.
            "token_sha256": hashlib.sha256(issued.minted.token.encode()).hexdigest()[:16],
        },
    )
    return _response(200, {"token": issued.minted.token, "expires_at": issued.minted.expires_at})


def _failure(exc: BrokerError) -> dict[str, Any]:
    log = logger.error if exc.status >= 500 else logger.warning
    log("Request refused", extra={"status": exc.status, "error": type(exc).__name__, "detail": str(exc)})
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    if isinstance(exc, UpstreamError):
        metrics.add_metric(name="UpstreamErrors", unit=MetricUnit.Count, value=1)
        with single_metric(
            name="UpstreamErrorsByKind",
            unit=MetricUnit.Count,
            value=1,
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="kind", value=exc.kind)
    return _response(exc.status, {"error": exc.public_message})


def _response(status: int, body: dict[str, str]) -> dict[str, Any]:
    return {"statusCode": status, "headers": dict(RESPONSE_HEADERS), "body": json.dumps(body)}
