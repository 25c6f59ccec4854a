"""The combo API of the second seed: remove the background, then enhance; its submit, status and result shapes."""
from __future__ import annotations

from imgapi.jobs import lifecycle

from imgapi.core import storage
from imgapi.core.errors import BadRequest, NotFound
from imgapi.imagefiles.image_input import inspect_image
from imgapi.jobs.job_params import OUTPUT_OPTIONS
from imgapi.jobs.operations import combo_params
from imgapi.core.request_body import idempotency_key, parse_form
from imgapi.core.settings import get_settings
from imgapi.jobs.job_params import WEBHOOK_URL
from imgapi.jobs.submission import submit_job, webhook_target

OPERATION = "combo"


def submit(owner: str, raw_event: dict) -> dict:
    settings = get_settings()
    query = raw_event.get("queryStringParameters") or {}
    form = parse_form(raw_event)
    upload = form.files.get("file")
    if upload is None:
        raise BadRequest("no file: send the image as the multipart form field 'file'", code="missing_file")
    # A form field or, as the seed's clients send them, a query parameter: both text.
    fields = {k: form.fields.get(k) or query.get(k)
              for k in ("enhance_level", "config_id", "format", "webhook_url", *(p.name for p in OUTPUT_OPTIONS))}
    params = combo_params(owner, fields, text=True)
    webhook_url = webhook_target(WEBHOOK_URL.read(fields["webhook_url"], text=True))
    info = inspect_image(upload.data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_input_pixels)
    params["filename"] = (upload.filename or "")[:255]
    job = submit_job(owner=owner, operation=OPERATION, engine="local", params=params,
                     queue_url=settings.image_queue_url, image=(upload.data, info),
                     idempotency_key=idempotency_key(raw_event), webhook_url=webhook_url)
    return {
        "task_id": job["task_id"],
        "status": job["status"],
        "message": f"task submitted; follow it at /api/v1/upscale/status/{job['task_id']}",
    }


def status_body(job: dict) -> dict:
    completed = job["status"] == lifecycle.COMPLETED
    result = (job.get("results") or [None])[0]
    body = {
        "task_id": job["task_id"],
        "status": job["status"],
        "result_path": f"/api/v1/upscale/result/{job['task_id']}" if completed else None,
        "error": job.get("error_message"),
        "error_code": job.get("error_code"),
        "operation": job["operation"],
        "enhance_level": job["params"].get("enhance_level"),
        "created_at": job["created_at"],
        "started_at": job.get("started_at"),
        "finished_at": job.get("finished_at"),
    }
    if completed and result:
        body["result"] = {k: result[k] for k in ("content_type", "size_bytes", "width", "height")}
    return body


def result_of(job: dict) -> tuple[dict, str, bytes | None, str | None]:
    """The result's description, its download file name, and either its bytes (small enough for a Lambda
    response) or a presigned URL."""
    if job["status"] != lifecycle.COMPLETED:
        state = {"failed": f"the task failed: {job.get('error_message')}"}.get(job["status"], f"the task is {job['status']}")
        raise NotFound(f"no result: {state}", code="result_not_ready")
    result = job["results"][0]
    filename = f"{job['task_id']}.{result['key'].rsplit('.', 1)[-1]}"
    if result["size_bytes"] <= get_settings().inline_result_max_bytes:
        return result, filename, storage.get_object(result["key"]), None
    return result, filename, None, storage.presigned_get_url(result["key"], filename=filename)
