"""Jobs: the one model of every operation, and its state machine in DynamoDB.

pending -> processing -> completed | failed. Every transition is a conditional write,
so a redelivered SQS message never runs a finished job again and a stale worker
(one whose message was redelivered to another) can no longer change the job.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from . import aws
from .errors import Forbidden, NotFound
from .records import is_condition_failure, now_iso, plain, storable
from .settings import get_settings

PENDING, PROCESSING, COMPLETED, FAILED = "pending", "processing", "completed", "failed"
TERMINAL = (COMPLETED, FAILED)
# Job rows are removed by DynamoDB TTL long after their results have expired from S3.
JOB_RETENTION_SECONDS = 90 * 24 * 3600


_IDEMPOTENCY_NAMESPACE = uuid.UUID("3c3b1b8e-7f0e-4f57-9a7c-4f2b8d6f1e21")


def new_task_id() -> str:
    return str(uuid.uuid4())


def task_id_for_idempotency_key(owner: str, operation: str, key: str) -> str:
    """The task a client's Idempotency-Key names: the same owner, operation and key, the same task."""
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{owner}\n{operation}\n{key}"))


def _table():
    return aws.table(get_settings().jobs_table)


def create_job(*, task_id: str, owner: str, operation: str, engine: str, params: dict, input_key: str | None,
               input_info: dict | None = None, output_prefix: str | None = None) -> dict:
    now = now_iso()
    item = {
        "task_id": task_id,
        "owner": owner,
        "operation": operation,
        "engine": engine,
        "status": PENDING,
        "params": params,
        "input_key": input_key,
        "input": input_info or {},
        "output_prefix": output_prefix,  # where results go (the extension is added); default results/<owner>/<task>/
        "created_at": now,
        "updated_at": now,
        "attempt": 0,
        "expires_at": int(time.time()) + JOB_RETENTION_SECONDS,
    }
    _table().put_item(Item={k: storable(v) for k, v in item.items() if v is not None},
                      ConditionExpression="attribute_not_exists(task_id)")
    return item


def delete_job(task_id: str) -> None:
    _table().delete_item(Key={"task_id": task_id})


def get_job(task_id: str) -> dict | None:
    item = _table().get_item(Key={"task_id": task_id}, ConsistentRead=True).get("Item")
    return plain(item) if item else None


def get_owned_job(task_id: str, owner: str) -> dict:
    job = get_job(task_id)
    if job is None:
        raise NotFound(f"task {task_id} not found", code="task_not_found")
    if job["owner"] != owner:
        raise Forbidden(f"task {task_id} belongs to another user", code="task_forbidden")
    return job


def claim(task_id: str, attempt: int) -> dict | None:
    """Take a job into processing for this delivery (attempt = the message's receive count).

    A pending job can be claimed; so can a processing one whose claim came from an earlier
    delivery (its worker died or timed out and SQS delivered the message again). Returns the
    job, or None when there is nothing to do (finished, unknown, or claimed by a newer delivery).
    """
    now = now_iso()
    try:
        item = _table().update_item(
            Key={"task_id": task_id},
            UpdateExpression="SET #s = :processing, attempt = :a, started_at = if_not_exists(started_at, :now), updated_at = :now",
            ConditionExpression="attribute_exists(task_id) AND (#s = :pending OR (#s = :processing AND attempt < :a))",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":processing": PROCESSING, ":pending": PENDING, ":a": attempt, ":now": now},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as exc:
        if is_condition_failure(exc):
            return None
        raise
    return plain(item)


def _finish(task_id: str, attempt: int | None, update: str, values: dict) -> bool:
    condition = "#s IN (:pending, :processing)"
    values = {**values, ":pending": PENDING, ":processing": PROCESSING, ":now": now_iso()}
    if attempt is not None:
        condition += " AND attempt = :a"
        values[":a"] = attempt
    try:
        _table().update_item(
            Key={"task_id": task_id},
            UpdateExpression=update + ", updated_at = :now, finished_at = :now",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def complete(task_id: str, attempt: int, results: list[dict]) -> bool:
    """Mark the job completed with its result(s); False when this attempt no longer owns the job."""
    return _finish(task_id, attempt, "SET #s = :completed, results = :results", {":completed": COMPLETED, ":results": results})


def fail(task_id: str, reason: str, *, code: str = "job_failed", attempt: int | None = None) -> bool:
    """Mark the job failed with a reason a person can act on; False when it had already finished."""
    values = {":failed": FAILED, ":error": reason, ":code": code}
    return _finish(task_id, attempt, "SET #s = :failed, error_message = :error, error_code = :code", values)


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
