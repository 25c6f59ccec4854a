"""Jobs: the one model of every operation, and its state machine in DynamoDB.

pending -> processing -> completed | failed, and cancelled by its owner from any unfinished state (cancel_job).
Every transition is a conditional write,
so a redelivered SQS message never runs a finished job again and a stale worker
(one whose message was redelivered to another) can no longer change the job.
A direct upload's job (uploads.py) starts earlier, in awaiting_upload: its object arriving makes it
pending (or failed, if it is no image), and an upload that never comes fails it once the upload URL has expired.
Every terminal transition passes through _finish, which queues the job's webhook event (webhook_events.py).

Why it is long: every conditional write on a job row is here, side by side, so their conditions can be read together.
"""
from __future__ import annotations

import time
import uuid
import zlib
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from imgapi.core import aws

from imgapi.core import storage
from imgapi.core.errors import Conflict, Forbidden, NotFound
from imgapi.core.observability import job_metric, logger
from imgapi.core.records import is_condition_failure, now_iso, plain, storable
from imgapi.core.settings import get_settings
from imgapi.jobs import webhook_events

PENDING, PROCESSING, COMPLETED, FAILED = "pending", "processing", "completed", "failed"
CANCELLED = "cancelled"  # its owner cancelled it (DELETE /api/v1/jobs/{task_id}); a worker that picks it up does nothing
TERMINAL = (COMPLETED, FAILED, CANCELLED)
AWAITING_UPLOAD = "awaiting_upload"  # a direct upload's job, until its object arrives
UNFINISHED = (AWAITING_UPLOAD, PENDING, PROCESSING)
# How long after its upload URL expired an awaiting job is given up (an upload begun in time may still be arriving).
UPLOAD_GRACE_SECONDS = 300
# Job rows are removed by DynamoDB TTL long after their results have expired from S3.
JOB_RETENTION_SECONDS = 90 * 24 * 3600


# Unfinished jobs carry open_shard (the sparse open-jobs index the sweeper reads); spread over a few
# partitions so a busy service does not write one hot index key.
OPEN_SHARDS = 8


def open_shard(task_id: str) -> str:
    return f"open-{zlib.crc32(task_id.encode()) % OPEN_SHARDS}"


_IDEMPOTENCY_NAMESPACE = uuid.UUID("3c3b1b8e-7f0e-4f57-9a7c-4f2b8d6f1e21")


def new_task_id() -> str:
    return str(uuid.uuid4())


def task_id_for_idempotency_key(owner: str, operation: str, key: str) -> str:
    """The task a client's Idempotency-Key names: the same owner, operation and key, the same task."""
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{owner}\n{operation}\n{key}"))


def _table():
    return aws.table(get_settings().jobs_table)


def create_job(*, task_id: str, owner: str, operation: str, engine: str, params: dict, input_key: str | None,
               input_info: dict | None = None, output_prefix: str | None = None, status: str = PENDING,
               extra: dict | None = None) -> dict:
    """Write a new job (pending, or awaiting_upload for a direct upload); `extra` adds attributes of its own."""
    now = now_iso()
    item = {
        "task_id": task_id,
        "owner": owner,
        "operation": operation,
        "engine": engine,
        "status": status,
        "params": params,
        "input_key": input_key,
        "input": input_info or {},
        "output_prefix": output_prefix,  # where results go (the extension is added); default results/<owner>/<task>/
        "created_at": now,
        "updated_at": now,
        "attempt": 0,
        "expires_at": int(time.time()) + JOB_RETENTION_SECONDS,
        "open_shard": open_shard(task_id),
        **(extra or {}),
    }
    _table().put_item(Item={k: storable(v) for k, v in item.items() if v is not None},
                      ConditionExpression="attribute_not_exists(task_id)")
    return item


def delete_job(task_id: str, *, only_if: tuple[str, str] | None = None) -> None:
    """Delete a job row; with `only_if` (attribute, value), only while the row has that value (else nothing)."""
    if only_if is None:
        _table().delete_item(Key={"task_id": task_id})
        return
    try:
        _table().delete_item(Key={"task_id": task_id}, ConditionExpression="#a = :v",
                             ExpressionAttributeNames={"#a": only_if[0]}, ExpressionAttributeValues={":v": only_if[1]})
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise


def get_job(task_id: str) -> dict | None:
    item = _table().get_item(Key={"task_id": task_id}, ConsistentRead=True).get("Item")
    return plain(item) if item else None


def get_owned_job(task_id: str, owner: str) -> dict:
    job = get_job(task_id)
    if job is None:
        raise NotFound(f"task {task_id} not found", code="task_not_found")
    if job["owner"] != owner:
        raise Forbidden(f"task {task_id} belongs to another user", code="task_forbidden")
    return expire_abandoned_upload(job)


