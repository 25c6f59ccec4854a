"""Jobs started by S3 uploads: images dropped under inbox/<operation>/... become jobs of the batch owner (with its
default webhook URL, if it set one);
objects under incoming/ are direct uploads (POST /api/v1/uploads) that start their waiting job (uploads.py).

Each object makes exactly one job: its task id is derived from the bucket, key and S3's
sequencer, and the handler is also wrapped in Powertools idempotency on the same three values.
An object that cannot be processed (not an image, too large, unknown operation) becomes a
failed job with the reason, so it is visible and never tried again.
"""
from __future__ import annotations

import os
import posixpath
import unicodedata
import uuid
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from imgapi.core import aws

from imgapi.jobs import lifecycle

from imgapi.core import storage, webhook_secrets

from imgapi.jobs import uploads
from imgapi.core.errors import ApiError
from imgapi.imagefiles.image_input import inspect_image
from imgapi.jobs.job_queue import send_job
from imgapi.core.records import is_condition_failure
from imgapi.core.observability import job_metric, logger
from imgapi.jobs.operations import image_operation_params
from imgapi.core.request_body import MAX_JSON_BYTES, parse_json
from imgapi.core.settings import get_settings

INBOX_PREFIX = "inbox/"
BATCH_RESULTS_PREFIX = "results/"
_TASK_NAMESPACE = uuid.UUID("8f0c2a52-31b7-4c0e-9d55-5d2f0c7a1e10")


def batch_owner() -> str:
    return os.environ.get("BATCH_OWNER", "batch")


def task_id_for(bucket: str, key: str, sequencer: str) -> str:
    """The same S3 event, however often it is delivered, names the same task."""
    return str(uuid.uuid5(_TASK_NAMESPACE, f"{bucket}/{key}/{sequencer}"))


def is_sidecar(key: str) -> bool:
    return key.lower().endswith(".json")


def _read_sidecar(bucket: str, key: str) -> dict:
    """Parameters for an image: `<name>.json` beside it, else `_params.json` in its folder, else none."""
    stem = posixpath.splitext(key)[0]
    for candidate in (stem + ".json", key + ".json", posixpath.join(posixpath.dirname(key), "_params.json")):
        try:
            body = aws.client("s3").get_object(Bucket=bucket, Key=candidate)["Body"].read(MAX_JSON_BYTES + 1)
        except ClientError as exc:
            if storage.is_missing(exc):
                continue
            raise
        try:
            data = parse_json(body)  # the API's rules for JSON: size, finite numbers, depth
        except ApiError as exc:
            raise ApiError(f"the sidecar {candidate}: {exc.message}", code="bad_sidecar") from exc
        if not isinstance(data, dict):
            raise ApiError(f"the sidecar {candidate} must hold a JSON object", code="bad_sidecar")
        return data
    return {}


def _check_mirrorable(relative: str) -> None:
    """The result's key mirrors the image's path: no '.' or '..' segment (which some clients resolve, putting the
    result outside results/<operation>/), no empty segment and no control character in it."""
    segments = relative.split("/")
    if any(segment in ("", ".", "..") for segment in segments) or any(unicodedata.category(c) == "Cc" for c in relative):
        raise ApiError("the key has an empty, '.' or '..' segment or a control character; name the file and its "
                       "folders plainly", code="bad_key")


def ingest_object(bucket: str, raw_key: str, sequencer: str, size: int) -> dict | None:
    """Turn one uploaded object into a job (pending, or failed with the reason). None for sidecars."""
    key = unquote_plus(raw_key)  # S3 event keys are URL-encoded
    if key.startswith(uploads.INCOMING_PREFIX):
        return uploads.receive_upload(key, size)
    if is_sidecar(key) or not key.startswith(INBOX_PREFIX) or key.endswith("/"):
        return None  # a sidecar, another prefix, or a folder marker (the S3 console's "Create folder")
    settings = get_settings()
    task_id = task_id_for(bucket, key, sequencer)
    relative = key[len(INBOX_PREFIX):]
    operation, _, path = relative.partition("/")
    owner = batch_owner()
    logger.set_correlation_id(task_id)
    output_prefix = BATCH_RESULTS_PREFIX + posixpath.splitext(relative)[0]
    webhook = {"webhook_url": url} if (url := webhook_secrets.default_url(owner)) else None  # the owner's default
    try:
        if not path:
            raise ApiError("put images under inbox/<operation>/...", code="unknown_operation")
        _check_mirrorable(relative)
        if size > settings.max_upload_bytes:
            raise ApiError(f"the file is {size} bytes; the limit is {settings.max_upload_bytes} bytes", code="file_too_large")
        params = image_operation_params(operation, owner, _read_sidecar(bucket, key))
        # At most one byte over the limit is read, whatever the object has become since its event.
        data = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read(settings.max_upload_bytes + 1)
        info = inspect_image(data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_input_pixels)
    except ApiError as refused:
        job = _create(task_id, owner, operation, {"source_key": key}, key, None, output_prefix, webhook)
        if job is not None:
            lifecycle.fail(task_id, f"{key}: {refused.message}", code=refused.code)
            job_metric("JobsFailed", operation or "unknown", "local")
            logger.warning("upload refused", extra={"key": key, "reason": refused.message})
        return job
    params["source_key"] = key
    input_info = info.describe()
    job = _create(task_id, owner, operation, params, key, input_info, output_prefix, webhook)
    if job is not None:
        send_job(settings.image_queue_url, task_id)
        job_metric("JobsSubmitted", operation, "local")
        logger.info("upload queued", extra={"key": key, "operation": operation})
    elif (job := lifecycle.get_job(task_id)) is not None and job["status"] == lifecycle.PENDING:
        # S3 retries an event only when its invocation failed (a success is remembered by the idempotency
        # wrapper): that one made the job and may have failed before queuing it. A second message is harmless.
        send_job(settings.image_queue_url, task_id)
        logger.info("upload queued again", extra={"key": key, "operation": operation})
    return job


def _create(task_id, owner, operation, params, key, input_info, output_prefix, extra) -> dict | None:
    try:
        return lifecycle.create_job(task_id=task_id, owner=owner, operation=operation, engine="local", params=params,
                               input_key=key, input_info=input_info, output_prefix=output_prefix, extra=extra)
    except ClientError as exc:
        if is_condition_failure(exc):
            logger.info("this upload already made its job", extra={"key": key})
            return None
        raise
