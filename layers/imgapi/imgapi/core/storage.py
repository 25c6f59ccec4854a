"""The image bucket: where inputs and results live, and presigned access to them."""
from __future__ import annotations

from botocore.exceptions import ClientError

from imgapi.core import aws
from imgapi.core.settings import get_settings

UPLOADS_PREFIX = "uploads/"
RESULTS_PREFIX = "results/"


def _inputs_folder(owner: str, task_id: str, request: str | None) -> str:
    return f"{UPLOADS_PREFIX}{owner}/{task_id}/" + (f"{request}/" if request else "")


def input_key(owner: str, task_id: str, extension: str, request: str | None = None) -> str:
    """A job's input. `request`: a folder of the request's own, where several requests may name the same task (an
    Idempotency-Key), so that a request that loses the race for the job cannot replace the winner's inputs."""
    return f"{_inputs_folder(owner, task_id, request)}input.{extension}"


def upload_key(owner: str, task_id: str, name: str, extension: str, request: str | None = None) -> str:
    """Where an uploaded input named `name` (a form field) of a job is kept (`request` as for input_key)."""
    return f"{_inputs_folder(owner, task_id, request)}{name}.{extension}"


def result_key(owner: str, task_id: str, extension: str, index: int | None = None) -> str:
    """A job's result; jobs with several results number them (result-0, result-1, ...)."""
    name = "result" if index is None else f"result-{index}"
    return f"{RESULTS_PREFIX}{owner}/{task_id}/{name}.{extension}"


def put_object(key: str, data: bytes, content_type: str) -> None:
    aws.client("s3").put_object(Bucket=get_settings().bucket, Key=key, Body=data, ContentType=content_type)


def get_object(key: str) -> bytes:
    return aws.client("s3").get_object(Bucket=get_settings().bucket, Key=key)["Body"].read()


def delete_object(key: str) -> None:
    aws.client("s3").delete_object(Bucket=get_settings().bucket, Key=key)


def is_missing(exc: ClientError) -> bool:
    """The S3 error for a key that is not there (GetObject says NoSuchKey, HeadObject a bare 404)."""
    return exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound")


def object_exists(key: str) -> bool:
    try:
        aws.client("s3").head_object(Bucket=get_settings().bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return False
        raise
    return True


def presigned_post(key: str, *, content_type: str, max_bytes: int, ttl_seconds: int) -> dict:
    """A browser-style upload of exactly `key`: {"url", "fields"} for a multipart POST whose policy S3 enforces
    (1 to max_bytes bytes, an image/* content type, this bucket and key, valid ttl_seconds)."""
    return aws.client("s3").generate_presigned_post(
        Bucket=get_settings().bucket, Key=key, Fields={"Content-Type": content_type},
        Conditions=[["content-length-range", 1, max_bytes], ["starts-with", "$Content-Type", "image/"]],
        ExpiresIn=ttl_seconds,
    )


def presigned_get_url(key: str, *, filename: str | None = None, ttl_seconds: int | None = None) -> str:
    params = {"Bucket": get_settings().bucket, "Key": key}
    if filename:
        params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    return aws.client("s3").generate_presigned_url(
        "get_object", Params=params, ExpiresIn=ttl_seconds or get_settings().presign_ttl_seconds
    )
