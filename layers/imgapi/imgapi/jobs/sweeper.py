"""Closing jobs that can no longer finish, so that no job stays pending or processing for ever.

Workers fail a job themselves on its last delivery, but only if they live to do so. Three cases
are left, and a scheduled sweep closes them:

- a worker died (timeout, out of memory) on the message's last delivery: SQS will not deliver it
  again, so once that delivery's visibility timeout has surely passed the job is failed;
- a direct upload never arrived: the job fails once its upload URL has expired (as reading it does);
- anything else untouched for StuckJobSeconds (a lost message, a bug): failed rather than left.

Only unfinished jobs are in the sparse open-jobs index (open_shard is removed when a job finishes),
so a sweep reads the few candidates, not the table.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from boto3.dynamodb.conditions import Key

from imgapi.core import aws

from imgapi.jobs import lifecycle
from imgapi.core.observability import job_metric, logger
from imgapi.core.records import epoch_of, iso_at
from imgapi.core.settings import get_settings


@dataclass
class SweepReport:
    examined: int = 0
    failed: list[str] = field(default_factory=list)


def sweep_stuck_jobs(*, now: float | None = None) -> SweepReport:
    now = time.time() if now is None else now
    settings = get_settings()
    upload_deadline = settings.upload_url_ttl_seconds + lifecycle.UPLOAD_GRACE_SECONDS
    # The youngest a job can be and still need closing; each job is then judged by its own state.
    cutoff = iso_at(now - min(upload_deadline, settings.last_delivery_grace_seconds, settings.stuck_job_seconds))
    report = SweepReport()
    table = aws.table(settings.jobs_table)
    for shard in range(lifecycle.OPEN_SHARDS):
        kwargs = {"IndexName": "open-jobs",
                  "KeyConditionExpression": Key("open_shard").eq(f"open-{shard}") & Key("updated_at").lt(cutoff)}
        while True:
            page = table.query(**kwargs)
            for key in page.get("Items", []):
                report.examined += 1
                if _close_if_stuck(key["task_id"], now):
                    report.failed.append(key["task_id"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    logger.info("sweep done", extra={"examined": report.examined, "failed": len(report.failed)})
    return report


def _close_if_stuck(task_id: str, now: float) -> bool:
    job = lifecycle.get_job(task_id)  # the index is eventually consistent: judge the row itself
    if job is None or job["status"] in lifecycle.TERMINAL:
        return False
    status = job["status"]
    if status == lifecycle.AWAITING_UPLOAD and lifecycle.expire_abandoned_upload(job)["status"] == lifecycle.FAILED:
        closed = True
    else:
        failure = _why_stuck(job, idle=now - epoch_of(job["updated_at"]))
        # Conditional on the attempt seen: a delivery that claims the job meanwhile keeps it.
        closed = failure is not None and lifecycle.fail(
            task_id, failure[0], code=failure[1], attempt=int(job.get("attempt") or 0), from_statuses=(status,)
        ) is not None
    if closed:
        logger.warning("swept a job that could not finish", extra={"task_id": task_id, "status": status})
        job_metric("JobsSwept", job["operation"], job.get("engine", "local"))
        job_metric("JobsFailed", job["operation"], job.get("engine", "local"))
    return closed


def _why_stuck(job: dict, idle: float) -> tuple[str, str] | None:
    """(reason, code) when the job can no longer finish, else None."""
    settings = get_settings()
    if job["status"] == lifecycle.PROCESSING and job.get("last_delivery") and idle > settings.last_delivery_grace_seconds:
        return ("the worker stopped during the last attempt (timed out or ran out of memory) and the job will not be "
                "delivered again"), "worker_lost"
    if idle > settings.stuck_job_seconds:
        return (f"the job made no progress for {int(idle // 60)} minutes while {job['status']} and was stopped; "
                "submit it again"), "stuck"
    return None
