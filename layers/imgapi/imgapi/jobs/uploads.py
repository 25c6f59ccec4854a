"""Direct uploads: large images go straight to S3, and the upload itself starts the job.

POST /api/v1/uploads (`create_upload`) checks the operation and its parameters as a submit does, writes the
job in the state `awaiting_upload`, and answers with a presigned S3 POST for exactly one key,
incoming/<owner>/<task_id>/<safe file name>, whose policy S3 enforces: 1 to MAX_UPLOAD_BYTES bytes, an image/*
content type, valid UPLOAD_URL_TTL_SECONDS. Lambda's 6 MB payload limit does not apply to that upload.

The bucket's ObjectCreated notification for incoming/ reaches the ingest function (`receive_upload`): the
object must be the one its job asked for (task id, owner and key), is checked like any upload (size, image
header, pixels), stored under uploads/ as the job's input (the bytes that were checked, whatever is POSTed to
the key later), and the job goes awaiting_upload -> pending with a conditional write and onto the queue. An
object that is not an acceptable image fails the job with the reason. An upload that never comes fails the job
when it is next read after the URL expired (lifecycle.expire_abandoned_upload).
"""
from __future__ import annotations

import os
import re
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from imgapi.core import aws

from imgapi.jobs import lifecycle

from imgapi.jobs import quotas

from imgapi.core import storage, webhook_secrets
from imgapi.core.errors import ApiError, BadRequest, PayloadTooLarge, ServiceUnavailable
from imgapi.imagefiles.image_input import inspect_image
from imgapi.jobs.job_params import UPLOAD_CONTENT_TYPE, UPLOAD_FILENAME, UPLOAD_OPERATION, UPLOAD_SIZE, WEBHOOK_URL
from imgapi.jobs.job_queue import send_job
from imgapi.jobs.job_views import status_url
from imgapi.core.observability import job_metric, logger
from imgapi.jobs.operations import image_operation_params
from imgapi.jobs.submission import FINGERPRINT, SUBMIT_REQUEST, check_replay, request_fingerprint, webhook_target
from imgapi.core.records import is_condition_failure
from imgapi.core.settings import get_settings
from imgapi.core.vocabulary import IMAGE_CONTENT_TYPES

INCOMING_PREFIX = "incoming/"
ENGINE = "local"  # the operations that take one uploaded image run on the image worker
_EXTENSIONS = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
               ".heic": "image/heic", ".heif": "image/heic", ".avif": "image/avif"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME_CHARS = 100


def safe_filename(name: Any) -> str:
    """The client's file name as it may appear in a key: its base name, in a safe alphabet, at most 100 characters."""
    base = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._-")
    if len(base) > MAX_NAME_CHARS:
        stem, ext = os.path.splitext(base)
        ext = ext[:10]
        base = stem[:MAX_NAME_CHARS - len(ext)] + ext
    return base or "image"


def incoming_key(owner: str, task_id: str, filename: str) -> str:
    return f"{INCOMING_PREFIX}{owner}/{task_id}/{filename}"


def parse_incoming_key(key: str) -> tuple[str, str] | None:
    """(owner, task id) of incoming/<owner>/<task_id>/<name>, or None for any other key."""
    parts = key[len(INCOMING_PREFIX):].split("/") if key.startswith(INCOMING_PREFIX) else []
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1]


def _content_type(value: Any, filename: str) -> str:
    if value in (None, ""):
        value = _EXTENSIONS.get(os.path.splitext(filename)[1].lower())
        if value is None:
            raise UPLOAD_CONTENT_TYPE.refuse(None, f"given when the file name does not end in "
                                                   f"{', '.join(_EXTENSIONS)}: one of {', '.join(IMAGE_CONTENT_TYPES)}")
    return UPLOAD_CONTENT_TYPE.read(value.lower() if isinstance(value, str) else value)


def _check_size(size: int | None, max_bytes: int) -> None:
    """The optional `size` a client announces (checked by UPLOAD_SIZE): refused at once when S3 would refuse the
    upload anyway."""
    if size is not None and size > max_bytes:
        raise PayloadTooLarge(f"the file is {size} bytes; the limit is {max_bytes} bytes "
                              f"({max_bytes // (1024 * 1024)} MB)", code="file_too_large")


