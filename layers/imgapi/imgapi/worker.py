"""The image worker: takes a queued job through its state machine and runs its operation locally."""
from __future__ import annotations

import time

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from . import jobs, storage
from .errors import JobFailure
from .job_queue import task_id_of
from .observability import job_metric, logger
from .pipeline import ImageOutput, run_combo, run_remove_bg
from .remote_images import download_image
from .removal_configs import config_from_dict
from .settings import get_settings


def _input_bytes(job: dict) -> bytes:
    if not job.get("input_key") and job["params"].get("image_url"):
        # A job whose input is a URL (the first API's remove_bg): fetched with the safe fetcher, checked like an upload.
        settings = get_settings()
        return download_image(job["params"]["image_url"], what="image_url", max_bytes=settings.max_upload_bytes,
                              max_pixels=settings.max_input_pixels)[0]
    try:
        return storage.get_object(job["input_key"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            raise JobFailure("the input image is no longer in storage (expired or deleted); submit it again",
                             code="input_missing") from exc
        raise


def _run_combo(job: dict, data: bytes) -> ImageOutput:
    params = job["params"]
    return run_combo(data, params["enhance_level"], config_from_dict(params["config"]),
                     max_edge=get_settings().max_output_edge, fmt=params.get("format", "png"))


def _run_remove_bg(job: dict, data: bytes) -> ImageOutput:
    return run_remove_bg(data, config_from_dict(job["params"]["config"]), fmt=job["params"].get("format", "png"))


OPERATIONS = {"combo": _run_combo, "remove_bg": _run_remove_bg}


def run_job(job: dict) -> list[dict]:
    operation = OPERATIONS.get(job["operation"])
    if operation is None:
        raise JobFailure(f"the image worker cannot run operation {job['operation']!r}", code="bad_operation")
    output = operation(job, _input_bytes(job))
    prefix = job.get("output_prefix")
    key = f"{prefix}.{output.extension}" if prefix else storage.result_key(job["owner"], job["task_id"], output.extension)
    storage.put_object(key, output.data, output.content_type)
    return [{"key": key, **output.describe()}]


def _record_outcome(job: dict, outcome: str, started: float) -> None:
    job_metric(f"Jobs{outcome}", job["operation"], job.get("engine", "local"))
    job_metric("JobDuration", job["operation"], job.get("engine", "local"), round(time.monotonic() - started, 3), MetricUnit.Seconds)


def handle_record(record: SQSRecord) -> None:
    """Process one queue message. Raising leaves the message for SQS to redeliver (and finally dead-letter)."""
    task_id = task_id_of(record.body)  # an unreadable message raises: it ends in the DLQ
    attempt = int(record.attributes.approximate_receive_count)
    logger.set_correlation_id(task_id)
    logger.append_keys(task_id=task_id, attempt=attempt)
    job = jobs.claim(task_id, attempt)
    if job is None:
        logger.info("nothing to do: the job is finished, unknown, or taken by a newer delivery")
        return
    started = time.monotonic()
    try:
        results = run_job(job)
    except JobFailure as failure:
        jobs.fail(task_id, failure.reason, code=failure.code, attempt=attempt)
        logger.warning("job failed", extra={"reason": failure.reason, "code": failure.code})
        _record_outcome(job, "Failed", started)
        return
    except Exception as exc:
        if attempt >= get_settings().max_receive_count:
            jobs.fail(task_id, f"gave up after {attempt} attempts; last error: {type(exc).__name__}: {exc}",
                      code="retries_exhausted", attempt=attempt)
            _record_outcome(job, "Failed", started)
            logger.exception("job failed for good; its message goes to the dead-letter queue")
        else:
            jobs.record_attempt_error(task_id, attempt, f"{type(exc).__name__}: {exc}")
            logger.exception("attempt failed; SQS will redeliver")
        raise
    if jobs.complete(task_id, attempt, results):
        logger.info("job completed", extra={"result": results[0]})
        _record_outcome(job, "Completed", started)
    else:
        logger.warning("finished, but a newer delivery owns the job now; its outcome stands")
