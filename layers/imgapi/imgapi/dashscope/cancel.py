"""A cancelled job's DashScope task: stop following it, and cancel it upstream where DashScope allows it.

The owner cancels a job with DELETE /api/v1/jobs/{task_id} (jobs/cancel.py), which only marks it cancelled: the
jobs function holds no DashScope key. The DashScope worker following the task notices at its next poll, asks
DashScope to cancel the task (POST /api/v1/tasks/{task_id}/cancel, which DashScope allows only while the task is
PENDING) and stops. A task DashScope would not cancel runs on, but its result is discarded: the cancelled job no
longer accepts one, and the model's slot stays taken until its lease ends, since DashScope still counts the task.
"""
from __future__ import annotations

from typing import Any

from imgapi.jobs import lifecycle
from imgapi.core.observability import logger


class JobCancelled(Exception):
    """The job was cancelled while its DashScope task ran. `upstream_cancelled`: DashScope cancelled the task too
    (else it may still be running, and its slot must stay taken)."""

    def __init__(self, task_id: str, upstream_cancelled: bool):
        super().__init__(f"the job was cancelled by its owner; the DashScope task {task_id} was "
                         + ("cancelled" if upstream_cancelled else "left to finish and its result discarded"))
        self.upstream_cancelled = upstream_cancelled


def is_cancelled(task_id: str) -> bool:
    job = lifecycle.get_job(task_id)
    return job is not None and job["status"] == lifecycle.CANCELLED


def stop_if_cancelled(task_id: str, dashscope_task_id: str | None, client: Any) -> None:
    """Raise JobCancelled when the job has been cancelled, after asking DashScope to cancel its task (best effort:
    `client.cancel` answers False when DashScope refused, e.g. the task is RUNNING already)."""
    if not is_cancelled(task_id):
        return
    upstream = bool(dashscope_task_id) and bool(client.cancel(dashscope_task_id))
    logger.info("job cancelled while its DashScope task ran", extra={"dashscope_task_id": dashscope_task_id,
                                                                     "upstream_cancelled": upstream})
    raise JobCancelled(dashscope_task_id or "(not submitted)", upstream)