def _answer(job: dict) -> dict:
    """The job, and while it awaits its upload, a fresh presigned POST valid until the job's upload deadline."""
    settings = get_settings()
    expires_at = int(job.get("upload_expires_at") or 0)
    left = expires_at - int(time.time())
    upload = None
    if job["status"] == lifecycle.AWAITING_UPLOAD and left > 0:
        upload = storage.presigned_post(job["upload_key"], content_type=job["params"]["content_type"],
                                        max_bytes=settings.max_upload_bytes, ttl_seconds=left)
    return {
        "task_id": job["task_id"],
        "status": job["status"],
        "status_url": status_url(job["task_id"]),
        "operation": job["operation"],
        "upload": upload,
        "expires_in": max(0, left),
        "expires_at": datetime.fromtimestamp(expires_at, timezone.utc).isoformat().replace("+00:00", "Z") if expires_at else None,
        "max_bytes": settings.max_upload_bytes,
    }


def create_upload(owner: str, body: Any, *, idempotency_key: str | None = None) -> tuple[bool, dict]:
    """(created, answer): a new job awaiting its upload and the presigned POST that starts it.

    Body: {"operation", "params", "filename", "content_type", "size"}; nothing is written when it is refused.
    With an Idempotency-Key, a retried request gets the first one's job (and a fresh POST while it still waits)."""
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object: {\"operation\": ..., \"params\": {...}, \"filename\": ..., \"content_type\": ...}")
    operation = UPLOAD_OPERATION.read(body.get("operation"))
    if operation is None:
        raise UPLOAD_OPERATION.refuse(None)
    fields = body.get("params") or {}
    if not isinstance(fields, dict):
        raise BadRequest("params must be a JSON object of the operation's parameters", code="bad_parameter")
    settings = get_settings()
    params = image_operation_params(operation, owner, fields)
    given_name = UPLOAD_FILENAME.read(body.get("filename"))  # job_params' declaration: a string, bounded
    filename = safe_filename(given_name)
    content_type = _content_type(body.get("content_type"), filename)
    _check_size(UPLOAD_SIZE.read(body.get("size")), settings.max_upload_bytes)
    params.update(filename=(given_name or filename)[:255], content_type=content_type)
    webhook_url = webhook_target(WEBHOOK_URL.read(body.get("webhook_url")))

    task_id = lifecycle.task_id_for_idempotency_key(owner, operation, idempotency_key) if idempotency_key else lifecycle.new_task_id()
    logger.set_correlation_id(task_id)
    try:
        existing = lifecycle.get_job(task_id) if idempotency_key else None
    except (ClientError, BotoCoreError) as exc:
        raise ServiceUnavailable("the upload could not be prepared because a storage service failed; try again",
                                 code="submit_failed") from exc
    fingerprint = request_fingerprint(operation, ENGINE, {**params, "size": body.get("size"),
                                                          **({"webhook_url": webhook_url} if webhook_url else {})},
                                      {}) if idempotency_key else None
    if existing is not None:
        return False, _answer(lifecycle.expire_abandoned_upload(check_replay(existing, fingerprint)))
    key = incoming_key(owner, task_id, filename)
    # The job starts when S3 has its file: without a webhook_url of its own it takes the owner's default.
    try:
        webhook_url = webhook_url or webhook_secrets.default_url(owner)
    except (ClientError, BotoCoreError) as exc:  # a storage failure is a 503 here as everywhere else, not a 500
        raise ServiceUnavailable("the upload could not be prepared because a storage service failed; try again",
                                 code="submit_failed") from exc
    # Which request made the row, under an Idempotency-Key: a failed request's undo must not delete another's row.
    request = secrets.token_hex(8) if idempotency_key else None
    charge = quotas.admit_job(owner)
    try:
        job = lifecycle.create_job(task_id=task_id, owner=owner, operation=operation, engine=ENGINE, params=params,
                              input_key=None, status=lifecycle.AWAITING_UPLOAD,
                              extra={"upload_key": key, "upload_expires_at": int(time.time()) + settings.upload_url_ttl_seconds,
                                     **({FINGERPRINT: fingerprint, SUBMIT_REQUEST: request} if fingerprint else {}),
                                     **({"webhook_url": webhook_url} if webhook_url else {})})
    except (ClientError, BotoCoreError) as exc:
        quotas.refund(charge)
        if idempotency_key and isinstance(exc, ClientError) and is_condition_failure(exc):
            # the same request, retried while the first was answered (or another one under the same key: 422)
            return False, _answer(check_replay(lifecycle.get_job(task_id), fingerprint))
        _forget(task_id, request)
        raise ServiceUnavailable("the upload could not be prepared because a storage service failed; try again",
                                 code="submit_failed") from exc
    logger.info("upload prepared", extra={"operation": operation, "key": key})
    return True, _answer(job)


