"""Webhook deliveries, signed to the Standard Webhooks spec (standardwebhooks.com): the secret, the signature, the
check of a target URL, one delivery attempt, and the retry schedule.

- A secret is `whsec_` + base64 of 24 random bytes. Signing is the spec's reference library's (`standardwebhooks`,
  pure Python, in the layer): `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret, space-separated
  (during a rotation's grace period, under the new and the previous secret).
- Headers: `webhook-id` (the event's id, the same on every retry), `webhook-timestamp` (Unix seconds of this
  attempt) and `webhook-signature`.
- The target obeys the rules of every URL we call (core/safe_fetch.post: http(s) only, no credentials, every address
  the host resolves to checked, the connection pinned to the checked address, no redirect followed, a short
  timeout, a few KB of the answer read and none kept). It is checked when a job names it and again at each attempt.

Plain values only: what a job's end sends, and when, is jobs/webhook_events' and jobs/webhook_delivery's.
"""
from __future__ import annotations

import base64
import secrets as random_bytes
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from standardwebhooks import Webhook

from imgapi.core.errors import BadRequest
from imgapi.core.safe_fetch import FetchError, check_url, post

SECRET_PREFIX = "whsec_"
MAX_RESPONSE_BYTES = 4096
USER_AGENT = "imgapi-webhooks/1"
SQS_MAX_DELAY_SECONDS = 900  # SQS delays a message at most 15 minutes: longer waits are re-queued in steps
# Seconds after each failed attempt before the next: the first within seconds, then exponentially longer, adding up
# to a little over 25 hours (WEBHOOK_RETRY_SCHEDULE overrides it); after the last, the dead-letter queue.
DEFAULT_SCHEDULE = (5, 30, 120, 600, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 10 * 3600)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random_bytes.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX):])


def signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    return Webhook(_key(secret)).sign(event_id, datetime.fromtimestamp(timestamp, timezone.utc), body.decode())


def headers(secrets: list[str], event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers, signed under each secret (the current one first)."""
    return {"webhook-id": event_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(s, event_id, timestamp, body) for s in secrets),
            "Content-Type": "application/json", "User-Agent": USER_AGENT}


def check_target(url: str, *, allow_private: bool | None = None) -> str:
    """A webhook URL a job may name: the address rules of safe_fetch, checked now (400 webhook_url_refused for a
    private, loopback, link-local or metadata target). A host that does not resolve now is let through: its
    deliveries fail and are retried (visible in the job view), and each attempt checks the target again."""
    try:
        check_url(url, allow_private=allow_private)
    except FetchError as refused:
        if refused.code == "url_unresolvable":
            return url
        raise BadRequest(f"webhook_url: {refused.message}", code="webhook_url_refused") from refused
    return url


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


def sqs_step(remaining_seconds: float) -> int:
    """DelaySeconds for a message due in `remaining_seconds`: SQS waits 15 minutes at most, so a longer wait is taken
    in steps (the message, arriving early, is sent on again for what is left)."""
    return min(max(0, int(remaining_seconds + 0.999)), SQS_MAX_DELAY_SECONDS)


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None  # the HTTP status, None when there was no answer
    error: str | None  # why it failed, for the job view (never the secret, never the URL's query)
    at: int  # Unix seconds


def deliver(url: str, event_id: str, body: bytes, secrets: list[str], *, allow_private: bool | None = None,
            timeout: float = 5.0, now: float | None = None) -> Attempt:
    """POST the event once; an Attempt saying how it went (a 2xx is success; anything else, a redirect, a refused
    target or a timeout is a failure to retry)."""
    timestamp = int(now if now is not None else time.time())
    try:
        status = post(url, body, headers(secrets, event_id, timestamp, body), allow_private=allow_private,
                      timeout=timeout, max_response_bytes=MAX_RESPONSE_BYTES)
    except FetchError as failed:
        return Attempt(False, None, failed.message, timestamp)
    if 200 <= status < 300:
        return Attempt(True, status, None, timestamp)
    if 300 <= status < 400:
        return Attempt(False, status, f"answered a redirect (HTTP {status}), which is not followed", timestamp)
    return Attempt(False, status, f"answered HTTP {status}", timestamp)