def expire_abandoned_upload(job: dict) -> dict:
    """A job still awaiting its upload after the upload URL (and a grace period) expired fails now, unless the
    object is in the bucket after all (then the ingest function is about to take it). Done when the job is read."""
    if job["status"] != AWAITING_UPLOAD or time.time() < job.get("upload_expires_at", 0) + UPLOAD_GRACE_SECONDS:
        return job
    if job.get("upload_key") and storage.object_exists(job["upload_key"]):
        return job
    failed = fail(job["task_id"], "no upload arrived before the upload URL expired; ask for a new one with POST "
                  "/api/v1/uploads", code="upload_expired", from_statuses=(AWAITING_UPLOAD,))
    return failed or get_job(job["task_id"]) or job  # not failed here: another request changed it first


def accept_upload(task_id: str, input_key: str, input_info: dict) -> bool:
    """awaiting_upload -> pending, with the checked input stored at input_key; False when the job has left
    awaiting_upload already (an earlier delivery of the same upload took it, or it expired)."""
    try:
        _table().update_item(
            Key={"task_id": task_id},
            UpdateExpression="SET #s = :pending, input_key = :key, #i = :info, updated_at = :now",
            ConditionExpression="#s = :awaiting",
            ExpressionAttributeNames={"#s": "status", "#i": "input"},
            ExpressionAttributeValues={":pending": PENDING, ":awaiting": AWAITING_UPLOAD, ":key": input_key,
                                       ":info": storable(input_info), ":now": now_iso()},
        )
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def claim(task_id: str, attempt: int, *, last_delivery: bool = False) -> dict | None:
    """Take a job into processing for this delivery (attempt = the message's receive count).

    A pending job can be claimed; so can a processing one whose claim came from an earlier
    delivery (its worker died or timed out and SQS delivered the message again). Returns the
    job, or None when there is nothing to do (finished, unknown, or claimed by a newer delivery).
    `last_delivery` (SQS will not deliver the message again) is kept on the job: if this worker
    dies, nothing else would finish it, so the sweeper fails it once the delivery has surely ended.
    """
    now = now_iso()
    return _update_if(
        task_id,
        UpdateExpression="SET #s = :processing, attempt = :a, started_at = if_not_exists(started_at, :now), "
                         "updated_at = :now, last_delivery = :last",
        ConditionExpression="attribute_exists(task_id) AND (#s = :pending OR (#s = :processing AND attempt < :a))",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":processing": PROCESSING, ":pending": PENDING, ":a": attempt, ":now": now,
                                   ":last": last_delivery})


def _finish(task_id: str, attempt: int | None, update: str, values: dict,
            from_statuses: tuple[str, ...] = (PENDING, PROCESSING)) -> dict | None:
    """The one write of every terminal transition: the job as it now is, or None when the condition failed."""
    names = [f":from{i}" for i in range(len(from_statuses))]
    condition = f"#s IN ({', '.join(names)})"
    values = {**values, **dict(zip(names, from_statuses)), ":now": now_iso()}
    if attempt is not None:
        condition += " AND attempt = :a"
        values[":a"] = attempt
    job = _update_if(task_id, UpdateExpression=update + ", updated_at = :now, finished_at = :now REMOVE open_shard",
                     ConditionExpression=condition, ExpressionAttributeNames={"#s": "status"},
                     ExpressionAttributeValues=values)
    if job is not None:
        webhook_events.job_ended(job)  # every terminal transition passes here: its webhook, if it has one
    return job


def _update_if(task_id: str, **update) -> dict | None:
    """A conditional update of a job row: the row as it now is, or None when the condition failed."""
    try:
        return plain(_table().update_item(Key={"task_id": task_id}, ReturnValues="ALL_NEW", **update)["Attributes"])
    except ClientError as exc:
        if is_condition_failure(exc):
            return None
        raise


def complete(task_id: str, attempt: int, results: list[dict]) -> dict | None:
    """Mark the job completed with its result(s): the job now, or None when this attempt no longer owns it."""
    return _finish(task_id, attempt, "SET #s = :completed, results = :results", {":completed": COMPLETED, ":results": results})


def fail(task_id: str, reason: str, *, code: str = "job_failed", attempt: int | None = None,
         from_statuses: tuple[str, ...] = (PENDING, PROCESSING)) -> dict | None:
    """Mark the job failed with a reason a person can act on: the job now, or None when it was in none of
    `from_statuses` (by default: when it had already finished)."""
    values = {":failed": FAILED, ":error": reason, ":code": code}
    return _finish(task_id, attempt, "SET #s = :failed, error_message = :error, error_code = :code", values,
                   from_statuses)


