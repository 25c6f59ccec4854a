"""The local stack over real HTTP: login, combo jobs end to end, auth, queues, the DLQ, and logs."""
from __future__ import annotations

import io
import json
import os
import time

import numpy as np
import pytest
import requests
from PIL import Image

from imgapi.auth import users
from imgapi.engine.enhance_levels import LEVELS, output_size
from tests.e2e.conftest import aws_client, login, wait_for
from tests.support.images import portrait_jpeg
from tests.support.waiting import REAL_WORK_SECONDS

pytestmark = pytest.mark.slow


def submit(base_url: str, token: str, data: bytes, level: str = "medium") -> str:
    response = requests.post(f"{base_url}/api/v1/upscale/combo", params={"token": token, "enhance_level": level},
                             files={"file": ("portrait.jpg", data, "image/jpeg")}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["task_id"]


def test_login_over_http(base_url):
    response = requests.post(f"{base_url}/api/v1/login", data={"username": "test_user", "password": "test_password"}, timeout=10)
    assert response.status_code == 200 and response.json()["token_type"] == "bearer"
    assert requests.post(f"{base_url}/api/v1/login", params={"username": "test_user", "password": "nope-nope"}, timeout=10).status_code == 401


@pytest.mark.parametrize("level", list(LEVELS))
def test_combo_submit_poll_and_download_for_each_level(base_url, level):
    token = login(base_url)
    task_id = submit(base_url, token, portrait_jpeg(160, 200), level)
    status = wait_for(base_url, token, task_id)
    assert status["status"] == "completed", status
    result = requests.get(f"{base_url}/api/v1/upscale/result/{task_id}", params={"token": token}, timeout=30)
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(result.content))
    assert image.mode == "RGBA" and image.size == output_size(160, 200, LEVELS[level].scale, 4096)
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[2, 2] == 0 and alpha[image.height * 11 // 20, image.width // 2] == 255


def test_auth_over_http(base_url, local_stack):
    token = login(base_url)
    task_id = submit(base_url, token, portrait_jpeg(64, 80), "light")
    assert requests.get(f"{base_url}/api/v1/upscale/status/{task_id}", timeout=10).status_code == 401
    assert requests.get(f"{base_url}/api/v1/upscale/status/{task_id}", headers={"Authorization": "Bearer x.y.z"}, timeout=10).status_code == 401
    users.create_user("mallory", "mallory-password")
    other = login(base_url, "mallory", "mallory-password")
    assert requests.get(f"{base_url}/api/v1/upscale/status/{task_id}", params={"token": other}, timeout=10).status_code == 403
    assert requests.get(f"{base_url}/api/v1/upscale/result/{task_id}", headers={"Authorization": f"Bearer {other}"}, timeout=10).status_code == 403
    unknown = requests.get(f"{base_url}/api/v1/upscale/status/00000000-0000-4000-8000-00000000dead", params={"token": token}, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["code"] == "task_not_found"
    assert requests.get(f"{base_url}/api/v1/no/such/route", timeout=10).status_code == 404


def test_a_truncated_image_is_refused_at_submit(base_url):
    token = login(base_url)
    data = portrait_jpeg(160, 200)
    response = requests.post(f"{base_url}/api/v1/upscale/combo", params={"token": token},
                             files={"file": ("portrait.jpg", data[: len(data) // 3], "image/jpeg")}, timeout=30)
    assert response.status_code == 400 and response.json()["code"] == "corrupt_image"


def test_a_poison_message_ends_in_the_dead_letter_queue(local_stack):
    sqs = aws_client(local_stack, "sqs")
    queue = local_stack.stack.resolver.refs["ImageJobsQueue"]
    dlq = local_stack.stack.resolver.refs["ImageJobsDeadLetterQueue"]
    sqs.send_message(QueueUrl=queue, MessageBody="this is not a job")
    deadline = time.monotonic() + REAL_WORK_SECONDS
    while time.monotonic() < deadline:
        found = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
        if found:
            assert found[0]["Body"] == "this is not a job"
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=found[0]["ReceiptHandle"])
            return
    raise AssertionError("the poison message never reached the DLQ")


def test_every_invocation_is_logged_with_function_task_duration_and_outcome(base_url, local_stack):
    token = login(base_url)
    task_id = submit(base_url, token, portrait_jpeg(64, 80), "light")
    wait_for(base_url, token, task_id)
    # The worker's line is logged once its message is deleted, just after the job shows completed.
    deadline = time.monotonic() + REAL_WORK_SECONDS
    while not (worker_lines := [line for line in list(local_stack.log_lines)
                                if "ImageWorkerFunction" in line and task_id in line]):
        assert time.monotonic() < deadline, "the worker's invocation was never logged"
        time.sleep(0.05)
    lines = "\n".join(local_stack.log_lines)
    assert "ComboSubmitFunction POST /api/v1/upscale/combo -> 202" in lines
    assert "-> ok (" in worker_lines[0] and " ms)" in worker_lines[0]


def test_binary_uploads_reach_the_handler_intact(base_url):
    """API Gateway base64-encodes binary bodies; the handler must see exactly the bytes sent."""
    token = login(base_url)
    data = portrait_jpeg(120, 90)
    task_id = submit(base_url, token, data, "light")
    from imgapi.jobs import lifecycle
    from imgapi.core import storage

    assert storage.get_object(lifecycle.get_job(task_id)["input_key"]) == data


def test_presigned_urls_point_at_the_local_aws_and_download(base_url, local_stack):
    from imgapi.core import storage

    storage.put_object("results/test_user/probe/result.png", b"\x89PNG probe", "image/png")
    url = storage.presigned_get_url("results/test_user/probe/result.png")
    assert url.startswith(local_stack.aws_url)
    assert requests.get(url, timeout=10).content == b"\x89PNG probe"


def test_requests_over_the_lambda_payload_limit_are_refused_like_api_gateway(base_url):
    token = login(base_url)
    response = requests.post(f"{base_url}/api/v1/upscale/combo", params={"token": token},
                             files={"file": ("big.jpg", b"\xff" * (5 * 1024 * 1024), "image/jpeg")}, timeout=30)
    assert response.status_code == 413


def test_users_command_manages_the_running_local_stack(base_url, local_stack, tmp_path):
    """`imgapi users ... --local`, run as a person runs it: another process, talking to the server."""
    import subprocess
    import sys as _sys
    from pathlib import Path

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"url": local_stack.url, "aws_url": local_stack.aws_url,
                                 "users_table": local_stack.stack.environment()["USERS_TABLE"]}))
    imgapi = str(Path(_sys.executable).with_name("imgapi"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "MOTO_"))}
    env["IMGAPI_DEV_STATE_FILE"] = str(state)
    added = subprocess.run([imgapi, "users", "add", "grace", "--local", "--password-stdin"], input="grace-password\n",
                           env=env, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    assert login(base_url, "grace", "grace-password")
    removed = subprocess.run([imgapi, "users", "remove", "grace", "--local"], env=env, capture_output=True, text=True, timeout=60)
    assert removed.returncode == 0, removed.stderr
    response = requests.post(f"{base_url}/api/v1/login", params={"username": "grace", "password": "grace-password"}, timeout=10)
    assert response.status_code == 401


def test_an_s3_notification_drives_the_ingest_function_then_the_worker(local_stack):
    from imgapi.core import storage

    s3 = aws_client(local_stack, "s3")
    bucket = local_stack.stack.environment()["BUCKET_NAME"]
    s3.put_object(Bucket=bucket, Key="inbox/combo/e2e/shot.jpg", Body=portrait_jpeg(60, 80), ContentType="image/jpeg")
    deadline = time.monotonic() + REAL_WORK_SECONDS
    while time.monotonic() < deadline:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix="results/combo/e2e/").get("Contents", [])
        if listing:
            assert [o["Key"] for o in listing] == ["results/combo/e2e/shot.png"]
            assert storage.get_object("results/combo/e2e/shot.png")[:4] == b"\x89PNG"
            assert any("IngestFunction" in line for line in local_stack.log_lines)
            return
        time.sleep(0.3)
    raise AssertionError("no result for the inbox upload:\n" + "\n".join(local_stack.log_lines[-20:]))


def test_a_port_in_use_gets_a_clear_message_not_a_traceback(local_stack, capsys):
    from imgapi_local.devserver import serve

    assert serve(port=local_stack.port) == 1
    err = capsys.readouterr().err
    assert f"port {local_stack.port}" in err and "already in use" in err and "Traceback" not in err
