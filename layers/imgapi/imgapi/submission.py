"""Submitting a job: store the input, write the job row, queue it; all or nothing."""
from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from . import jobs, storage
from .errors import ServiceUnavailable
from .image_input import ImageInfo
from .job_queue import send_job
from .observability import job_metric, logger


def submit_job(*, owner: str, operation: str, engine: str, params: dict, queue_url: str,
               image: tuple[bytes, ImageInfo] | None = None) -> dict:
    """Create a pending job and queue it. On any AWS failure, undo what was written and answer 503."""
    task_id = jobs.new_task_id()
    logger.set_correlation_id(task_id)
    key = storage.input_key(owner, task_id, image[1].extension) if image else None
    written: list[str] = []
    try:
        if image:
            data, info = image
            storage.put_object(key, data, info.content_type)
            written.append("object")
        input_info = {"content_type": image[1].content_type, "width": image[1].width, "height": image[1].height,
                      "size_bytes": image[1].size_bytes} if image else None
        job = jobs.create_job(task_id=task_id, owner=owner, operation=operation, engine=engine, params=params,
                              input_key=key, input_info=input_info)
        written.append("job")
        send_job(queue_url, task_id)
    except (ClientError, BotoCoreError) as exc:
        logger.exception("submit failed; undoing", extra={"written": written})
        _undo(task_id, key, written)
        raise ServiceUnavailable("the job could not be queued because a storage service failed; try again",
                                 code="submit_failed") from exc
    job_metric("JobsSubmitted", operation)
    logger.info("job submitted", extra={"operation": operation, "engine": engine})
    return job


def _undo(task_id: str, key: str | None, written: list[str]) -> None:
    # Best effort: each step is attempted even if another fails, so nothing is left that we can remove.
    if "job" in written:
        try:
            jobs.delete_job(task_id)
        except (ClientError, BotoCoreError):
            logger.exception("could not delete the job row of a failed submit")
    if "object" in written and key:
        try:
            storage.delete_object(key)
        except (ClientError, BotoCoreError):
            logger.exception("could not delete the input of a failed submit")
