"""Images dropped under inbox/<operation>/ become jobs of the batch owner, once per S3 event."""
from __future__ import annotations

import json

import boto3
import pytest

from imgapi.jobs import lifecycle
from imgapi.core.settings import get_settings
from imgapi_local.events import LambdaContext
from imgapi_local.handlers import load_handler
from imgapi_local.template import functions, load_template
from tests.support.images import portrait_jpeg
from tests.support.worker import deliver, queue_depth
from tests.support.aws_state import job_rows as all_jobs

pytestmark = pytest.mark.slow


def ingest_handler():
    return load_handler(next(s for s in functions(load_template()) if s.logical_id == "IngestFunction"))


def s3_event(key: str, sequencer: str = "0055AED6DCD90281E5", size: int | None = None) -> dict:
    bucket = get_settings().bucket
    if size is None:
        size = boto3.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"]
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-21T08:00:00.000Z",
        "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "InboxUpload",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": key.replace(" ", "+"), "size": size, "eTag": "0123456789abcdef", "sequencer": sequencer}},
    }]}


def put(key: str, data: bytes, ctype: str = "image/jpeg") -> None:
    boto3.client("s3").put_object(Bucket=get_settings().bucket, Key=key, Body=data, ContentType=ctype)


def test_an_inbox_image_becomes_a_job_and_its_result_lands_under_a_mirrored_path(stack):
    put("inbox/combo/shoot 1/model.jpg", portrait_jpeg(80, 100))
    response = ingest_handler()(s3_event("inbox/combo/shoot 1/model.jpg"), LambdaContext("ingest"))
    (task_id,) = response["tasks"]
    job = lifecycle.get_job(task_id)
    assert job["owner"] == "batch" and job["operation"] == "combo" and job["status"] == "pending"
    assert job["params"]["enhance_level"] == "medium"
    deliver(get_settings().image_queue_url)
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed"
    assert job["results"][0]["key"] == "results/combo/shoot 1/model.png"
    body = boto3.client("s3").get_object(Bucket=get_settings().bucket, Key="results/combo/shoot 1/model.png")["Body"].read()
    assert body[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_sidecar_sets_the_parameters(stack):
    put("inbox/combo/a.json", json.dumps({"enhance_level": "strong", "config": {"bgcolor": "#ffffff"}}).encode(), "application/json")
    assert ingest_handler()(s3_event("inbox/combo/a.json"), LambdaContext("ingest")) == {"tasks": [None]}
    put("inbox/combo/a.jpg", portrait_jpeg(40, 50))
    (task_id,) = ingest_handler()(s3_event("inbox/combo/a.jpg"), LambdaContext("ingest"))["tasks"]
    params = lifecycle.get_job(task_id)["params"]
    assert params["enhance_level"] == "strong" and params["config"]["bgcolor"] == [255, 255, 255, 255]


def test_the_same_event_delivered_twice_makes_one_job(stack):
    put("inbox/remove_bg/x.jpg", portrait_jpeg(40, 50))
    event = s3_event("inbox/remove_bg/x.jpg")
    first = ingest_handler()(event, LambdaContext("ingest"))
    second = ingest_handler()(event, LambdaContext("ingest"))
    assert first == second
    assert len(all_jobs()) == 1 and queue_depth(get_settings().image_queue_url) == 1
    # A new upload of the same key (a new sequencer) is a new job.
    ingest_handler()(s3_event("inbox/remove_bg/x.jpg", sequencer="0055AED6DCD90281F0"), LambdaContext("ingest"))
    assert len(all_jobs()) == 2


@pytest.mark.parametrize("key,data,reason", [
    ("inbox/combo/notes.txt", b"hello", "not an image"),
    ("inbox/sharpen/p.jpg", None, "unknown operation"),
    ("inbox/combo.jpg", None, "inbox/<operation>/"),
])
def test_bad_uploads_end_as_failed_jobs_with_the_reason(stack, key, data, reason):
    put(key, data if data is not None else portrait_jpeg(40, 50))
    (task_id,) = ingest_handler()(s3_event(key), LambdaContext("ingest"))["tasks"]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and reason in job["error_message"] and key in job["error_message"]
    assert queue_depth(get_settings().image_queue_url) == 0
    # Delivered again, nothing changes.
    ingest_handler()(s3_event(key), LambdaContext("ingest"))
    assert lifecycle.get_job(task_id) == job


def test_too_many_pixels_fails_the_job(stack, monkeypatch):
    monkeypatch.setenv("MAX_INPUT_PIXELS", "1000")
    get_settings.cache_clear()
    put("inbox/combo/big.jpg", portrait_jpeg(80, 100))
    (task_id,) = ingest_handler()(s3_event("inbox/combo/big.jpg"), LambdaContext("ingest"))["tasks"]
    assert lifecycle.get_job(task_id)["error_code"] == "too_many_pixels"
