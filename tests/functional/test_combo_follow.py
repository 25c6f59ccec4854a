"""Following a combo job: status and result routes, ownership, readiness, large results."""
from __future__ import annotations

import boto3
import pytest

from imgapi.jobs import lifecycle

from imgapi.core import storage
from imgapi.core.settings import get_settings
from tests.support.images import portrait_png
from tests.support.worker import deliver

pytestmark = pytest.mark.slow


def _submit(api, token, level="light"):
    response = api.call("POST", "/api/v1/upscale/combo", token=token, query=f"enhance_level={level}",
                        files={"file": ("in.png", portrait_png(120, 160), "image/png")})
    assert response.status == 202
    return response.json()["task_id"]


def test_status_has_the_seed_fields_while_pending(api, alice):
    task_id = _submit(api, alice)
    body = api.call("GET", f"/api/v1/upscale/status/{task_id}", token=alice).json()
    assert {k: body[k] for k in ("task_id", "status", "result_path", "error")} == {
        "task_id": task_id, "status": "pending", "result_path": None, "error": None}


def test_result_before_completion_is_404_saying_it_is_not_ready(api, alice):
    task_id = _submit(api, alice)
    response = api.call("GET", f"/api/v1/upscale/result/{task_id}", token=alice)
    assert response.status == 404
    assert response.json()["code"] == "result_not_ready" and "pending" in response.json()["error"]


@pytest.mark.parametrize("route", ["status", "result"])
def test_another_users_task_is_403_and_an_unknown_one_404(api, alice, bob, route):
    task_id = _submit(api, alice)
    deliver(get_settings().image_queue_url)
    assert api.call("GET", f"/api/v1/upscale/{route}/{task_id}", token=bob).status == 403
    assert api.call("GET", f"/api/v1/upscale/{route}/{task_id}", token=alice).status == 200
    missing = api.call("GET", f"/api/v1/upscale/{route}/{lifecycle.new_task_id()}", token=alice)
    assert missing.status == 404 and missing.json()["code"] == "task_not_found"


def test_a_result_too_large_for_a_lambda_response_redirects_to_a_presigned_url(api, alice, monkeypatch):
    task_id = _submit(api, alice)
    deliver(get_settings().image_queue_url)
    monkeypatch.setenv("INLINE_RESULT_MAX_BYTES", "100")
    get_settings.cache_clear()
    response = api.call("GET", f"/api/v1/upscale/result/{task_id}", token=alice)
    assert response.status == 307
    url = response.headers["location"]
    assert f"results/alice/{task_id}/result.png" in url and "X-Amz-Signature=" in url and "X-Amz-Expires=900" in url
    job = lifecycle.get_job(task_id)
    assert storage.get_object(job["results"][0]["key"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_result_is_returned_inline_as_png_bytes(api, alice):
    task_id = _submit(api, alice)
    deliver(get_settings().image_queue_url)
    response = api.call("GET", f"/api/v1/upscale/result/{task_id}", token=alice)
    assert response.status == 200 and response.body[:8] == b"\x89PNG\r\n\x1a\n"
    key = lifecycle.get_job(task_id)["results"][0]["key"]
    stored = boto3.client("s3").get_object(Bucket=get_settings().bucket, Key=key)["Body"].read()
    assert stored == response.body
