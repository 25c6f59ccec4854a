"""The image worker end to end on moto: real rembg + onnxruntime on a U2-Net-signature model, and its state machine."""
from __future__ import annotations

import io
import json

import boto3
import numpy as np
import pytest
from PIL import Image

from imgapi.jobs import lifecycle
from imgapi.engine.enhance_levels import LEVELS, output_size
from imgapi.core.settings import get_settings
from tests.support.images import SUBJECT, encode, portrait_array, portrait_jpeg, portrait_png, subject_mask
from tests.support.worker import deliver, queue_depth, worker_handler

pytestmark = pytest.mark.slow


def submit(api, token, data, level="medium", query_extra=""):
    response = api.call("POST", "/api/v1/upscale/combo", token=token, query=f"enhance_level={level}{query_extra}",
                        files={"file": ("in.png", data, "image/png")})
    assert response.status == 202, response.body
    return response.json()["task_id"]


def result_image(api, token, task_id) -> Image.Image:
    response = api.call("GET", f"/api/v1/upscale/result/{task_id}", token=token)
    assert response.status == 200, response.body
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.body))


def _eroded(mask: np.ndarray, steps: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(steps):
        out = out & np.roll(out, 1, 0) & np.roll(out, -1, 0) & np.roll(out, 1, 1) & np.roll(out, -1, 1)
    return out


@pytest.mark.parametrize("level", list(LEVELS))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_combo_job_completes_with_a_transparent_png_sized_by_the_level(api, alice, level, fmt):
    width, height = 240, 320
    task_id = submit(api, alice, encode(portrait_array(width, height), fmt), level)
    deliver(get_settings().image_queue_url)

    status = api.call("GET", f"/api/v1/upscale/status/{task_id}", token=alice).json()
    assert status["status"] == "completed", status
    assert status["error"] is None
    assert status["result_path"] == f"/api/v1/upscale/result/{task_id}"

    image = result_image(api, alice, task_id)
    expected = output_size(width, height, LEVELS[level].scale, get_settings().max_output_edge)
    assert image.mode == "RGBA" and image.size == expected
    assert (status["result"]["width"], status["result"]["height"]) == expected

    alpha = np.asarray(image.getchannel("A"))
    rgb = np.asarray(image.convert("RGB")).astype(int)
    inside = subject_mask(*expected)
    margin = int(4 * LEVELS[level].scale)  # a few input pixels either side of the outline
    sure_subject, sure_background = _eroded(inside, margin), _eroded(~inside, margin)
    assert alpha[sure_subject].min() >= 250, "subject must be opaque"
    assert alpha[sure_background].max() <= 5, "background must be transparent"
    # Opaque pixels keep the subject's colour (denoised and sharpened, not recoloured).
    assert np.abs(rgb[sure_subject].mean(axis=0) - SUBJECT).max() < 12


def test_enhanced_edges_have_no_dark_or_light_fringe(api, alice):
    source = portrait_array()
    task_id = submit(api, alice, encode(source, "PNG"), "strong")
    deliver(get_settings().image_queue_url)
    rgba = np.asarray(result_image(api, alice, task_id)).astype(int)
    edge = (rgba[..., 3] > 40) & (rgba[..., 3] < 215)
    assert edge.sum() > 50
    # Semi-transparent edge pixels keep colours the photo has: never darker (transparent black
    # bleeding in) nor brighter (sharpening against transparency) than its own pixels, give or
    # take resampling error.
    brightness = rgba[edge][:, :3].sum(axis=1)
    source_brightness = source.astype(int).sum(axis=2)
    assert brightness.min() >= source_brightness.min() - 30, brightness.min()
    assert brightness.max() <= source_brightness.max() + 30, brightness.max()


def test_output_is_capped_at_the_maximum_edge(api, alice, monkeypatch):
    monkeypatch.setenv("MAX_OUTPUT_EDGE", "400")
    get_settings.cache_clear()
    task_id = submit(api, alice, portrait_jpeg(240, 320), "strong")  # 3x would be 720x960
    deliver(get_settings().image_queue_url)
    assert result_image(api, alice, task_id).size == (300, 400)


def test_background_colour_from_a_saved_config_fills_the_background(api, alice):
    config = api.call("POST", "/api/v1/configs", token=alice, json_body={"bgcolor": "#00ff00"}).json()
    task_id = submit(api, alice, portrait_png(), "light", f"&config_id={config['config_id']}")
    deliver(get_settings().image_queue_url)
    rgba = np.asarray(result_image(api, alice, task_id)).astype(int)
    assert rgba[..., 3].min() == 255
    assert tuple(rgba[5, 5, :3]) == (0, 255, 0)


def test_redelivered_message_does_not_run_a_finished_job_again(api, alice):
    queue = get_settings().image_queue_url
    task_id = submit(api, alice, portrait_png(), "light")
    deliver(queue)
    first = lifecycle.get_job(task_id)
    assert first["status"] == "completed"
    # SQS delivers at least once: the same message again must change nothing.
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps({"task_id": task_id}))
    response = deliver(queue)
    assert response == {"batchItemFailures": []}
    assert lifecycle.get_job(task_id) == first


