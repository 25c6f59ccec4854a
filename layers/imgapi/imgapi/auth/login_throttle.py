"""Slowing down password guessing: after repeated failed logins a username is locked for a while.

Attempts are counted per username whether or not the user exists, in their own table, so a
lock-out (and its timing) says nothing about which usernames are real.

Every attempt is counted BEFORE its password is checked: `reserve_attempt` adds one to the count with a
conditional UpdateItem that DynamoDB refuses once the count is at the limit (or the name is locked), so a
burst of concurrent logins checks at most LOGIN_MAX_FAILURES passwords, however many arrive at once. A
successful login gives its attempt back by resetting the count (`record_success`). Never read-then-write.
"""
from __future__ import annotations

import os
import time

from botocore.exceptions import ClientError

from imgapi.core import aws
from imgapi.core.errors import ServiceUnavailable, TooManyRequests
from imgapi.core.records import is_condition_failure

MAX_USERNAME_KEY = 128
_RACE_RETRIES = 10


def _limits() -> tuple[int, int, int]:
    return (int(os.environ.get("LOGIN_MAX_FAILURES", "5")), int(os.environ.get("LOGIN_WINDOW_SECONDS", "900")),
            int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "300")))


def _table():
    name = os.environ.get("LOGIN_ATTEMPTS_TABLE")
    return aws.table(name) if name else None


def _key(username: str) -> dict:
    return {"username": username.strip().lower()[:MAX_USERNAME_KEY]}


def _locked(until: float, now: float) -> TooManyRequests:
    wait = int(until - now) + 1
    return TooManyRequests(f"too many failed logins for this username; try again in {wait} s",
                           code="login_locked", headers={"Retry-After": str(wait)})


def _conditional(call, **kwargs) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def reserve_attempt(username: str, *, now: float | None = None) -> None:
    """Count one login attempt as a failure before its password is checked, atomically; 429 when the
    username is locked or its count is already at the limit (which starts the lock-out)."""
    table = _table()
    if table is None:
        return
    max_failures, window, lockout = _limits()
    now = int(now or time.time())
    key, expires = _key(username), now + window + lockout  # DynamoDB TTL removes stale counters
    for _ in range(_RACE_RETRIES):
        # The common case: a window is open, under the limit, not locked: one atomic increment.
        if _conditional(table.update_item, Key=key, UpdateExpression="ADD failures :one SET expires_at = :exp",
                        ConditionExpression="window_start > :floor AND failures < :max AND "
                                            "(attribute_not_exists(locked_until) OR locked_until <= :now)",
                        ExpressionAttributeValues={":one": 1, ":exp": expires, ":floor": now - window,
                                                   ":max": max_failures, ":now": now}):
            return
        item = table.get_item(Key=key, ConsistentRead=True).get("Item")
        if item and int(item.get("locked_until", 0)) > now:
            raise _locked(int(item["locked_until"]), now)
        old_start = int(item["window_start"]) if item and "window_start" in item else None
        if old_start is not None and old_start > now - window:
            if int(item.get("failures", 0)) < max_failures:
                continue  # the count changed between the two reads: increment again
            # The limit is reached: lock (once; a concurrent request may have locked it already), fresh count after.
            _conditional(table.put_item, Item={**key, "failures": 0, "window_start": now, "locked_until": now + lockout,
                                               "expires_at": expires},
                         ConditionExpression="window_start = :old AND failures >= :max",
                         ExpressionAttributeValues={":old": old_start, ":max": max_failures})
            raise _locked(now + lockout, now)
        # No window open (or it has expired): open one with this attempt, unless another request just did.
        condition = ("attribute_not_exists(window_start)" if old_start is None else "window_start = :old")
        values = {} if old_start is None else {":old": old_start}
        extra = {"ExpressionAttributeValues": values} if values else {}
        if _conditional(table.put_item, Item={**key, "failures": 1, "window_start": now, "expires_at": expires},
                        ConditionExpression=condition, **extra):
            return
    raise ServiceUnavailable("too many logins for this username at the same moment; try again",
                             code="login_busy", headers={"Retry-After": "1"})


def record_success(username: str) -> None:
    """The password was right: the attempt is given back and the count starts afresh."""
    table = _table()
    if table is not None:
        table.delete_item(Key=_key(username))