def cancel(task_id: str) -> dict | None:
    """Mark an unfinished job cancelled: the job now, or None when it had finished already. A worker running it then loses its
    claim: its complete() or fail() no longer applies, so whatever it makes is discarded."""
    return _finish(task_id, None, "SET #s = :cancelled, error_message = :error, error_code = :code",
                   {":cancelled": CANCELLED, ":error": "cancelled by its owner", ":code": "cancelled"}, UNFINISHED)


def cancel_job(task_id: str, owner: str) -> dict:
    """DELETE /api/v1/jobs/{task_id}: cancel the caller's unfinished job (awaiting_upload, pending or processing);
    the job as it is now. Another user's job is NotFound, like an unknown one (its existence is not revealed); a
    finished one is Conflict. Whatever a worker running it makes is then discarded; the DashScope worker also
    cancels the upstream task where DashScope allows it (dashscope/cancel.py)."""
    job = get_job(task_id)
    if job is None or job["owner"] != owner:
        raise NotFound(f"task {task_id} not found", code="task_not_found")
    cancelled = None if job["status"] in TERMINAL else cancel(task_id)
    if cancelled is None:
        current = job if job["status"] in TERMINAL else (get_job(task_id) or job)  # it finished meanwhile
        raise Conflict(f"task {task_id} is {current['status']} already: only an unfinished job can be cancelled",
                       code="task_finished")
    logger.info("job cancelled by its owner", extra={"task_id": task_id, "was": job["status"]})
    job_metric("JobsCancelled", job["operation"], job.get("engine", "local"))
    return cancelled


def record_attempt_error(task_id: str, attempt: int, message: str) -> None:
    """Note why a delivery failed while the job waits for its retry."""
    try:
        _table().update_item(
            Key={"task_id": task_id},
            UpdateExpression="SET last_error = :m, updated_at = :now",
            ConditionExpression="#s = :processing AND attempt = :a",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":m": message, ":now": now_iso(), ":processing": PROCESSING, ":a": attempt},
        )
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise


def record_details(task_id: str, attempt: int, name: str, value: Any) -> bool:
    """Keep what this attempt learnt on the job (e.g. the upstream task id) while it runs; False when it no longer owns it."""
    try:
        _table().update_item(
            Key={"task_id": task_id},
            UpdateExpression="SET #n = :v, updated_at = :now",
            ConditionExpression="#s = :processing AND attempt = :a",
            ExpressionAttributeNames={"#s": "status", "#n": name},
            ExpressionAttributeValues={":v": storable(value), ":now": now_iso(), ":processing": PROCESSING, ":a": attempt},
        )
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def record_webhook(task_id: str, state: dict) -> bool:
    """Keep how the job's webhook delivery went (webhook_delivery.py), whatever the job's state; False when the job
    no longer exists."""
    try:
        _table().update_item(Key={"task_id": task_id}, UpdateExpression="SET webhook = :w",
                             ConditionExpression="attribute_exists(task_id)",
                             ExpressionAttributeValues={":w": storable(state)})
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


# A filtered listing reads at most this many pages of the index per call (it then returns a next key).
LIST_MAX_PAGES = 10


def list_jobs(owner: str, *, limit: int = 20, start_key: dict | None = None, status: str | None = None,
              operation: str | None = None) -> tuple[list[dict], dict | None]:
    """The owner's jobs, newest first (owner-created_at index), optionally only those of a status and/or operation.

    Returns at most `limit` jobs and the key to continue from (None at the end). DynamoDB applies Limit before
    a filter, so each page asks for no more than are still missing: the last page's key is exactly where to go on."""
    kwargs: dict[str, Any] = {
        "IndexName": "owner-created_at",
        "KeyConditionExpression": Key("owner").eq(owner),
        "ScanIndexForward": False,
    }
    conditions = [Attr(name).eq(value) for name, value in (("status", status), ("operation", operation)) if value]
    if conditions:
        kwargs["FilterExpression"] = conditions[0] if len(conditions) == 1 else conditions[0] & conditions[1]
    items: list[dict] = []
    next_key = start_key
    for _ in range(LIST_MAX_PAGES):
        if next_key:
            kwargs["ExclusiveStartKey"] = next_key
        page = _table().query(Limit=limit - len(items), **kwargs)
        items.extend(plain(i) for i in page.get("Items", []))
        next_key = page.get("LastEvaluatedKey")
        if not next_key or len(items) >= limit:
            break
    return items, next_key
