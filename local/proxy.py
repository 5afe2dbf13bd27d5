"""API Gateway's REST proxy integration (payload format 1.0): the event a request becomes, and the HTTP
answer the function's response becomes."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from local.sam_template import ACCOUNT_ID


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers, body."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Request:
    """What API Gateway knows of a request when it calls the function."""

    method: str
    stage: str
    path: str  # below the stage
    query: str
    headers: Iterable[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str


def proxy_event(
    request: Request, resource: str, claims: dict[str, str] | None, request_id: str, now: float | None = None
) -> dict[str, Any]:
    """The event API Gateway sends the function for `request` on the route `resource` (its path template,
    e.g. /gradium-token); `claims` are the Cognito authorizer's, if it ran."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    headers = {name: values[-1] for name, values in multi_headers.items()}
    try:
        text, encoded = (request.body.decode(), False) if request.body else (None, False)
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(request.body).decode(), True
    now = time.time() if now is None else now
    context: dict[str, Any] = {
        "resourceId": "local",
        "resourcePath": resource,
        "httpMethod": request.method,
        "extendedRequestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "path": f"/{request.stage}{request.path}",
        "accountId": ACCOUNT_ID,
        "protocol": request.protocol,
        "stage": request.stage,
        "domainPrefix": "localhost",
        "requestTimeEpoch": int(now * 1000),
        "requestId": request_id,
        "identity": {"sourceIp": request.source_ip, "userAgent": headers.get("User-Agent")},
        "domainName": headers.get("Host", "localhost"),
        "apiId": "local",
    }
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": context,
        "body": text,
        "isBase64Encoded": encoded,
    }


def proxy_answer(payload: Any) -> Answer | None:
    """The function's proxy response as HTTP, or None where API Gateway would answer 502."""
    if not isinstance(payload, dict) or "errorMessage" in payload or "statusCode" not in payload:
        return None
    try:
        status = int(payload["statusCode"])
        headers = {str(k): str(v) for k, v in (payload.get("headers") or {}).items()}
        for name, values in (payload.get("multiValueHeaders") or {}).items():
            headers[str(name)] = ", ".join(str(value) for value in values)
        body = payload.get("body") or ""
        data = base64.b64decode(body) if payload.get("isBase64Encoded") else str(body).encode()
    except (TypeError, ValueError, AttributeError):
        return None
    return Answer(status, {"Content-Type": "application/json"} | headers, data)
