"""Messages on the job queues: a message carries only the task id; the job row holds the rest."""
from __future__ import annotations

import json

from . import aws


def send_job(queue_url: str, task_id: str) -> None:
    aws.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps({"task_id": task_id}))


def task_id_of(body: str) -> str:
    """The task id of a message body; ValueError for a message that is not ours (it goes to the DLQ)."""
    data = json.loads(body)
    task_id = data.get("task_id") if isinstance(data, dict) else None
    if not isinstance(task_id, str) or not task_id:
        raise ValueError("message has no task_id")
    return task_id
