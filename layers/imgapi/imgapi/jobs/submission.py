"""Submitting a job: store the input, write the job row, queue it; all or nothing."""
from __future__ import annotations

import hashlib
import json
import secrets

from botocore.exceptions import BotoCoreError, ClientError

from imgapi.jobs import lifecycle

from imgapi.jobs import quotas

from imgapi.core import storage
from imgapi.core.errors import ApiError, Conflict, ServiceUnavailable
from imgapi.imagefiles.image_input import ImageInfo
from imgapi.jobs.job_queue import send_job
from imgapi.core.observability import job_metric, logger
from imgapi.core.records import is_condition_failure
from imgapi.core.webhooks import check_target

FINGERPRINT = "request_fingerprint"  # the job attribute: what request an Idempotency-Key was first used for
SUBMIT_REQUEST = "submit_request"  # the job attribute: which of the requests with an Idempotency-Key made the job


class IdempotencyKeyReused(ApiError):
    """The IETF Idempotency-Key draft: the same key with a different request is 422."""

    status = 422
    code = "idempotency_key_reused"


def request_fingerprint(operation: str, engine: str, params: dict, blobs: dict[str, bytes]) -> str:
    """sha256 of what a submit asks for: the route's operation and engine, its canonical parameters (JSON with
    sorted keys) and the sha256 of each uploaded file by field (the multipart boundary and order do not count)."""
    canonical = {"operation": operation, "engine": engine, "params": params,
                 "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(blobs.items())}}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def webhook_target(url: str | None) -> str | None:
    """A submit's webhook_url (read with job_params.WEBHOOK_URL), its target checked now: 400 webhook_url_refused for
    a private, loopback, link-local or metadata host (the delivery checks it again)."""
    return check_target(url) if url else None


def check_replay(existing: dict | None, fingerprint: str) -> dict:
    """The first request's job for a replay of the same request; 422 for another request under the same key; 409
    while the first request with the key is still being submitted (its job cannot be read yet)."""
    if existing is None:
        raise Conflict("a request with this Idempotency-Key is still in progress; try again in a moment",
                       code="idempotency_key_in_progress", headers={"Retry-After": "1"})
    stored = existing.get(FINGERPRINT)
    if stored is not None and stored != fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request (another body, file or "
                                   "parameters); use a new key for a new request")
    logger.info("idempotent replay", extra={"task_id": existing["task_id"]})
    return existing


def submit_job(*, owner: str, operation: str, engine: str, params: dict, queue_url: str,
               image: tuple[bytes, ImageInfo] | None = None,
               uploads: dict[str, tuple[bytes, ImageInfo]] | None = None,
               idempotency_key: str | None = None, webhook_url: str | None = None) -> dict:
    """Create a pending job and queue it. On any AWS failure, undo what was written and answer 503.

    `image` is the job's one input (its input_key); `uploads` are named inputs (form fields), kept under
    uploads/<owner>/<task>/<name>.<ext> and listed in params["uploads"] as {name: key}.
    With an `idempotency_key` (the Idempotency-Key header), a retried request gets the job the first
    one made: the task id is derived from the owner, operation and key. A new job is charged to the owner's
    usage limits first (429 when one is reached; a replay is not charged). `webhook_url` (checked already) is POSTed
    when the job ends (webhook_events.py)."""
    fingerprint = request = None
    if idempotency_key:
        task_id = lifecycle.task_id_for_idempotency_key(owner, operation, idempotency_key)
        blobs = {name: data for name, (data, _) in (uploads or {}).items()}
        if image:
            blobs[""] = image[0]
        fingerprint = request_fingerprint(operation, engine, {**params, "webhook_url": webhook_url} if webhook_url
                                          else params, blobs)
        try:
            existing = lifecycle.get_job(task_id)
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable("the job could not be queued because a storage service failed; try again",
                                     code="submit_failed") from exc
        if existing is not None:
            return check_replay(existing, fingerprint)
        # Requests with the same key race for the same task id: each writes its inputs under keys of its own, so a
        # request that loses (another file: 422) can never replace the inputs of the job that won.
        request = secrets.token_hex(8)
    else:
        task_id = lifecycle.new_task_id()
    logger.set_correlation_id(task_id)
    charge = quotas.admit_job(owner)
    key = storage.input_key(owner, task_id, image[1].extension, request) if image else None
    objects = {key: image} if image else {}
    if uploads:
        named = {name: storage.upload_key(owner, task_id, name, info.extension, request)
                 for name, (_, info) in uploads.items()}
        objects.update({named[name]: upload for name, upload in uploads.items()})
        params = {**params, "uploads": named}
    written: list[str] = []  # every write attempted: one whose answer was lost (a timeout) may have happened
    try:
        for object_key, (data, info) in objects.items():
            written.append(object_key)
            storage.put_object(object_key, data, info.content_type)
        input_info = image[1].describe() if image else None
        if uploads:
            input_info = {name: info.describe() for name, (_, info) in uploads.items()}
        written.append("job")
        job = lifecycle.create_job(task_id=task_id, owner=owner, operation=operation, engine=engine, params=params,
                              input_key=key, input_info=input_info,
                              extra={**({FINGERPRINT: fingerprint, SUBMIT_REQUEST: request} if fingerprint else {}),
                                     **({"webhook_url": webhook_url} if webhook_url else {})} or None)
        send_job(queue_url, task_id)
    except (ClientError, BotoCoreError) as exc:
        if idempotency_key and isinstance(exc, ClientError) and is_condition_failure(exc):
            # Only create_job's condition can fail: another request with the key made the job first. That one's job
            # (and its inputs, under its own keys) stands; this request's inputs are removed, and it is answered as a
            # replay of the first (the same request) or refused (another request: 422).
            _delete_objects(written)
            quotas.refund(charge)
            return check_replay(lifecycle.get_job(task_id), fingerprint)
        logger.exception("submit failed; undoing", extra={"written": written})
        _undo(task_id, written, request)
        quotas.refund(charge)
        raise ServiceUnavailable("the job could not be queued because a storage service failed; try again",
                                 code="submit_failed") from exc
    job_metric("JobsSubmitted", operation, engine)
    logger.info("job submitted", extra={"operation": operation, "engine": engine})
    return job


def _undo(task_id: str, written: list[str], request: str | None) -> None:
    # Best effort: each step is attempted even if another fails, so nothing is left that we can remove. Under an
    # Idempotency-Key the row is deleted only if this request made it (another request with the key may have).
    if "job" in written:
        try:
            lifecycle.delete_job(task_id, only_if=(SUBMIT_REQUEST, request) if request else None)
        except (ClientError, BotoCoreError):
            logger.exception("could not delete the job row of a failed submit; failing it instead")
            try:  # never a pending job that no message will ever start (else the sweeper closes it)
                lifecycle.fail(task_id, "the submit failed because a storage service was unavailable (it was answered "
                          "503); submit the job again", code="submit_failed")
            except (ClientError, BotoCoreError):
                logger.exception("could not fail the job row of a failed submit either")
    _delete_objects(written)


def _delete_objects(written: list[str]) -> None:
    for key in written:
        if key == "job":
            continue
        try:
            storage.delete_object(key)
        except (ClientError, BotoCoreError):
            logger.exception("could not delete an input of a failed submit", extra={"key": key})
