"""The image worker: takes a queued job through its state machine and runs its operation locally."""
from __future__ import annotations

from dataclasses import replace

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from imgapi.core import aws, output_spec
from imgapi.core.output_spec import OutputOptions
from imgapi.jobs.job_params import OUTPUT_OPTIONS

from imgapi.jobs import lifecycle

from imgapi.core import storage
from imgapi.engine.compose import run_change_bg
from imgapi.core.errors import JobFailure
from imgapi.jobs.job_queue import task_id_of
from imgapi.jobs.job_runs import run_to_end
from imgapi.core.observability import logger
from imgapi.jobs.operations import IMAGE_EDITS
from imgapi.engine.outpaint import SIDES, run_expand
from imgapi.engine.pipeline import ImageOutput, run_combo, run_fix, run_remove_bg
from imgapi.imagefiles.remote_images import download_image
from imgapi.engine.cutout_settings import RemovalConfig
from imgapi.jobs.removal_configs import config_from_dict
from imgapi.core.settings import get_settings


def _stored(key: str) -> bytes:
    """An input from the bucket, refused unread when it is larger than any upload may be (an object put there by
    other means); the pipeline's decode then checks it as every upload is checked."""
    settings = get_settings()
    try:
        response = aws.client("s3").get_object(Bucket=settings.bucket, Key=key)
    except ClientError as exc:
        if storage.is_missing(exc):
            raise JobFailure("the input image is no longer in storage (expired or deleted); submit it again",
                             code="input_missing") from exc
        raise
    with response["Body"] as body:
        if response["ContentLength"] > settings.max_upload_bytes:
            raise JobFailure(f"the input image is {response['ContentLength']} bytes; the limit is "
                             f"{settings.max_upload_bytes} bytes", code="file_too_large")
        return body.read()


def _image(job: dict, field: str) -> bytes | None:
    """An input image of an image edit by its URL field: uploaded (params["uploads"]), or downloaded from the URL
    with the safe fetcher and checked like an upload; None when the job has neither."""
    params = job["params"]
    uploaded = (params.get("uploads") or {}).get(field)
    if uploaded:
        return _stored(uploaded)
    if not params.get(field):
        return None
    settings = get_settings()
    return download_image(params[field], what=field, max_bytes=settings.max_upload_bytes,
                          max_pixels=settings.max_input_pixels)[0]


def _input_bytes(job: dict) -> bytes:
    """The job's main image: the stored input, else (the first API's edits) its first image field."""
    if job.get("input_key"):
        return _stored(job["input_key"])
    edit = IMAGE_EDITS.get(job["operation"])
    data = _image(job, edit.image_fields[0]) if edit else None
    if data is None:
        raise JobFailure("the job has no input image", code="input_missing")
    return data


def _output_options(params: dict, config: RemovalConfig) -> OutputOptions | None:
    """The job's output options (crop, crop_margin, channels, bg_color), rendered as remove.bg's route renders them;
    None when it gave none. Without bg_color, the configuration's bgcolor fills the background, as without options."""
    if not any(param.name in params for param in OUTPUT_OPTIONS):
        return None
    options = output_spec.options(params)
    return replace(options, bg_color=config.bgcolor) if options.bg_color is None and config.bgcolor else options


def _run_combo(job: dict, data: bytes) -> ImageOutput:
    params = job["params"]
    config = config_from_dict(params["config"])
    return run_combo(data, params["enhance_level"], config, max_edge=get_settings().max_output_edge,
                     fmt=params.get("format", "png"), options=_output_options(params, config))


def _run_remove_bg(job: dict, data: bytes) -> ImageOutput:
    params = job["params"]
    config = config_from_dict(params["config"])
    return run_remove_bg(data, config, fmt=params.get("format", "png"), options=_output_options(params, config))


def _run_change_bg(job: dict, data: bytes) -> ImageOutput:
    reference = _image(job, "ref_image_url")
    if reference is None:
        raise JobFailure("change_bg on the local engine needs ref_image_url: it cannot generate a background from "
                         "ref_prompt", code="missing_field")
    return run_change_bg(data, reference, model=get_settings().default_rembg_model)


def _run_expand(job: dict, data: bytes) -> ImageOutput:
    scales = {side: float(job["params"][f"{side}_scale"]) for side in SIDES}
    settings = get_settings()
    return run_expand(data, scales, max_pixels=settings.max_input_pixels, model=settings.expand_model)


def _run_fix(job: dict, data: bytes) -> ImageOutput:
    settings = get_settings()
    return run_fix(data, int(job["params"]["upscale_factor"]), max_edge=settings.max_output_edge,
                   sr_model=settings.fix_sr_model)


OPERATIONS = {"combo": _run_combo, "remove_bg": _run_remove_bg, "change_bg": _run_change_bg, "expand": _run_expand,
              "fix": _run_fix}


def run_job(job: dict) -> list[dict]:
    operation = OPERATIONS.get(job["operation"])
    if operation is None:
        raise JobFailure(f"the image worker cannot run operation {job['operation']!r}", code="bad_operation")
    output = operation(job, _input_bytes(job))
    prefix = job.get("output_prefix")
    key = f"{prefix}.{output.extension}" if prefix else storage.result_key(job["owner"], job["task_id"], output.extension)
    storage.put_object(key, output.data, output.content_type)
    result = {"key": key, **output.describe()}
    if output.enhancer:
        result["enhancer"] = output.enhancer  # which enlargement ran: a job never changes quality silently
    if output.expander:
        result["expander"] = output.expander  # and what filled expand's new border
    if job["operation"] in IMAGE_EDITS:
        result["index"] = 0  # the first API's results list, as DashScope's jobs have it
    return [result]


def handle_record(record: SQSRecord) -> None:
    """Process one queue message. Raising leaves the message for SQS to redeliver (and finally dead-letter)."""
    task_id = task_id_of(record.body)  # an unreadable message raises: it ends in the DLQ
    attempt = int(record.attributes.approximate_receive_count)
    logger.set_correlation_id(task_id)
    logger.append_keys(task_id=task_id, attempt=attempt)
    job = lifecycle.claim(task_id, attempt, last_delivery=attempt >= get_settings().max_receive_count)
    if job is None:
        logger.info("nothing to do: the job is finished, unknown, or taken by a newer delivery")
        return
    run_to_end(job, attempt=attempt, receives=attempt, engine=job.get("engine", "local"), work=lambda: run_job(job))
