"""Large uploads straight to S3 on the local stack, over real HTTP: presigned POSTs (their policy enforced as S3
does), the jobs they start, batch folders under inbox/, duplicate notifications, and `imgapi client`.

S3 is reached with urllib3 itself, or from another process: in this process moto's mock (which the stack's
functions use) would answer `requests` calls to the local AWS without going through its server."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import urllib3
from PIL import Image
from urllib3.filepost import encode_multipart_formdata

from imgapi.jobs import lifecycle
from imgapi.jobs.ingest import task_id_for
from imgapi_local import client
from tests.e2e.conftest import aws_client, login
from tests.functional.test_ingest import s3_event
from tests.support.images import encode, portrait_array, portrait_jpeg, portrait_png
from tests.support.waiting import REAL_WORK_SECONDS

pytestmark = pytest.mark.slow


def big_jpeg(width: int = 1700, height: int = 1275) -> bytes:
    """About 7 MB: a portrait under heavy noise, at JPEG's highest quality without chroma subsampling."""
    rng = np.random.default_rng(7)
    noisy = portrait_array(width, height).astype(np.int16) + rng.integers(-60, 61, (height, width, 3), dtype=np.int16)
    return encode(np.clip(noisy, 0, 255).astype(np.uint8), "JPEG", quality=100, subsampling=0)


def request_upload(base_url: str, token: str, **body) -> dict:
    body = {"operation": "combo", "filename": "photo.jpg", "content_type": "image/jpeg", **body}
    response = requests.post(f"{base_url}/api/v1/uploads", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def post_file(upload: dict, data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg") -> urllib3.BaseHTTPResponse:
    """What a browser form or `curl -F` sends: the presigned fields, then the file."""
    body, form_type = encode_multipart_formdata([*upload["fields"].items(), ("file", (filename, data, content_type))])
    return urllib3.request("POST", upload["url"], body=body, headers={"Content-Type": form_type}, timeout=60)


def job_of(base_url: str, token: str, task_id: str, until=lambda job: job["status"] in ("completed", "failed"),
           timeout: float = REAL_WORK_SECONDS) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(f"{base_url}/api/v1/jobs/{task_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_7_mb_jpeg_posted_straight_to_s3_starts_a_job_that_completes(base_url):
    token = login(base_url)
    data = big_jpeg()
    assert 6.5e6 < len(data) < 8e6  # well over what API Gateway and Lambda let through (6 MB, ~4.5 MB of image)
    answer = request_upload(base_url, token, operation="remove_bg", size=len(data))
    assert answer["upload"]["url"].startswith("http://127.0.0.1:")
    assert post_file(answer["upload"], data).status == 204
    job = job_of(base_url, token, answer["task_id"])
    assert job["status"] == "completed", job
    result = urllib3.request("GET", job["results"][0]["url"], timeout=30)
    image = Image.open(io.BytesIO(result.data))
    assert image.mode == "RGBA" and image.size == (1700, 1275)
    assert lifecycle.get_job(answer["task_id"])["input"]["size_bytes"] == len(data)


def test_an_oversize_upload_is_refused_by_the_s3_policy_and_starts_no_job(base_url, local_stack):
    token = login(base_url)
    answer = request_upload(base_url, token)
    limit = answer["max_bytes"]
    response = post_file(answer["upload"], b"\xff\xd8\xff" + b"\0" * (limit - 2))
    assert response.status == 400 and b"<Code>EntityTooLarge</Code>" in response.data
    assert f"<MaxSizeAllowed>{limit}</MaxSizeAllowed>".encode() in response.data
    s3 = aws_client(local_stack, "s3")
    listing = s3.list_objects_v2(Bucket=local_stack.stack.environment()["BUCKET_NAME"], Prefix=answer["upload"]["fields"]["key"])
    assert listing.get("KeyCount", 0) == 0
    assert job_of(base_url, token, answer["task_id"], until=lambda job: False, timeout=1)["status"] == "awaiting_upload"
    # Nor does S3 take a file of another type, or one for another key.
    html = {**answer["upload"], "fields": {**answer["upload"]["fields"], "Content-Type": "text/html"}}
    assert post_file(html, b"<html>", "x.html", "text/html").status == 403
    forged = {**answer["upload"], "fields": {**answer["upload"]["fields"], "key": "results/test_user/forged.png"}}
    assert post_file(forged, portrait_jpeg(20, 20)).status == 403
    assert s3.list_objects_v2(Bucket=local_stack.stack.environment()["BUCKET_NAME"], Prefix="results/test_user/forged").get("KeyCount", 0) == 0


def test_an_upload_that_is_not_an_image_ends_failed_with_the_reason(base_url):
    token = login(base_url)
    answer = request_upload(base_url, token, filename="scan.jpg")
    assert post_file(answer["upload"], b"%PDF-1.4 not a photo at all", "scan.jpg").status == 204
    job = job_of(base_url, token, answer["task_id"], until=lambda job: job["status"] != "awaiting_upload")
    assert job["status"] == "failed" and job["error"]["code"] == "unsupported_image"
    assert "scan.jpg" in job["error"]["message"] and "not an image" in job["error"]["message"]


def test_images_dropped_under_inbox_combo_come_out_under_results_with_the_same_names(local_stack):
    """What `aws s3 cp --recursive ./catalogue s3://<bucket>/inbox/combo/catalogue/` does: a sidecar, then images."""
    s3 = aws_client(local_stack, "s3")
    bucket = local_stack.stack.environment()["BUCKET_NAME"]
    s3.put_object(Bucket=bucket, Key="inbox/combo/catalogue/_params.json", Body=json.dumps({"enhance_level": "light"}))
    s3.put_object(Bucket=bucket, Key="inbox/combo/catalogue/front.jpg", Body=portrait_jpeg(48, 64))
    s3.put_object(Bucket=bucket, Key="inbox/combo/catalogue/shoes/side view.png", Body=portrait_png(40, 50))
    expected = ["results/combo/catalogue/front.png", "results/combo/catalogue/shoes/side view.png"]
    deadline = time.monotonic() + REAL_WORK_SECONDS
    while time.monotonic() < deadline:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix="results/combo/catalogue/").get("Contents", [])
        if len(listing) == 2:
            break
        time.sleep(0.3)
    assert sorted(o["Key"] for o in listing) == expected
    front = Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key=expected[0])["Body"].read()))
    assert front.size == (96, 128)  # light: 2x