def test_corrupt_image_fails_the_job_at_once_with_a_reason(api, alice):
    data = portrait_jpeg(240, 320)
    task_id = submit(api, alice, data)
    # A truncated file is refused at submit (tests/functional/test_hostile_input.py); one that became truncated in
    # the bucket afterwards is the worker's to refuse.
    boto3.client("s3").put_object(Bucket=get_settings().bucket, Key=lifecycle.get_job(task_id)["input_key"],
                                  Body=data[: len(data) // 3])  # header intact, pixels truncated
    response = deliver(get_settings().image_queue_url)
    assert response == {"batchItemFailures": []}  # no retry: it can never succeed
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "corrupt_image"
    status = api.call("GET", f"/api/v1/upscale/status/{task_id}", token=alice).json()
    assert status["status"] == "failed" and "could not be decoded" in status["error"]
    result = api.call("GET", f"/api/v1/upscale/result/{task_id}", token=alice)
    assert result.status == 404 and "failed" in result.json()["error"]
    assert queue_depth(get_settings().image_queue_url) == 0


def test_missing_model_fails_the_job_naming_the_model_and_where_it_was_looked_for(api, alice, tmp_path, monkeypatch, fresh_sessions):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "empty"))
    import pooch

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    from imgapi.engine import cutout

    logged = []
    monkeypatch.setattr(cutout.logger, "error", lambda message, **kwargs: logged.append(message))
    task_id = submit(api, alice, portrait_png())
    deliver(get_settings().image_queue_url)
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "model_unavailable"
    assert "'u2net'" in job["error_message"]
    # Server paths stay in the logs (issue #22): API clients read error_message.
    assert str(tmp_path / "empty") not in job["error_message"] and "U2NET_HOME" not in job["error_message"]
    assert any(str(tmp_path / "empty") in line for line in logged)


def test_transient_errors_are_retried_then_fail_the_job_and_dead_letter_the_message(api, alice, stack, monkeypatch):
    from imgapi.jobs import worker

    calls = []

    def flaky(job):
        calls.append(job["attempt"])
        raise TimeoutError("S3 read timed out")

    monkeypatch.setattr(worker, "run_job", flaky)
    queue = get_settings().image_queue_url
    task_id = submit(api, alice, portrait_png())
    for attempt in (1, 2):
        response = deliver(queue)
        assert len(response["batchItemFailures"]) == 1
        job = lifecycle.get_job(task_id)
        assert job["status"] == "processing" and job["attempt"] == attempt
        assert "timed out" in job["last_error"]
    deliver(queue)  # the third and last delivery (maxReceiveCount 3)
    job = lifecycle.get_job(task_id)
    assert calls == [1, 2, 3]
    assert job["status"] == "failed" and job["error_code"] == "retries_exhausted"
    assert "after 3 deliveries" in job["error_message"] and "timed out" in job["error_message"]
    # SQS moves the message to the DLQ on its next receive.
    dlq = stack.resolver.refs["ImageJobsDeadLetterQueue"]
    assert deliver(queue) is None
    (dead,) = boto3.client("sqs").receive_message(QueueUrl=dlq).get("Messages", [])
    assert json.loads(dead["Body"]) == {"task_id": task_id}


def test_a_retry_after_a_worker_died_mid_job_completes_it(api, alice):
    queue = get_settings().image_queue_url
    task_id = submit(api, alice, portrait_png(), "light")
    assert lifecycle.claim(task_id, 1)["status"] == "processing"  # a worker took it and died
    # The message comes back after its visibility timeout with receive count 2 (simulated here).
    from imgapi_local.events import LambdaContext, sqs_event
    from tests.support.worker import queue_arn

    (message,) = boto3.client("sqs").receive_message(QueueUrl=queue, AttributeNames=["All"])["Messages"]
    message["Attributes"]["ApproximateReceiveCount"] = "2"
    response = worker_handler()(sqs_event([message], queue_arn(queue)), LambdaContext("worker"))
    assert response == {"batchItemFailures": []}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed" and job["attempt"] == 2


def test_a_stale_worker_cannot_overwrite_the_outcome_of_a_newer_delivery(stack):
    task_id = lifecycle.new_task_id()
    lifecycle.create_job(task_id=task_id, owner="alice", operation="combo", engine="local", params={}, input_key="k")
    assert lifecycle.claim(task_id, 1) is not None
    assert lifecycle.claim(task_id, 2) is not None  # redelivered while the first still ran
    assert lifecycle.claim(task_id, 2) is None  # the same delivery twice: only one runs
    assert not lifecycle.complete(task_id, 1, [{"key": "stale"}])
    assert lifecycle.fail(task_id, "boom", attempt=2)
    assert not lifecycle.complete(task_id, 2, [{"key": "late"}])
    assert lifecycle.get_job(task_id)["status"] == "failed"


def test_unreadable_message_is_reported_failed_so_it_ends_in_the_dlq(stack):
    queue = get_settings().image_queue_url
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody="not json")
    response = deliver(queue)
    assert len(response["batchItemFailures"]) == 1


def test_webp_format_gives_a_lossless_webp_with_alpha(api, alice):
    response = api.call("POST", "/api/v1/upscale/combo", token=alice, query="enhance_level=light&format=webp",
                        files={"file": ("in.png", portrait_png(), "image/png")})
    assert response.status == 202
    task_id = response.json()["task_id"]
    deliver(get_settings().image_queue_url)
    result = api.call("GET", f"/api/v1/upscale/result/{task_id}", token=alice)
    assert result.status == 200 and result.headers["content-type"] == "image/webp"
    image = Image.open(io.BytesIO(result.body))
    assert image.format == "WEBP" and image.mode == "RGBA"
    assert lifecycle.get_job(task_id)["results"][0]["key"].endswith("/result.webp")


def test_unknown_format_is_400(api, alice):
    response = api.call("POST", "/api/v1/upscale/combo", token=alice, query="format=gif",
                        files={"file": ("in.png", portrait_png(), "image/png")})
    assert response.status == 400 and response.json()["code"] == "bad_format"
