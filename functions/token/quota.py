"""Per-user token quota: one atomic conditional UpdateItem per request on a DynamoDB counter.

Each user has one item per minute window (`<sub>#<window>`); the update adds 1 only while the count is
under the limit, so concurrent requests can never overshoot it. Items expire through DynamoDB TTL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from errors import QuotaExceeded, QuotaUnavailable

WINDOW_SECONDS = 60
# Short timeouts: the check sits in front of every token, and a slow table must not eat the budget.
DYNAMODB_CONFIG = Config(
    connect_timeout=0.5, read_timeout=0.5, retries={"mode": "standard", "total_max_attempts": 2}
)


class TokenQuota:
    """At most `limit` tokens per user per minute window."""

    def __init__(
        self,
        table_name: str,
        limit: int,
        client: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`client` is a boto3 DynamoDB client, best made with DYNAMODB_CONFIG."""
        self._table_name = table_name
        self._limit = limit
        self._client = client
        self._clock = clock

    def consume(self, sub: str) -> None:
        """Count one token for `sub`.

        Raises QuotaExceeded (429, with the seconds to the next window) over the limit, and
        QuotaUnavailable (503) when DynamoDB cannot answer; the caller decides whether to fail open.
        """
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        window_end = (window + 1) * WINDOW_SECONDS
        try:
            self._client.update_item(
                TableName=self._table_name,
                Key={"pk": {"S": f"{sub}#{window}"}},
                UpdateExpression="ADD #tokens :one SET #expires = if_not_exists(#expires, :expires)",
                ConditionExpression="attribute_not_exists(#tokens) OR #tokens < :limit",
                ExpressionAttributeNames={"#tokens": "tokens", "#expires": "expires_at"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(self._limit)},
                    # Kept one window past its end, then DynamoDB's TTL removes it.
                    ":expires": {"N": str(window_end + WINDOW_SECONDS)},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise QuotaExceeded(retry_after=max(1, math.ceil(window_end - now))) from None
            raise QuotaUnavailable(
                f"quota table failed ({exc.response.get('Error', {}).get('Code')})"
            ) from None
        except BotoCoreError as exc:
            raise QuotaUnavailable(f"quota table failed ({type(exc).__name__})") from None
