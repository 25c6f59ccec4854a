"""What a client sees of jobs, whatever their operation: GET /api/v1/jobs/{task_id}, GET /api/v1/jobs, and waiting for one."""
from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any, Callable

from imgapi.jobs import lifecycle

from imgapi.core import storage
from imgapi.core.errors import BadRequest
from imgapi.jobs.job_params import LIST_DEFAULT_LIMIT, TASK_ID
from imgapi.jobs.operations import LOCAL, local_engine_notes
from imgapi.core.records import plain

JOBS_PATH = "/api/v1/jobs"
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")  # records.now_iso's
WEBHOOK_NOT_YET = {"state": "pending", "attempts": 0, "last_status": None, "last_error": None, "last_attempt_at": None,
                   "next_attempt_at": None}
DASHSCOPE_FIELDS = ("model", "task_id", "request_id", "task_status", "usage", "submit_time", "scheduled_time",
                    "end_time", "task_metrics")


def status_url(task_id: str) -> str:
    return f"{JOBS_PATH}/{task_id}"


def result_view(result: dict) -> dict:
    """One result: a short-lived presigned URL of our copy, and what it is (for the local fix, which enlargement
    made it: the learnt network, or the classical path and why; for the local expand, what filled the border)."""
    view = {"url": storage.presigned_get_url(result["key"])}
    view.update({k: result[k] for k in ("width", "height", "content_type", "size_bytes", "index", "enhancer",
                                        "expander") if k in result})
    return view


def job_view(job: dict) -> dict:
    job = plain(job)
    error = {"message": job["error_message"], "code": job.get("error_code")} if job.get("error_message") else None
    view: dict[str, Any] = {
        "task_id": job["task_id"],
        "status": job["status"],
        "status_url": status_url(job["task_id"]),
        "operation": job["operation"],
        "engine": job.get("engine"),
        "created_at": job.get("created_at"),
        "started_at": job.get("started_at"),
        "finished_at": job.get("finished_at"),
        "updated_at": job.get("updated_at"),
        "params": job.get("params") or {},
        "results": [result_view(r) for r in job.get("results") or []] if job["status"] == lifecycle.COMPLETED else [],
        "error": error,
    }
    if job.get("failures"):
        view["failures"] = job["failures"]  # a partial success: which images DashScope could not make, and why
    notes = local_engine_notes(job["operation"], view["params"]) if job.get("engine") == LOCAL else []
    if notes:
        view["notes"] = notes  # what the local engine leaves out of the request (a prompt, n > 1)
    if job.get("last_error") and job["status"] not in lifecycle.TERMINAL:
        view["last_error"] = job["last_error"]  # why the last attempt failed; another is coming
    if job.get("webhook_url"):  # where its end is POSTed, and how that went (webhook_delivery.py)
        view["webhook"] = {"url": job["webhook_url"], **WEBHOOK_NOT_YET, **(job.get("webhook") or {})}
    dashscope = job.get("dashscope")
    if dashscope:
        view["dashscope"] = {k: dashscope.get(k) for k in DASHSCOPE_FIELDS if dashscope.get(k) is not None}
    return view


# -- listing ----------------------------------------------------------------------------------------------

def _encode_token(key: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(plain(key), separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str, owner: str) -> dict:
    """The key a next_token stands for. Only one this API made for this owner is taken: anything else could make
    DynamoDB refuse the query (a 5xx) or start another user's listing."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        key = None
    if not isinstance(key, dict) or set(key) != {"task_id", "owner", "created_at"} or key["owner"] != owner \
            or not all(isinstance(v, str) for v in key.values()) or not _TIMESTAMP.fullmatch(key["created_at"]):
        key = None
    else:
        try:
            key["task_id"] = TASK_ID.read(key["task_id"])
        except BadRequest:
            key = None
    if key is None:
        raise BadRequest("next_token is not one this API gave you; start again without it", code="bad_next_token")
    return key


def list_view(owner: str, *, limit: int = LIST_DEFAULT_LIMIT, status: str | None = None, operation: str | None = None,
              next_token: str | None = None) -> dict:
    """The owner's jobs, newest first (the values checked already: job_params' list parameters)."""
    start = _decode_token(next_token, owner) if next_token else None
    items, next_key = lifecycle.list_jobs(owner, limit=limit, start_key=start, status=status, operation=operation)
    return {"jobs": [job_view(lifecycle.expire_abandoned_upload(item)) for item in items],
            "next_token": _encode_token(next_key) if next_key else None}


# -- waiting ----------------------------------------------------------------------------------------------

WAIT_POLL_SECONDS = (0.25, 0.5, 1.0)  # then every second


# Looked up at each call, so tests can make waiting instant (or run the worker meanwhile).
sleep: Callable[[float], None] = time.sleep
now: Callable[[], float] = time.monotonic


def wait_for(task_id: str, seconds: float) -> dict | None:
    """The job once it is completed or failed, or as it is when `seconds` have passed."""
    deadline = now() + seconds
    polls = 0
    while True:
        job = lifecycle.get_job(task_id)
        left = deadline - now()
        if job is None or job["status"] in lifecycle.TERMINAL or left <= 0:
            return job
        sleep(min(left, WAIT_POLL_SECONDS[min(polls, len(WAIT_POLL_SECONDS) - 1)]))
        polls += 1
