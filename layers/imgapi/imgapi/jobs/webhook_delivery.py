"""The webhook delivery function's work (functions/webhook_delivery): one queued event, one attempt, and what next.

A message on the webhook queue: {"event_id", "task_id", "type", "timestamp", "attempts"}, queued by webhook_events
when the job ended; after the first attempt it also carries the event itself, so every retry sends the same body
(the job view as it was at the first attempt) under the same webhook-id.

- The first attempt reads the job and makes the event: {"type", "timestamp", "data": the job view, as
  GET /api/v1/jobs/{task_id} returns it}. The target is checked again (DNS may have changed since the submit).
- Each attempt is recorded on the job (`webhook`: attempts, last status, last error, state), which the job view shows.
- A failure (no 2xx, a timeout, a redirect, a refused target) is retried after the schedule's next delay
  (WEBHOOK_RETRY_SCHEDULE): the message is sent again with DelaySeconds (SQS's limit is 15 minutes, so a longer wait
  goes round in 15-minute hops until `not_before`). Once the schedule is spent, the event goes to the webhook
  dead-letter queue (whose alarm fires) and the job's webhook state is `failed`.
- Deliveries are at least once (a function that dies after a POST sends it again): receivers de-duplicate on
  webhook-id, as the spec asks.
"""
from __future__ import annotations

import json
import time

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from imgapi.core import aws, webhook_secrets, webhooks
from imgapi.core.observability import logger
from imgapi.core.records import iso_at
from imgapi.core.settings import get_webhook_settings
from imgapi.jobs import job_views, lifecycle

RETRYING, DELIVERED, FAILED = "retrying", "delivered", "failed"  # and "pending", before any attempt (job_views)

# Looked up at each call, so tests can drive retries with a clock of their own.
clock = time.time


def _send(queue_url: str, message: dict, delay: float) -> None:
    aws.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(message),
                                   DelaySeconds=webhooks.sqs_step(delay))


def event_of(job: dict, message: dict) -> dict:
    return {"type": message["type"], "timestamp": message.get("timestamp") or job.get("finished_at"),
            "data": job_views.job_view(job)}


def deliver_message(body: str) -> str:
    """One message of the webhook queue: its outcome (waiting, delivered, retrying, dead-lettered, dropped).
    A message that is not ours raises (it goes to the dead-letter queue after the queue's receives)."""
    settings, now = get_webhook_settings(), clock()
    message = json.loads(body)
    if not isinstance(message, dict) or not isinstance(message.get("task_id"), str) or "event_id" not in message:
        raise ValueError("not a webhook event message")
    task_id = message["task_id"]
    logger.set_correlation_id(task_id)
    if (message.get("not_before") or 0) > now:  # a wait longer than SQS's 15 minutes: another hop
        _send(settings.queue_url, message, message["not_before"] - now)
        return "waiting"
    job = lifecycle.get_job(task_id)
    if job is None or not job.get("webhook_url"):
        logger.info("webhook event dropped: the job is gone")
        return "dropped"
    event = message.get("event") or event_of(job, message)
    data = json.dumps(event, separators=(",", ":")).encode()
    attempt = webhooks.deliver(job["webhook_url"], message["event_id"], data,
                               webhook_secrets.signing_secrets(job["owner"], now), timeout=settings.timeout_seconds,
                               now=now)
    attempts = int(message.get("attempts") or 0) + 1
    delay = None if attempt.ok else webhooks.next_delay(webhooks.parse_schedule(settings.retry_schedule), attempts)
    state = DELIVERED if attempt.ok else RETRYING if delay is not None else FAILED
    recorded = lifecycle.record_webhook(task_id, {"state": state, "attempts": attempts, "last_status": attempt.status,
                                 "last_error": attempt.error, "last_attempt_at": iso_at(attempt.at),
                                 "next_attempt_at": iso_at(now + delay) if delay is not None else None})
    logger.info("webhook attempt", extra={"event_id": message["event_id"], "attempts": attempts, "state": state,
                                          "status": attempt.status, "error": attempt.error})
    if attempt.ok or not recorded:
        return DELIVERED if attempt.ok else "dropped"
    follow = {**message, "event": event, "attempts": attempts, "last_status": attempt.status,
              "last_error": attempt.error}
    if delay is None:
        aws.client("sqs").send_message(QueueUrl=settings.dead_letter_queue_url, MessageBody=json.dumps(follow))
        logger.warning("webhook event dead-lettered", extra={"event_id": message["event_id"], "attempts": attempts})
        return "dead-lettered"
    _send(settings.queue_url, {**follow, "not_before": now + delay}, delay)
    return RETRYING


def handle_record(record: SQSRecord) -> None:
    deliver_message(record.body)
