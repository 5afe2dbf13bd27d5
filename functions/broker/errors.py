"""Failures the broker answers with a JSON error: each carries its HTTP status and a public message.

The public message is the only text of a failure that reaches a caller; it never holds an upstream
body, a key, a token or an exception's text.
"""

from __future__ import annotations


class BrokerError(Exception):
    """A request failed in a way the caller is told about."""

    status: int = 500
    public_message: str = "Internal error"
    metric: str | None = None  # the EMF metric that counts this failure, if any
    retry_after: int | None = None  # seconds the caller should wait, sent as Retry-After

    def __init__(self, detail: str = "", *, public_message: str | None = None) -> None:
        # `detail` is for our logs only: it must never hold a secret or an upstream body.
        super().__init__(detail or self.public_message)
        if public_message is not None:
            self.public_message = public_message

    def headers(self) -> dict[str, str]:
        """Extra response headers this failure calls for."""
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class BadRequest(BrokerError):
    status = 400
    public_message = "Malformed request"


class Unauthenticated(BrokerError):
    status = 401
    public_message = "Unauthorized"


class Forbidden(BrokerError):
    status = 403
    public_message = "Forbidden"


class QuotaExceeded(BrokerError):
    status = 429
    public_message = "Too many token requests; retry later"
    metric = "QuotaRejections"
    window = "per-minute"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"{self.window} quota exceeded, next window in {retry_after} s")
        self.retry_after = retry_after


class DailyQuotaExceeded(QuotaExceeded):
    """The caller's daily cap is spent: Retry-After runs to the next UTC day."""

    public_message = "Daily token limit reached; retry tomorrow"
    metric = "DailyQuotaRejections"
    window = "daily"


class ServiceDailyLimitReached(QuotaExceeded):
    """All users together have spent the service's daily ceiling (DAILY_TOKEN_CEILING): every caller waits
    for the next UTC day. Alarmed (DailyCeilingAlarm)."""

    public_message = "The service's daily token limit is reached for everyone; retry tomorrow"
    metric = "DailyCeilingRejections"
    window = "service's daily"


class QuotaUnavailable(BrokerError):
    status = 503
    public_message = "Token service is temporarily unavailable"
    metric = "QuotaCheckFailures"


class Misconfigured(BrokerError):
    status = 500
    public_message = "Token service is misconfigured"


class ApiKeyUnavailable(BrokerError):
    status = 500
    public_message = "Gradium API key is not available"


class UpstreamUnavailable(BrokerError):
    """The circuit breaker is open: Gradium is not even called until its cool-down has passed."""

    status = 503
    public_message = "Gradium token service is unavailable"
    metric = "CircuitRejections"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"circuit open, next probe in {retry_after} s")
        self.retry_after = retry_after


class UpstreamError(BrokerError):
    """Gradium failed; `kind` names the failure for metrics (http_5xx, bad_body, ...)."""

    status = 502
    public_message = "Gradium token service failed"
    metric = "UpstreamErrors"

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(detail or kind)
        self.kind = kind


class UpstreamRejectedKey(UpstreamError):
    """Gradium answered 401/403: the API key is wrong, revoked or rotated."""

    def __init__(self, status: int | None) -> None:
        """`status` is Gradium's 401 or 403, or None when the same key was refused moments ago."""
        detail = f"Gradium answered {status}" if status else "the key was refused moments ago; not retried"
        super().__init__("rejected_key", detail)


class UpstreamRateLimited(UpstreamError):
    """Gradium answered 429: passed on with its wait, not retried, since a retry deepens the limit."""

    status = 429
    public_message = "Gradium is rate limiting token requests; retry later"

    def __init__(self, retry_after: int) -> None:
        super().__init__("http_429", f"Gradium answered 429, retry after {retry_after} s")
        self.retry_after = retry_after


class UpstreamTimeout(UpstreamError):
    status = 504
    public_message = "Gradium token service timed out"

    def __init__(self, detail: str = "") -> None:
        super().__init__("timeout", detail)
