"""Failures the broker answers with a JSON error: each carries its HTTP status and a public message.

The public message is the only text of a failure that reaches a caller; it never holds an upstream
body, a key, a token or an exception's text.
"""

from __future__ import annotations


class BrokerError(Exception):
    """A request failed in a way the caller is told about."""

    status: int = 500
    public_message: str = "Internal error"

    def __init__(self, detail: str = "", *, public_message: str | None = None) -> None:
        # `detail` is for our logs only: it must never hold a secret or an upstream body.
        super().__init__(detail or self.public_message)
        if public_message is not None:
            self.public_message = public_message


class BadRequest(BrokerError):
    status = 400
    public_message = "Malformed request"


class Unauthenticated(BrokerError):
    status = 401
    public_message = "Unauthorized"


class Forbidden(BrokerError):
    status = 403
    public_message = "Forbidden"


class Misconfigured(BrokerError):
    status = 500
    public_message = "Token service is misconfigured"


class ApiKeyUnavailable(BrokerError):
    status = 500
    public_message = "Gradium API key is not available"


class UpstreamError(BrokerError):
    """Gradium failed; `kind` names the failure for metrics (http_5xx, bad_body, ...)."""

    status = 502
    public_message = "Gradium token service failed"

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(detail or kind)
        self.kind = kind


class UpstreamRejectedKey(UpstreamError):
    """Gradium answered 401/403: the API key is wrong, revoked or rotated."""

    def __init__(self, status: int) -> None:
        super().__init__("rejected_key", f"Gradium answered {status}")


class UpstreamTimeout(UpstreamError):
    status = 504
    public_message = "Gradium token service timed out"

    def __init__(self, detail: str = "") -> None:
        super().__init__("timeout", detail)