def test_the_same_notification_delivered_twice_makes_one_job(local_stack):
    s3, sqs = aws_client(local_stack, "s3"), aws_client(local_stack, "sqs")
    bucket = local_stack.stack.environment()["BUCKET_NAME"]
    key = "inbox/remove_bg/duplicates/once.jpg"
    s3.put_object(Bucket=bucket, Key=key, Body=portrait_jpeg(40, 50))  # S3's own notification: one job
    # The notification queue of the inbox gets one more event, twice: S3 delivering it again.
    queue = next(s.queue_url for s in local_stack.sources if s.s3_notifications and s.queue_url.endswith("-InboxUpload"))
    event = json.dumps(s3_event(key, sequencer="00DUPLICATE0000001", size=100))
    sqs.send_message(QueueUrl=queue, MessageBody=event)
    sqs.send_message(QueueUrl=queue, MessageBody=event)
    duplicate_task = task_id_for(bucket, key, "00DUPLICATE0000001")

    def handled() -> bool:  # every notification taken off the queue (a message is deleted once handled)
        counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return not any(int(n) for n in counts.values()) and lifecycle.get_job(duplicate_task) is not None

    deadline = time.monotonic() + REAL_WORK_SECONDS
    while not handled() and time.monotonic() < deadline:
        time.sleep(0.2)
    table = aws_client(local_stack, "dynamodb")
    found = table.scan(TableName=local_stack.stack.environment()["JOBS_TABLE"],
                       FilterExpression="params.source_key = :k", ExpressionAttributeValues={":k": {"S": key}})["Items"]
    # One job per distinct S3 event: the upload's own, and the one delivered twice.
    assert len(found) == 2 and duplicate_task in {item["task_id"]["S"] for item in found}


def imgapi(*args: str, env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The `imgapi` command as a person runs it: its own process, talking HTTP to the API and the presigned URLs."""
    command = [str(Path(sys.executable).with_name("imgapi")), *args]
    return subprocess.run(command, input=stdin, env=env, capture_output=True, text=True, timeout=120)


def test_the_client_processes_a_folder_of_good_and_bad_files_and_a_second_run_does_nothing(base_url, local_stack, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env[client.CREDENTIALS_ENV] = str(tmp_path / "config" / "credentials.json")
    logged_in = imgapi("client", "login", "--url", base_url, "--username", "test_user", "--password-stdin",
                       env=env, stdin="test_password\n")
    assert logged_in.returncode == 0, logged_in.stderr
    assert (tmp_path / "config" / "credentials.json").stat().st_mode & 0o777 == 0o600
    photos = tmp_path / "photos"
    (photos / "shoes").mkdir(parents=True)
    (photos / "model.jpg").write_bytes(portrait_jpeg(64, 80))
    (photos / "shoes" / "side.png").write_bytes(portrait_png(40, 50))
    (photos / "broken.jpg").write_bytes(b"this was never a photo")
    (photos / "animation.gif").write_bytes(b"GIF89a...")
    (photos / "huge.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024))
    (photos / "notes.txt").write_text("not an image: not even looked at")
    out = tmp_path / "out"
    run = ("client", "run", "combo", str(photos), "-o", str(out), "--param", "enhance_level=light", "-j", "3")

    first = imgapi(*run, env=env)
    assert first.returncode == 1, first.stderr
    lines = {line.split()[1].rstrip(":"): line for line in first.stdout.splitlines() if line.startswith(("done", "failed"))}
    assert set(lines) == {"model.jpg", "shoes/side.png", "broken.jpg", "animation.gif", "huge.jpg"}, first.stdout
    assert lines["model.jpg"].startswith("done") and lines["shoes/side.png"].startswith("done")
    assert "not an image" in lines["broken.jpg"] and "image/gif" in lines["animation.gif"] and "limit" in lines["huge.jpg"]
    assert "5 file(s): 2 done, 3 failed" in first.stdout
    assert Image.open(out / "model.png").size == (128, 160) and Image.open(out / "shoes" / "side.png").size == (80, 100)
    state = json.loads((out / client.STATE_FILE).read_text())["files"]
    assert {name: entry["status"] for name, entry in state.items()} == {
        "model.jpg": "done", "shoes/side.png": "done", "broken.jpg": "failed", "animation.gif": "failed", "huge.jpg": "failed"}

    calls = sum("UploadsFunction" in line or "JobsFunction" in line for line in local_stack.log_lines)
    second = imgapi(*run, env=env)
    assert second.returncode == 1  # the failures stand
    assert "5 file(s): 0 done, 0 failed, 5 skipped (finished in an earlier run, 3 of them failed)" in second.stdout
    assert sum("UploadsFunction" in line or "JobsFunction" in line for line in local_stack.log_lines) == calls
