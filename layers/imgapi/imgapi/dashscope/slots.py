"""The bound on DashScope tasks in flight per model: leased slots in DynamoDB.

A model with a limit of N has slots "<model>#0" .. "<model>#N-1". A worker takes one with a conditional
write before it submits a task (free, expired, or already its own) and gives it back when the task is
terminal. A lease expires on its own (`expires_at`), so a worker that dies never keeps a slot for longer
than the lease; a task that ran past our deadline keeps its slot until then, since DashScope still counts it.
Whoever finds no free slot does not call DashScope at all: its message comes back later (dashscope_worker).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from imgapi.core import aws
from imgapi.core.records import is_condition_failure
from imgapi.core.settings import get_settings


def _table():
    return aws.table(get_settings().dashscope.slots_table)


def slot_ids(model: str, limit: int) -> list[str]:
    return [f"{model}#{i}" for i in range(limit)]


@dataclass
class Slot:
    slot_id: str
    holder: str
    expires_at: int

    def release(self) -> None:
        """Give the slot back (only if it is still ours: an expired lease may have gone to another task)."""
        try:
            _table().delete_item(Key={"slot_id": self.slot_id}, ConditionExpression="holder = :h",
                                 ExpressionAttributeValues={":h": self.holder})
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise


def _take(slot_id: str, model: str, holder: str, now: int, expires_at: int) -> Slot | None:
    try:
        _table().update_item(
            Key={"slot_id": slot_id},
            UpdateExpression="SET holder = :h, expires_at = :e, model = :m, taken_at = :now",
            ConditionExpression="attribute_not_exists(holder) OR holder = :h OR expires_at < :now",
            ExpressionAttributeValues={":h": holder, ":e": expires_at, ":m": model, ":now": now},
        )
    except ClientError as exc:
        if is_condition_failure(exc):
            return None
        raise
    return Slot(slot_id, holder, expires_at)


def acquire(model: str, holder: str, *, limit: int, lease_seconds: int) -> Slot | None:
    """A slot of `model` for `holder` (a task id), or None when all `limit` are taken by live leases.

    A holder that already has a slot (its earlier delivery died, or it is resuming) gets that one back,
    renewed, rather than a second one."""
    ids = slot_ids(model, limit)
    rows = aws.client("dynamodb").batch_get_item(RequestItems={get_settings().dashscope.slots_table: {
        "Keys": [{"slot_id": {"S": slot_id}} for slot_id in ids], "ConsistentRead": True}})
    held = {row["slot_id"]["S"]: row for row in rows["Responses"].get(get_settings().dashscope.slots_table, [])}
    now = int(time.time())
    expires_at = now + lease_seconds
    own = [slot_id for slot_id, row in held.items() if row.get("holder", {}).get("S") == holder]
    for slot_id in own + [s for s in ids if s not in own]:
        row = held.get(slot_id)
        if row is not None and slot_id not in own and int(row.get("expires_at", {}).get("N", "0")) >= now:
            continue  # someone else's live lease; no need to ask
        slot = _take(slot_id, model, holder, now, expires_at)
        if slot is not None:
            return slot
    return None


def in_use(model: str, limit: int) -> int:
    """How many of the model's slots are held by live leases (for tests and diagnostics)."""
    now = int(time.time())
    count = 0
    for slot_id in slot_ids(model, limit):
        row = _table().get_item(Key={"slot_id": slot_id}, ConsistentRead=True).get("Item")
        if row and int(row.get("expires_at", 0)) >= now:
            count += 1
    return count
