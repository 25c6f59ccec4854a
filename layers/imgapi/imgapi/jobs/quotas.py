"""Per-user limits on submitting jobs: a rate over any 60 seconds and a quota per UTC day.

Every job a user asks for costs compute or DashScope money, so each accepted submit is charged.

The rate is a sliding window, exact: one item per user (`rate#<owner>`) holds `limit` slots `t0..t<limit-1>`,
each the time of an admission. A submit is admitted by writing its time into a slot whose time is at least 60 s
old (or empty), with one conditional UpdateItem on that slot. Every admission of the last 60 s therefore holds a
slot of its own: NO 60-second window admits more than the limit, across minute boundaries too (no extra burst).
A lost race (another submit took the slot) is retried with the item DynamoDB returns with the refusal
(ReturnValuesOnConditionCheckFailure), never read-then-write; with no free slot in it, 429.

The day is a counter per user and UTC day, charged with ADD under a condition that refuses it at the limit.
A refused submit charges nothing (a rate slot taken before a refused day quota is given back), and a submit
that fails after being charged (storage error) gives its charges back. A limit of 0 turns that limit off.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from imgapi.core import aws
from imgapi.core.errors import ServiceUnavailable, TooManyRequests
from imgapi.core.records import is_condition_failure
from imgapi.core.observability import logger
from imgapi.core.settings import get_settings

DAY = 86400
MINUTE = 60  # the rate's window: any 60 seconds
_RACE_RETRIES = 200  # each lost race means another submit took a slot meanwhile: bounded by the limit


@dataclass(frozen=True)
class Charge:
    """What one admitted job was charged to, so a failed submit can give it back."""

    keys: tuple[str, ...] = ()  # day counters, given back with ADD -1
    rate_slot: tuple[str, str, str] | None = None  # (rate key, slot attribute, the time written there)
    # The sliding minute as this admission left it: (submits in it, when its oldest leaves), for rate headers.
    window: tuple[int, float] | None = None


def _rate_key(owner: str) -> str:
    return f"rate#{owner}"


def _window(item: dict, now: float) -> tuple[int, float]:
    """(submits admitted in the last 60 s, when the oldest of them leaves the window), from the rate item."""
    times = (float(v["N"]) for k, v in item.items() if k[:1] == "t" and k[1:].isdigit())
    recent = [t for t in times if t > now - MINUTE]
    return len(recent), (min(recent) + MINUTE if recent else now)


def _take_rate_slot(owner: str, limit: int, now: float,
                    table_name: str) -> tuple[tuple[str, str, str], tuple[int, float]]:
    """Admission in the sliding window ((key, slot, time written), and the window as it left it), or 429
    rate_limited with Retry-After (when the oldest admission of the last 60 s leaves the window)."""
    client, key = aws.client("dynamodb"), _rate_key(owner)
    stamp, floor = repr(float(now)), now - MINUTE
    slots = [f"t{i}" for i in range(limit)]
    item = None
    for _ in range(_RACE_RETRIES):
        if item is None:
            slot = random.choice(slots)  # nothing known yet: a random slot, so parallel submits rarely collide
        else:
            taken = {s: float(item[s]["N"]) for s in slots if s in item and float(item[s]["N"]) > floor}
            free = [s for s in slots if s not in taken]
            if not free:
                wait = max(1, int(min(taken.values()) + MINUTE - now) + 1)
                logger.info("submit refused by a usage limit", extra={"counter": "rate"})
                raise TooManyRequests(f"usage limit reached: {limit} submits a minute; try again in {wait} s",
                                      code="rate_limited", headers={"Retry-After": str(wait)})
            slot = random.choice(free)
        try:
            written = client.update_item(TableName=table_name, Key={"counter": {"S": key}},
                               UpdateExpression="SET #t = :now, expires_at = :expires",
                               ConditionExpression="attribute_not_exists(#t) OR #t <= :floor",
                               ExpressionAttributeNames={"#t": slot},
                               ExpressionAttributeValues={":now": {"N": stamp}, ":floor": {"N": repr(float(floor))},
                                                          ":expires": {"N": str(int(now) + MINUTE + DAY)}},
                               ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return (key, slot, stamp), _window(written.get("Attributes") or {}, now)
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            item = exc.response.get("Item") or {}  # the state that refused the write, read atomically with it
    raise ServiceUnavailable("too many submits at the same moment; try again", code="submit_conflict",
                             headers={"Retry-After": "1"})


def _day_key(owner: str, day: int) -> str:
    return f"day#{owner}#{day}"


def _charge_day(owner: str, limit: int, now: float, table_name: str) -> str:
    day = int(now // DAY)
    key = _day_key(owner, day)
    try:
        aws.client("dynamodb").update_item(
            TableName=table_name, Key={"counter": {"S": key}},
            UpdateExpression="ADD #n :one SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(#n) OR #n < :limit", ExpressionAttributeNames={"#n": "used"},
            # Kept a day past the window: DynamoDB's TTL deletes rows up to a couple of days late anyway.
            ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(limit)},
                                       ":expires": {"N": str((day + 2) * DAY)}})
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
        wait = max(1, int((day + 1) * DAY - now) + 1)
        logger.info("submit refused by a usage limit", extra={"counter": "day"})
        raise TooManyRequests(f"usage limit reached: {limit} jobs a day (UTC); try again in {wait} s",
                              code="quota_exceeded", headers={"Retry-After": str(wait)}) from exc
    return key


def admit_job(owner: str, *, now: float | None = None) -> Charge:
    """Charge one job to the owner's limits, or refuse with 429 and Retry-After. With no usage table configured
    (or every limit 0) nobody is limited."""
    now = time.time() if now is None else now
    settings = get_settings()
    table_name = settings.usage_table
    if not table_name:
        return Charge()
    rate_slot = window = None
    try:
        if settings.submits_per_minute > 0:
            rate_slot, window = _take_rate_slot(owner, settings.submits_per_minute, now, table_name)
        keys = (_charge_day(owner, settings.jobs_per_day, now, table_name),) if settings.jobs_per_day > 0 else ()
    except TooManyRequests:
        if rate_slot:
            refund(Charge(rate_slot=rate_slot))
        raise
    except (ClientError, BotoCoreError) as exc:
        if rate_slot:
            refund(Charge(rate_slot=rate_slot))
        raise _unavailable() from exc
    return Charge(keys, rate_slot, window)


def refund(charge: Charge) -> None:
    """Give back what a submit was charged when the job was not made after all. Best effort: a lost refund
    costs the user one unit of a window, never more. A rate slot is freed only if it still holds this
    submit's time (freeing it is exact: its previous time was already outside the window)."""
    table_name = get_settings().usage_table
    client = aws.client("dynamodb")
    if charge.rate_slot:
        key, slot, stamp = charge.rate_slot
        try:
            client.update_item(TableName=table_name, Key={"counter": {"S": key}}, UpdateExpression="REMOVE #t",
                               ConditionExpression="#t = :mine", ExpressionAttributeNames={"#t": slot},
                               ExpressionAttributeValues={":mine": {"N": stamp}})
        except ClientError as exc:
            if not is_condition_failure(exc):
                logger.exception("could not refund a usage charge", extra={"counter": "rate"})
        except BotoCoreError:
            logger.exception("could not refund a usage charge", extra={"counter": "rate"})
    for key in charge.keys:
        try:
            client.update_item(
                TableName=table_name, Key={"counter": {"S": key}}, UpdateExpression="ADD #n :minus",
                ConditionExpression="#n > :zero", ExpressionAttributeNames={"#n": "used"},
                ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}})
        except (ClientError, BotoCoreError):
            logger.exception("could not refund a usage charge", extra={"counter": key.split("#")[0]})


def used_today(owner: str, *, now: float | None = None) -> int:
    """Jobs charged to the owner's UTC day so far (the JobsPerDay counter): for usage answers. Needs GetItem on the
    usage table."""
    now = time.time() if now is None else now
    item = aws.client("dynamodb").get_item(TableName=get_settings().usage_table,
                                           Key={"counter": {"S": _day_key(owner, int(now // DAY))}},
                                           ConsistentRead=True).get("Item") or {}
    return int(item.get("used", {}).get("N", "0"))


def _unavailable() -> ServiceUnavailable:
    logger.exception("usage limits could not be checked")
    return ServiceUnavailable("the submit could not be checked against usage limits because a storage service "
                              "failed; try again", code="submit_failed")
