"""A job's end, queued for its webhook: lifecycle calls `job_ended` after every terminal transition (completed,
failed, cancelled: the one conditional write all of them go through), whoever made it (a worker, the owner's cancel,
the sweeper, the ingest function).

Only a message is sent here, and only for a job that names a webhook_url: the event itself (the job view, signed,
POSTed) is made by the delivery function from the queue (webhook_delivery.py), never on the worker's path. A failure
to queue is logged and counted (WebhooksNotQueued) and never fails or delays the job.
"""
from __future__ import annotations

import json
import uuid

from imgapi.core import aws
from imgapi.core.observability import job_metric, logger
from imgapi.core.settings import get_webhook_settings

_EVENT_NAMESPACE = uuid.UUID("0b8f4d3e-6a53-4f0e-9c1b-3f1d2a7e5c44")


def event_id(task_id: str) -> str:
    """The webhook-id of a job's end: a job ends once, so its id is derived from the task (a message queued twice
    carries the same id, which receivers de-duplicate on)."""
    return "msg_" + uuid.uuid5(_EVENT_NAMESPACE, task_id).hex


def job_ended(job: dict) -> None:
    """Queue the webhook event of a job that has just reached a terminal state, if it has a webhook_url."""
    if not job.get("webhook_url"):
        return
    message = {"event_id": event_id(job["task_id"]), "task_id": job["task_id"], "type": f"job.{job['status']}",
               "timestamp": job.get("finished_at"), "attempts": 0}
    try:
        aws.client("sqs").send_message(QueueUrl=get_webhook_settings().queue_url, MessageBody=json.dumps(message))
    except Exception:  # noqa: BLE001 - whatever went wrong, the job's own end stands
        logger.exception("the job's webhook event could not be queued", extra={"task_id": job["task_id"]})
        job_metric("WebhooksNotQueued", job.get("operation", "unknown"), job.get("engine") or "local")
