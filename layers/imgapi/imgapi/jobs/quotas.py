"""Per-user limits on submitting jobs: a rate per minute and a quota per UTC day.

Every job a user asks for costs compute or DashScope money, so each accepted submit is charged to
two counters in the usage table (one per user and minute, one per user and day) in one DynamoDB
transaction whose conditions refuse the charge once a counter is at its limit: concurrent submits
can never go over, and a refused submit charges nothing. A submit that fails after being charged
(storage error) gives its charge back. A limit of 0 turns that counter off.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from imgapi.core import aws
from imgapi.core.errors import ServiceUnavailable, TooManyRequests
from imgapi.core.observability import logger
from imgapi.core.settings import get_settings

DAY = 86400
MINUTE = 60


@dataclass(frozen=True)
class _Counter:
    key: str
    limit: int
    window_ends: int  # epoch seconds
    what: str
    code: str  # the 429's code


@dataclass(frozen=True)
class Charge:
    """What one admitted job was charged to, so a failed submit can give it back."""

    keys: tuple[str, ...]


def _counters(owner: str, now: float) -> list[_Counter]:
    settings = get_settings()
    minute, day = int(now // MINUTE), int(now // DAY)
    counters = [
        _Counter(f"minute#{owner}#{minute}", settings.submits_per_minute, (minute + 1) * MINUTE,
                 f"{settings.submits_per_minute} submits a minute", "rate_limited"),
        _Counter(f"day#{owner}#{day}", settings.jobs_per_day, (day + 1) * DAY,
                 f"{settings.jobs_per_day} jobs a day (UTC)", "quota_exceeded"),
    ]
    return [counter for counter in counters if counter.limit > 0]


def admit_job(owner: str, *, now: float | None = None) -> Charge:
    """Charge one job to the owner's counters, or refuse with 429 and Retry-After (when the full counter's
    window ends). With no usage table configured (or every limit 0) nobody is limited."""
    now = time.time() if now is None else now
    table_name = get_settings().usage_table
    counters = _counters(owner, now) if table_name else []
    if not counters:
        return Charge(())
    items = [{"Update": {
        "TableName": table_name,
        "Key": {"counter": {"S": counter.key}},
        "UpdateExpression": "ADD #n :one SET expires_at = :expires",
        "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
        "ExpressionAttributeNames": {"#n": "used"},
        # Kept a day past the window: DynamoDB's TTL deletes rows up to a couple of days late anyway.
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": str(counter.limit)},
                                      ":expires": {"N": str(counter.window_ends + DAY)}},
    }} for counter in counters]
    try:
        aws.client("dynamodb").transact_write_items(TransactItems=items)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise _unavailable() from exc
        # DynamoDB says per item why the transaction was cancelled.
        reasons = exc.response.get("CancellationReasons") or []
        full = [counter for counter, reason in zip(counters, reasons) if reason.get("Code") == "ConditionalCheckFailed"]
        if not full:  # cancelled for another reason (a concurrent transaction on the same counter): retryable
            raise ServiceUnavailable("too many submits at the same moment; try again", code="submit_conflict",
                                     headers={"Retry-After": "1"}) from exc
        # The latest window to end is the earliest time a retry can succeed.
        counter = max(full, key=lambda c: c.window_ends)
        wait = max(1, int(counter.window_ends - now) + 1)
        logger.info("submit refused by a usage limit", extra={"counter": counter.key.split("#")[0]})
        raise TooManyRequests(f"usage limit reached: {counter.what}; try again in {wait} s",
                              code=counter.code, headers={"Retry-After": str(wait)}) from exc
    except BotoCoreError as exc:
        raise _unavailable() from exc
    return Charge(tuple(counter.key for counter in counters))


def refund(charge: Charge) -> None:
    """Give back what a submit was charged when the job was not made after all. Best effort: a lost refund
    costs the user one unit of a window, never more."""
    table_name = get_settings().usage_table
    for key in charge.keys:
        try:
            aws.client("dynamodb").update_item(
                TableName=table_name, Key={"counter": {"S": key}}, UpdateExpression="ADD #n :minus",
                ConditionExpression="#n > :zero", ExpressionAttributeNames={"#n": "used"},
                ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}})
        except (ClientError, BotoCoreError):
            logger.exception("could not refund a usage charge", extra={"counter": key.split("#")[0]})


def _unavailable() -> ServiceUnavailable:
    logger.exception("usage limits could not be checked")
    return ServiceUnavailable("the submit could not be checked against usage limits because a storage service "
                              "failed; try again", code="submit_failed")
