"""Webhook deliveries, signed to the Standard Webhooks spec (standardwebhooks.com): the secret, the signature, one
delivery attempt under the safe fetcher's address rules, and the retry schedule.

- A secret is `whsec_` + base64 of 24 random bytes; the HMAC key is the decoded bytes.
- Headers: `webhook-id` (the event's id, the same on every retry), `webhook-timestamp` (Unix seconds of this
  attempt) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret, space-separated
  (during a rotation's grace period, under the new and the previous secret).
- The target obeys the rules of every URL we call (core/safe_fetch: http(s) only, no credentials, every address the
  host resolves to checked, the connection made to the checked address); a redirect is never followed (it counts as
  a failed attempt); a short timeout; at most MAX_RESPONSE_BYTES of the answer are read, and none of it is kept.

Plain values only: what a job's end sends, and when, is the caller's (the delivery queue's function).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random_bytes
import time
from dataclasses import dataclass

from urllib3.exceptions import HTTPError as Urllib3Error

from imgapi.core.safe_fetch import FetchError, FetchLimits, _check, _host_header, _pool, _short

SECRET_PREFIX = "whsec_"
MAX_RESPONSE_BYTES = 4096
TIMEOUT_SECONDS = 5.0
USER_AGENT = "imgapi-webhooks/1"
SQS_MAX_DELAY_SECONDS = 900  # SQS delays a message at most 15 minutes: longer waits are re-queued in steps
# Seconds after the first attempt's failure before each retry: the first within seconds, then exponentially longer,
# adding up to a little over 24 hours (WEBHOOK_RETRY_SCHEDULE overrides it); after the last, the dead-letter queue.
DEFAULT_SCHEDULE = (5, 30, 120, 600, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 10 * 3600)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random_bytes.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX):])


def signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def headers(secrets: list[str], event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers, signed under each secret (the current one first)."""
    return {"webhook-id": event_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(s, event_id, timestamp, body) for s in secrets),
            "content-type": "application/json", "user-agent": USER_AGENT}


def parse_schedule(text: str | None) -> tuple[int, ...]:
    """WEBHOOK_RETRY_SCHEDULE: comma-separated seconds, e.g. "1,2,5"; empty or unset: DEFAULT_SCHEDULE."""
    if not text or not text.strip():
        return DEFAULT_SCHEDULE
    delays = tuple(int(part) for part in text.split(","))
    if any(delay < 0 for delay in delays):
        raise ValueError("WEBHOOK_RETRY_SCHEDULE holds seconds, none negative")
    return delays


def next_delay(schedule: tuple[int, ...], failed_attempts: int) -> int | None:
    """Seconds to wait before the next attempt after `failed_attempts` failures; None when the schedule is spent
    (the event goes to the dead-letter queue)."""
    return schedule[failed_attempts - 1] if 1 <= failed_attempts <= len(schedule) else None


def sqs_step(remaining_seconds: int) -> tuple[int, int]:
    """(DelaySeconds for this message, seconds still to wait when it arrives): SQS waits 15 minutes at most."""
    step = min(max(0, remaining_seconds), SQS_MAX_DELAY_SECONDS)
    return step, max(0, remaining_seconds - step)


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None  # the HTTP status, None when there was no answer
    error: str | None  # why it failed, for the job view (never the secret, never the URL's query)
    at: int  # Unix seconds


def deliver(url: str, event_id: str, body: bytes, secrets: list[str], *, allow_private: bool,
            now: float | None = None) -> Attempt:
    """POST the event once; an Attempt saying how it went (a 2xx is success; anything else, a redirect, a refused
    target or a timeout is a failure to retry)."""
    timestamp = int(now if now is not None else time.time())
    limits = FetchLimits(max_bytes=MAX_RESPONSE_BYTES, connect_timeout=TIMEOUT_SECONDS, read_timeout=TIMEOUT_SECONDS,
                         total_timeout=TIMEOUT_SECONDS)
    try:
        target = _check(url, allow_private)
    except FetchError as refused:
        return Attempt(False, None, refused.message, timestamp)
    pool = _pool(target, limits, TIMEOUT_SECONDS)
    try:
        response = pool.urlopen("POST", target.path, body=body,
                                headers={"Host": _host_header(target), **headers(secrets, event_id, timestamp, body)},
                                redirect=False, retries=False, preload_content=False, assert_same_host=False)
        try:
            response.read(MAX_RESPONSE_BYTES)  # the answer is not used; a few KB at most are read
        finally:
            response.release_conn()
    except (Urllib3Error, OSError) as exc:
        return Attempt(False, None, f"{_short(url)} could not be reached: {type(exc).__name__}", timestamp)
    finally:
        pool.close()
    if 200 <= response.status < 300:
        return Attempt(True, response.status, None, timestamp)
    if 300 <= response.status < 400:
        return Attempt(False, response.status, f"{_short(url)} answered a redirect (HTTP {response.status}), which "
                                               "is not followed", timestamp)
    return Attempt(False, response.status, f"{_short(url)} answered HTTP {response.status}", timestamp)
