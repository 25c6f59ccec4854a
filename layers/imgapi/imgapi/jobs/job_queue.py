"""Messages on the job queues: a message carries the task id (and, for a job put back to wait, its waiting so far); the job row holds the rest."""
from __future__ import annotations

import json

from imgapi.core import aws


def send_job(queue_url: str, task_id: str, *, delay_seconds: int = 0, extra: dict | None = None) -> None:
    """Queue a job; `extra` travels in the message beside the task id (e.g. how long it has been waiting)."""
    body = json.dumps({"task_id": task_id, **(extra or {})})
    aws.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body, DelaySeconds=max(0, min(900, delay_seconds)))


def task_id_of(body: str) -> str:
    """The task id of a message body; ValueError for a message that is not ours (it goes to the DLQ)."""
    data = json.loads(body)
    task_id = data.get("task_id") if isinstance(data, dict) else None
    if not isinstance(task_id, str) or not task_id:
        raise ValueError("message has no task_id")
    return task_id


def message_fields(body: str) -> dict:
    """The whole message (task_id checked as task_id_of does)."""
    task_id_of(body)
    return json.loads(body)
