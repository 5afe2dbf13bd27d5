"""Token quota: a per-user per-minute and daily limit, and a ceiling on all users' tokens per UTC day.

Each user has one item per UTC day (`<sub>#<day>`) holding the day's count (`tokens`) and a counter per
minute of the day (`m<minute>`). One update adds 1 to both only while both are under their limits, so
concurrent requests can never overshoot either and a request costs one write, as with the minute alone.
The update also removes the counters of the previous minutes: a stale counter survives only a gap of
more than that many minutes, so a day holds at most 1440 / (STALE_MINUTES_REMOVED + 1) of them and the
item stays under 1 KB, one write request unit, whatever the limits. Items expire through DynamoDB TTL.

The service's daily ceiling is one more item per day (`CEILING_KEY#<day>`), counted by a second conditional
update after the user's, so that a user over their own limit never touches it. When the ceiling refuses, the
user's count is given back, and the environment remembers that the ceiling is reached until the next UTC
day: the count never falls within a day, so every later request of that day is refused without a write.
One item takes about 1,000 writes a second (DynamoDB's per-partition limit): docs/design.md says what
happens above that and how it would be sharded.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from broker.errors import DailyQuotaExceeded, QuotaExceeded, QuotaUnavailable, ServiceDailyLimitReached

MINUTE_SECONDS = 60
DAY_SECONDS = 86_400
# Minute counters removed behind the current one by each update (see the module docstring).
STALE_MINUTES_REMOVED = 15
# The ceiling's item: a Cognito sub is a UUID, so no user's item can take this key.
CEILING_KEY = "all-users"
# Short timeouts: the check sits in front of every token, and a slow table must not eat the budget.
DYNAMODB_CONFIG = Config(
    connect_timeout=0.5, read_timeout=0.5, retries={"mode": "standard", "total_max_attempts": 2}
)


class TokenQuota:
    """At most `per_minute` tokens per user per minute, `per_day` per user per UTC day, and `ceiling` for
    all users together per UTC day (0: that limit is off)."""

    def __init__(
        self,
        table_name: str,
        per_minute: int,
        per_day: int,
        client: Any,
        clock: Callable[[], float] = time.time,
        ceiling: int = 0,
    ) -> None:
        """`client` is a boto3 DynamoDB client, best made with DYNAMODB_CONFIG."""
        if not (per_minute or per_day or ceiling):
            raise ValueError("a quota needs a per-minute or a daily limit, or a ceiling")
        self._table_name = table_name
        self._per_minute = per_minute
        self._per_day = per_day
        self._ceiling = ceiling
        self._client = client
        self._clock = clock
        self._ceiling_reached_day: int | None = None

    def consume(self, sub: str) -> None:
        """Count one token for `sub`, and for the service's day.

        Raises QuotaExceeded (429, with the seconds to the next minute), DailyQuotaExceeded (429, with the
        seconds to the next UTC day) over a user's limit, ServiceDailyLimitReached (429, to the next UTC
        day) over the ceiling, and QuotaUnavailable (503) when DynamoDB cannot answer; the caller decides
        whether to fail open.
        """
        now = self._clock()
        day = int(now) // DAY_SECONDS
        day_end = (day + 1) * DAY_SECONDS
        if self._ceiling and self._ceiling_reached_day == day:
            raise ServiceDailyLimitReached(retry_after=_seconds_until(day_end, now))
        minute = self._consume_for_user(sub, now) if (self._per_minute or self._per_day) else None
        if not self._ceiling:
            return
        try:
            self._update(
                {"pk": {"S": f"{CEILING_KEY}#{day}"}},
                "ADD #tokens :one SET #expires = if_not_exists(#expires, :expires)",
                "attribute_not_exists(#tokens) OR #tokens < :ceiling",
                {"#tokens": "tokens", "#expires": "expires_at"},
                {
                    ":one": {"N": "1"},
                    ":expires": {"N": str(day_end + MINUTE_SECONDS)},
                    ":ceiling": {"N": str(self._ceiling)},
                },
            )
        except _Refused:
            self._ceiling_reached_day = day
            if minute is not None:
                self._give_back(sub, now, minute)
            raise ServiceDailyLimitReached(retry_after=_seconds_until(day_end, now)) from None
        except QuotaUnavailable:
            if minute is not None:
                self._give_back(sub, now, minute)
            raise

    def _consume_for_user(self, sub: str, now: float) -> int:
        """Count one token against `sub`'s own limits; returns the minute of the day it was counted in."""
        day, second_of_day = divmod(int(now), DAY_SECONDS)
        minute = second_of_day // MINUTE_SECONDS
        day_end = (day + 1) * DAY_SECONDS
        names = {"#tokens": "tokens", "#expires": "expires_at"}
        values = {":one": {"N": "1"}, ":expires": {"N": str(day_end + MINUTE_SECONDS)}}
        adds, conditions, removes = ["#tokens :one"], [], []
        if self._per_day:
            conditions.append("(attribute_not_exists(#tokens) OR #tokens < :per_day)")
            values[":per_day"] = {"N": str(self._per_day)}
        if self._per_minute:
            names["#minute"] = f"m{minute}"
            adds.append("#minute :one")
            conditions.append("(attribute_not_exists(#minute) OR #minute < :per_minute)")
            values[":per_minute"] = {"N": str(self._per_minute)}
            for back in range(1, min(STALE_MINUTES_REMOVED, minute) + 1):
                names[f"#stale{back}"] = f"m{minute - back}"
                removes.append(f"#stale{back}")
        update = f"ADD {', '.join(adds)} SET #expires = if_not_exists(#expires, :expires)"
        if removes:
            update += f" REMOVE {', '.join(removes)}"
        try:
            self._update(item_key(sub, now), update, " AND ".join(conditions), names, values)
        except _Refused as refused:
            raise self._refusal(refused.item, now, day_end) from None
        return minute

    def _give_back(self, sub: str, now: float, minute: int) -> None:
        """Undo `sub`'s count of this request (the ceiling refused it, or could not be read): best effort,
        on the day's item only if it exists."""
        names = {"#tokens": "tokens"}
        values = {":minus_one": {"N": "-1"}}
        update = "ADD #tokens :minus_one"
        if self._per_minute:
            names["#minute"] = f"m{minute}"
            update += ", #minute :minus_one"
        # If it fails, the count stays: the user loses one token of the day, never gains one.
        with contextlib.suppress(_Refused, QuotaUnavailable):
            self._update(item_key(sub, now), update, "attribute_exists(#tokens)", names, values)

    def _update(
        self,
        key: dict[str, Any],
        update: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> None:
        """One conditional UpdateItem; _Refused (with the item as it was) when the condition fails."""
        try:
            self._client.update_item(
                TableName=self._table_name,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                # The refused item tells which limit bit, at no extra cost: no second read.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            error = exc.response.get("Error", {}).get("Code")
            if error == "ConditionalCheckFailedException":
                raise _Refused(exc.response.get("Item", {})) from None
            raise QuotaUnavailable(f"quota table failed ({error})") from None
        except BotoCoreError as exc:
            raise QuotaUnavailable(f"quota table failed ({type(exc).__name__})") from None

    def _refusal(self, item: dict[str, Any], now: float, day_end: int) -> QuotaExceeded:
        spent_today = _count(item.get("tokens"))
        if self._per_day and spent_today >= self._per_day:
            return DailyQuotaExceeded(retry_after=_seconds_until(day_end, now))
        minute_end = (int(now) // MINUTE_SECONDS + 1) * MINUTE_SECONDS
        return QuotaExceeded(retry_after=_seconds_until(minute_end, now))


def _seconds_until(end: int, now: float) -> int:
    """A Retry-After: whole seconds from `now` to `end`, rounded up, at least 1."""
    return max(1, math.ceil(end - now))


class _Refused(Exception):
    """A conditional update's condition failed; `item` is the item as it was."""

    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__("condition failed")
        self.item = item


def item_key(sub: str, now: float) -> dict[str, Any]:
    """The key of `sub`'s item for the UTC day of `now`."""
    return {"pk": {"S": f"{sub}#{int(now) // DAY_SECONDS}"}}


def spent(item: dict[str, Any], now: float) -> tuple[int, int]:
    """What an item (GetItem's, in DynamoDB's JSON) counts: tokens today and in the minute of `now`."""
    minute = int(now) % DAY_SECONDS // MINUTE_SECONDS
    return _count(item.get("tokens")), _count(item.get(f"m{minute}"))


def _count(attribute: object) -> int:
    """A DynamoDB number attribute ({"N": "12"}) as an int; 0 if absent or odd."""
    if isinstance(attribute, dict) and isinstance(attribute.get("N"), str):
        try:
            return int(attribute["N"])
        except ValueError:
            return 0
    return 0
