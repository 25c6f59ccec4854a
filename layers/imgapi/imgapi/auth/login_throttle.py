"""Slowing down password guessing: after repeated failed logins a username is locked for a while.

Attempts are counted per username whether or not the user exists, in their own table, so a
lock-out (and its timing) says nothing about which usernames are real.
"""
from __future__ import annotations

import os
import time

from imgapi.core import aws
from imgapi.core.errors import TooManyRequests

MAX_USERNAME_KEY = 128


def _limits() -> tuple[int, int, int]:
    return (int(os.environ.get("LOGIN_MAX_FAILURES", "5")), int(os.environ.get("LOGIN_WINDOW_SECONDS", "900")),
            int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "300")))


def _table():
    name = os.environ.get("LOGIN_ATTEMPTS_TABLE")
    return aws.table(name) if name else None


def _key(username: str) -> dict:
    return {"username": username.strip().lower()[:MAX_USERNAME_KEY]}


def check_not_locked(username: str, *, now: float | None = None) -> None:
    """TooManyRequests (429, with Retry-After) while the username is locked out."""
    table = _table()
    if table is None:
        return
    now = now or time.time()
    item = table.get_item(Key=_key(username), ConsistentRead=True).get("Item") or {}
    locked_until = int(item.get("locked_until", 0))
    if locked_until > now:
        wait = int(locked_until - now) + 1
        raise TooManyRequests(f"too many failed logins for this username; try again in {wait} s",
                              code="login_locked", headers={"Retry-After": str(wait)})


def record_failure(username: str, *, now: float | None = None) -> None:
    # Read-then-write: concurrent failures may be undercounted by one or two, which still trips the
    # lock-out on any real guessing run and keeps the logic simple.
    table = _table()
    if table is None:
        return
    max_failures, window, lockout = _limits()
    now = int(now or time.time())
    item = table.get_item(Key=_key(username), ConsistentRead=True).get("Item") or {}
    started = int(item.get("window_start", 0))
    failures = int(item.get("failures", 0)) if now - started < window else 0
    failures += 1
    fields = {"failures": failures, "window_start": started if failures > 1 else now,
              "expires_at": now + window + lockout}  # DynamoDB TTL removes stale counters
    if failures >= max_failures:
        fields["locked_until"] = now + lockout
        fields["failures"] = 0  # a fresh count after the lock-out
    table.put_item(Item={**_key(username), **fields})


def record_success(username: str) -> None:
    table = _table()
    if table is not None:
        table.delete_item(Key=_key(username))
