"""What keeps secrets out of the logs, shared by every handler of the broker."""

from __future__ import annotations

import hashlib
import logging


def pin_sdk_loggers() -> None:
    """Keep the SDK and HTTP loggers at INFO or above, whatever the function's or the runtime's level.

    Lambda's own log-level switch (AWS_LAMBDA_LOG_LEVEL=DEBUG with the JSON log format) sets the root
    logger, and at DEBUG botocore logs every response body: GetSecretValue's holds the API key.
    """
    for name in ("boto3", "botocore", "s3transfer", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).level))


def unexpected_fields(exc: BaseException) -> dict[str, str]:
    """Log fields of an unexpected exception: its class and the code location, never its text,
    which may quote a setting, a header or the key."""
    import traceback  # only on this rare path: it costs a few milliseconds of cold start

    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "unknown"
    return {"error": type(exc).__name__, "where": where}


def token_fingerprint(token: str) -> str:
    """A short digest of a token: it matches Gradium's usage records and our audit line, never the token."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()[:16]
