"""POST /gradium-token: give a signed-in user a fresh single-use Gradium token.

The handler only parses the event, calls the domain and shapes the answer; what it calls is built once
per environment in service.py, and what each step means lives in caller.py, quota.py, token_broker.py,
gradium_client.py and api_key.py.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from broker.caller import Caller, caller_from_event, require_client, require_group
from broker.errors import BrokerError, Misconfigured, QuotaUnavailable, UpstreamError
from broker.log_safety import pin_sdk_loggers, token_fingerprint, unexpected_fields
from broker.service import Service, build_once, build_service

logger = Logger()
metrics = Metrics()

pin_sdk_loggers()  # before any client exists: botocore at DEBUG would log the secret's value

RESPONSE_HEADERS = {
    "Content-Type": "application/json",
    # A token is single-use: no browser, proxy or CDN may keep a copy.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


SERVICE = build_once(lambda: build_service(logger, metrics), logger)


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
        service = SERVICE
        if service is None:
            raise Misconfigured("configuration was refused at start-up")
        require_client(caller, service.settings.allowed_client_ids)
        require_group(caller, service.settings.required_group)
        # Only the call is traced, never its result: the token must not reach X-Ray. The quota is
        # counted inside, once Gradium is sure to be called (TokenBroker.issue).
        with service.traced("## issue_gradium_token"):
            issued = service.broker.issue(admit=lambda: _enforce_quota(service, caller))
        # Everything that could still fail comes before the token is counted and audited.
        response = _response(200, {"token": issued.minted.token, "expires_at": issued.minted.expires_at})
        # A short digest lets an operator match Gradium's usage records without the token itself.
        digest = token_fingerprint(issued.minted.token)
    except BrokerError as exc:
        return _failure(exc)
    except Exception as exc:
        # A bug must still answer JSON, and the runtime must not print the exception's text (which
        # may hold the key) to the logs and the error payload.
        logger.error("Unexpected failure", extra=unexpected_fields(exc))
        metrics.add_metric(name="UnexpectedErrors", unit=MetricUnit.Count, value=1)
        return _response(500, {"error": BrokerError.public_message})

    metrics.add_metric(name="TokensIssued", unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=round(issued.upstream_ms, 1)
    )
    # The audit record rides in the metrics' own JSON line (EMF metadata): one log line per token.
    audit = {
        "audit": "token_issued",
        "caller_sub": caller.sub,
        "correlation_id": logger.get_correlation_id(),
        "expires_at": issued.minted.expires_at,
        "upstream_attempts": issued.minted.attempts,
        "key_refreshed": issued.key_refreshed,
        "token_sha256": digest,
    }
    for key, value in audit.items():
        metrics.add_metadata(key=key, value=value)
    return response


def _enforce_quota(service: Service, caller: Caller) -> None:
    if service.quota is None:
        return
    try:
        service.quota.consume(caller.sub)
    except QuotaUnavailable as exc:
        if not service.settings.quota_fail_open:
            raise
        logger.warning(
            "Quota check failed; token issued anyway (QUOTA_FAIL_OPEN)", extra={"detail": str(exc)}
        )
        _count_failure(exc)


def _failure(exc: BrokerError) -> dict[str, Any]:
    log = logger.error if exc.status >= 500 else logger.warning
    log("Request refused", extra={"status": exc.status, "error": type(exc).__name__, "detail": str(exc)})
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    _count_failure(exc)
    return _response(exc.status, {"error": exc.public_message}, exc.headers())


def _count_failure(exc: BrokerError) -> None:
    if exc.metric:
        metrics.add_metric(name=exc.metric, unit=MetricUnit.Count, value=1)
    if isinstance(exc, UpstreamError):
        with single_metric(
            name="UpstreamErrorsByKind",
            unit=MetricUnit.Count,
            value=1,
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="kind", value=exc.kind)


def _response(
    status: int, body: dict[str, str], extra_headers: dict[str, str] | None = None
) -> dict[str, Any]:
    headers = RESPONSE_HEADERS | (extra_headers or {})
    origin = SERVICE.settings.allowed_origin if SERVICE else None
    if origin:
        # Without Expose-Headers a browser app cannot read a 429's Retry-After.
        headers |= {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin",
        }
    return {"statusCode": status, "headers": headers, "body": json.dumps(body)}