def _forget(task_id: str, request: str | None) -> None:
    """Delete the row of an upload that was answered 503: its write may have happened with the answer lost (under an
    Idempotency-Key, only if this request wrote it)."""
    try:
        lifecycle.delete_job(task_id, only_if=(SUBMIT_REQUEST, request) if request else None)
    except (ClientError, BotoCoreError):
        logger.exception("could not delete the job of a failed upload request; it fails once its upload URL expired")


# -- the ingest function's side: the object has arrived ------------------------------------------------------

def receive_upload(key: str, size: int) -> dict | None:
    """Take in an object under incoming/: the job it starts (pending, or failed with the reason), or None when no
    upload asked for this key (it is left alone; the bucket's lifecycle removes it)."""
    parsed = parse_incoming_key(key)
    job = lifecycle.get_job(parsed[1]) if parsed else None
    if job is None or job["owner"] != parsed[0] or job.get("upload_key") != key:
        logger.warning("an object under incoming/ that no upload asked for; left alone", extra={"key": key})
        return None
    logger.set_correlation_id(job["task_id"])
    if job["status"] == lifecycle.AWAITING_UPLOAD:
        job = _take_in(job, key, size)
    elif job["status"] == lifecycle.PENDING:
        # Taken in by an earlier delivery, which may have failed before queuing it: queue it (again). A second
        # message is harmless: a worker claims a job once.
        send_job(get_settings().image_queue_url, job["task_id"])
    else:
        logger.info("this upload's job has moved on already", extra={"status": job["status"]})
    _discard(key)
    return job


def _take_in(job: dict, key: str, size: int) -> dict:
    task_id, settings = job["task_id"], get_settings()
    name = job["params"].get("filename") or key.rsplit("/", 1)[-1]
    try:
        if size > settings.max_upload_bytes:
            raise PayloadTooLarge(f"the file is {size} bytes; the limit is {settings.max_upload_bytes} bytes",
                                  code="file_too_large")
        # At most one byte over the limit is read, whatever was POSTed to the key since its event.
        data = aws.client("s3").get_object(Bucket=settings.bucket, Key=key)["Body"].read(settings.max_upload_bytes + 1)
        info = inspect_image(data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_input_pixels)
    except ApiError as refused:
        if lifecycle.fail(task_id, f"{name}: {refused.message}", code=refused.code, from_statuses=(lifecycle.AWAITING_UPLOAD,)):
            job_metric("JobsFailed", job["operation"], ENGINE)
            logger.warning("upload refused", extra={"key": key, "reason": refused.message})
        return lifecycle.get_job(task_id)
    except ClientError as exc:
        if not storage.is_missing(exc):
            raise
        logger.info("the object is gone: another delivery took this upload in", extra={"key": key})
        return lifecycle.get_job(task_id)
    input_key = storage.input_key(job["owner"], task_id, info.extension)
    storage.put_object(input_key, data, info.content_type)
    described = info.describe()
    if lifecycle.accept_upload(task_id, input_key, described):
        send_job(settings.image_queue_url, task_id)
        job_metric("JobsSubmitted", job["operation"], ENGINE)
        logger.info("upload queued", extra={"key": key, "operation": job["operation"]})
    return lifecycle.get_job(task_id)


def _discard(key: str) -> None:
    """incoming/ is a landing area: once taken in (or refused), the object goes."""
    try:
        storage.delete_object(key)
    except (ClientError, BotoCoreError):
        logger.warning("could not delete a taken-in upload; the bucket's lifecycle will", extra={"key": key})
