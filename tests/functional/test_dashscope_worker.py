"""The DashScope worker against the fake DashScope: requests, outcomes, retries, deadline, in-flight bound, copies."""
from __future__ import annotations

import json
import threading
import time
import traceback

import boto3
import pytest

from imgapi.dashscope import slots as dashscope_slots

from imgapi.jobs import lifecycle

from imgapi.core import storage
from imgapi.core.settings import get_settings
from tests.functional.conftest import run_dashscope_worker
from tests.support.fake_dashscope import BACKGROUND_MODEL, IMAGEEDIT_MODEL
from tests.support.http_server import ScriptedServer
from tests.support.images import portrait_png
from tests.support.seed_api import SEED_BODIES
from tests.support.waiting import REAL_WORK_SECONDS
from tests.support.worker import deliver, queue_depth, worker_handler

BG_PATH = "/api/v1/services/aigc/background-generation/generation/"
I2I_PATH = "/api/v1/services/aigc/image2image/image-synthesis"
MM_PATH = "/api/v1/services/aigc/multimodal-generation/generation"


def submit(api, token, operation, body=None, **changes) -> str:
    response = api.call("POST", f"/{operation}", token=token, json_body={**(body or SEED_BODIES[operation]), **changes})
    assert response.status == 202, response.body
    return response.json()["task_id"]


def view(api, token, task_id) -> dict:
    response = api.call("GET", f"/api/v1/jobs/{task_id}", token=token)
    assert response.status == 200, response.body
    return response.json()


def use_model(monkeypatch, operation, model):
    monkeypatch.setenv(f"DASHSCOPE_MODEL_{operation.upper()}", model)
    get_settings.cache_clear()


def assert_copied(dashscope, job: dict) -> None:
    """Every result is our copy in S3 of an image the fake made, with its real size."""
    made = {image.png(): image for image in dashscope.results.values()}
    assert job["results"]
    for result in job["results"]:
        data = storage.get_object(result["key"])
        assert data in made, "not a copy of a DashScope result"
        assert (result["width"], result["height"]) == (made[data].width, made[data].height)
        assert result["content_type"] == "image/png" and result["size_bytes"] == len(data)


# -- each operation, each model family ------------------------------------------------------------------

def test_change_bg_on_wanx_background_generation(api, alice, dashscope):
    task_id = submit(api, alice, "change_bg", ref_prompt="a beach")
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    (request,) = dashscope.submits
    assert request.path == BG_PATH and request.headers["X-DashScope-Async"] == "enable"
    assert request.headers["Authorization"] == f"Bearer {dashscope.api_key}"
    assert request.body == {"model": BACKGROUND_MODEL,
                            "input": {"base_image_url": "https://example.com/image.jpg",
                                      "ref_image_url": "https://example.com/background.jpg", "ref_prompt": "a beach"},
                            "parameters": {"n": 1, "model_version": "v3", "noise_level": 300}}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed", job
    assert_copied(dashscope, job)
    (fake_task,) = dashscope.tasks.values()
    assert job["dashscope"]["task_id"] == fake_task.task_id and job["dashscope"]["request_id"]
    assert job["dashscope"]["usage"] == {"image_count": 1} and job["dashscope"]["task_status"] == "SUCCEEDED"
    public = view(api, alice, task_id)
    assert public["dashscope"]["task_id"] == fake_task.task_id and public["dashscope"]["model"] == BACKGROUND_MODEL
    assert public["results"][0]["url"].startswith("https://") and "X-Amz-Signature=" in public["results"][0]["url"]


@pytest.mark.parametrize("model", ["aitryon-plus", "aitryon"])
def test_change_cloth_on_aitryon(api, alice, dashscope, monkeypatch, model):
    use_model(monkeypatch, "change_cloth", model)
    task_id = submit(api, alice, "change_cloth")
    run_dashscope_worker()
    (request,) = dashscope.submits
    assert request.path.rstrip("/") == I2I_PATH and request.body["model"] == model
    assert request.body["input"] == {"person_image_url": "https://example.com/person.jpg",
                                     "top_garment_url": "https://example.com/top.jpg",
                                     "bottom_garment_url": "https://example.com/bottom.jpg"}
    assert request.body["parameters"] == {"resolution": -1, "restore_face": True}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed" and len(job["results"]) == 1
    assert_copied(dashscope, job)


def test_expand_on_wanx_imageedit_makes_two_images(api, alice, dashscope):
    task_id = submit(api, alice, "expand")
    run_dashscope_worker()
    (request,) = dashscope.submits
    assert request.body == {"model": IMAGEEDIT_MODEL,
                            "input": {"function": "expand", "prompt": "按照原来图片背景来操作扩展",
                                      "base_image_url": "https://example.com/image.jpg"},
                            "parameters": {"n": 2, "top_scale": 2.0, "bottom_scale": 2.0, "left_scale": 2.0,
                                           "right_scale": 2.0}}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed" and [r["index"] for r in job["results"]] == [0, 1]
    assert {r["key"] for r in job["results"]} == {f"results/alice/{task_id}/result-0.png", f"results/alice/{task_id}/result-1.png"}
    assert job["dashscope"]["usage"] == {"image_count": 2}
    assert job["dashscope"]["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 2, "FAILED": 0}
    assert_copied(dashscope, job)


def test_fix_on_wanx_imageedit_super_resolution(api, alice, dashscope):
    dashscope.result_sizes[IMAGEEDIT_MODEL] = (300, 200)
    task_id = submit(api, alice, "fix")
    run_dashscope_worker()
    (request,) = dashscope.submits
    assert request.body["input"] == {"function": "super_resolution", "prompt": "图像超分。",
                                     "base_image_url": "https://example.com/image.jpg"}
    assert request.body["parameters"] == {"upscale_factor": 1, "n": 1}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed" and (job["results"][0]["width"], job["results"][0]["height"]) == (300, 200)


@pytest.mark.parametrize("operation,images,words", [
    # The shape-giving image goes last: qwen-image-edit's output takes the aspect ratio of the last input.
    ("change_bg", ["https://example.com/background.jpg", "https://example.com/image.jpg"],
     "subject of image 2 in front of the background of image 1"),
    ("change_cloth", ["https://example.com/top.jpg", "https://example.com/bottom.jpg", "https://example.com/person.jpg"],
     "person of image 3 in the top of image 1 and the trousers or skirt of image 2"),
])
@pytest.mark.parametrize("model", ["qwen-image-edit-plus", "qwen-image-edit-max"])
def test_the_prompt_driven_qwen_family_on_the_synchronous_endpoint(api, alice, dashscope, monkeypatch, operation, images,
                                                                    words, model):
    use_model(monkeypatch, operation, model)
    dashscope.result_sizes[model] = (160, 120)
    task_id = submit(api, alice, operation)
    run_dashscope_worker()
    (request,) = dashscope.submits
    assert request.path == MM_PATH and "X-DashScope-Async" not in request.headers
    (message,) = request.body["input"]["messages"]
    assert [item["image"] for item in message["content"] if "image" in item] == images
    assert words in message["content"][-1]["text"]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed", job
    assert (job["results"][0]["width"], job["results"][0]["height"]) == (160, 120)
    assert job["dashscope"]["request_id"] and job["dashscope"]["usage"]["image_count"] == len(job["results"])
    assert dashscope.queries() == []  # nothing to follow
    assert_copied(dashscope, job)


def test_plain_qwen_image_edit_makes_one_image_per_request_so_n_is_clamped_and_said(api, alice, dashscope,
                                                                                    monkeypatch):
    use_model(monkeypatch, "change_bg", "qwen-image-edit")
    task_id = submit(api, alice, "change_bg", n=3)
    run_dashscope_worker()
    (request,) = dashscope.submits
    assert request.body["parameters"]["n"] == 1 and "size" not in request.body["parameters"]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed" and len(job["results"]) == 1
    assert "n=3 was asked for" in job["dashscope"]["note"]


def test_plain_qwen_image_edit_cannot_expand_since_it_takes_no_size(api, alice, dashscope, monkeypatch):
    use_model(monkeypatch, "expand", "qwen-image-edit")
    task_id = submit(api, alice, "expand")
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "model_unsupported" and dashscope.submits == []
    assert "qwen-image-edit-plus" in job["error_message"]


@pytest.fixture
def image_server():
    with ScriptedServer() as server:
        server.route("/wide.png", body=portrait_png(400, 300), content_type="image/png")
        yield server


@pytest.mark.parametrize("model,path,size", [
    # 400x300 grown x2 on every side is 800x600: qwen's sides fit [512, 2048] as they are; the wan totals must be
    # at least 768*768 (same 4:3).
    ("qwen-image-edit-plus", MM_PATH, "800*600"), ("qwen-image-edit-plus-2025-10-30", MM_PATH, "800*600"),
    ("wan2.5-i2i-preview", I2I_PATH, "886*666"), ("wan2.7-image", MM_PATH, "886*666"),
])
def test_prompt_driven_expand_asks_for_the_grown_canvas(api, alice, dashscope, monkeypatch, image_server, model, path,
                                                        size):
    use_model(monkeypatch, "expand", model)
    task_id = submit(api, alice, "expand", base_image_url=image_server.url("/wide.png"), n=2)
    run_dashscope_worker()
    (request,) = dashscope.submits
    assert request.path == path and request.body["parameters"]["size"] == size
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed", job
    width, height = (int(v) for v in size.split("*"))
    assert all((r["width"], r["height"]) == (width, height) for r in job["results"])
    assert len(job["results"]) == (1 if model.startswith("qwen") else 2)  # qwen: size only with n = 1


@pytest.mark.parametrize("model", ["wan2.5-i2i-preview", "wan2.7-image"])
def test_fix_has_prompt_driven_alternatives_served_outside_beijing(api, alice, dashscope, monkeypatch, image_server,
                                                                    model):
    monkeypatch.setenv("DASHSCOPE_REGION", "ap-southeast-1")
    dashscope.region = "ap-southeast-1"
    use_model(monkeypatch, "fix", model)
    task_id = submit(api, alice, "fix", base_image_url=image_server.url("/wide.png"), upscale_factor=2)
    run_dashscope_worker()
    (request,) = dashscope.submits
    assert "size" in request.body["parameters"] and request.body["parameters"]["n"] == 1
    assert lifecycle.get_job(task_id)["status"] == "completed"


def test_a_model_the_region_does_not_serve_fails_before_anything_is_sent(api, alice, dashscope, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_REGION", "ap-southeast-1")
    get_settings.cache_clear()
    task_id = submit(api, alice, "fix")  # wanx2.1-imageedit: Beijing only
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "model_unsupported" and dashscope.requests == []
    assert "ap-southeast-1" in job["error_message"] and "wan2.5-i2i-preview" in job["error_message"]


@pytest.mark.parametrize("operation", ["change_bg", "change_cloth"])
@pytest.mark.parametrize("model", ["wan2.5-i2i-preview", "wan2.7-image"])
def test_the_wan_families_do_change_bg_and_try_on_with_the_shape_giving_image_last(api, alice, dashscope, monkeypatch,
                                                                                   operation, model):
    use_model(monkeypatch, operation, model)
    task_id = submit(api, alice, operation)
    run_dashscope_worker()
    (request,) = dashscope.submits
    body = request.body
    if model == "wan2.5-i2i-preview":
        assert request.headers["X-DashScope-Async"] == "enable" and body["parameters"]["prompt_extend"] is False
        images = body["input"]["images"]
    else:
        assert "X-DashScope-Async" not in request.headers
        images = [item["image"] for item in body["input"]["messages"][0]["content"] if "image" in item]
    last = {"change_bg": "https://example.com/image.jpg", "change_cloth": "https://example.com/person.jpg"}[operation]
    assert images[-1] == last
    assert lifecycle.get_job(task_id)["status"] == "completed"


def test_uploaded_inputs_reach_dashscope_as_presigned_urls(api, alice, dashscope):
    response = api.call("POST", "/change_cloth", token=alice, form={"top_garment_url": "https://e.com/top.jpg"},
                        files={"person_image": ("me.png", portrait_png(60, 80), "image/png")})
    task_id = response.json()["task_id"]
    run_dashscope_worker()
    (request,) = dashscope.submits
    url = request.body["input"]["person_image_url"]
    assert f"uploads/alice/{task_id}/person_image_url.png" in url and "X-Amz-Signature=" in url
    assert "X-Amz-Expires=3600" in url
    assert lifecycle.get_job(task_id)["status"] == "completed"


# -- polling ----------------------------------------------------------------------------------------------

def test_the_task_is_followed_through_pending_and_running_like_the_official_sdk(api, alice, dashscope, clock):
    dashscope.pending_polls, dashscope.running_polls = 3, 5
    task_id = submit(api, alice, "fix")
    run_dashscope_worker()
    assert lifecycle.get_job(task_id)["status"] == "completed"
    assert len(dashscope.queries()) == 9
    assert clock.sleeps == [1, 1, 1, 2, 2, 2, 4, 4, 4]  # 1 s, doubling every 3 polls


# -- outcomes ---------------------------------------------------------------------------------------------

def test_a_partial_success_keeps_the_images_made_and_says_which_failed(api, alice, dashscope):
    dashscope.task_outcome("SUCCEEDED", failed=1)
    task_id = submit(api, alice, "expand")  # n = 2
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed" and [r["index"] for r in job["results"]] == [0]
    assert job["failures"] == [{"index": 1, "code": "DataInspectionFailed",
                                "message": "Input or output data may contain inappropriate content."}]
    public = view(api, alice, task_id)
    assert len(public["results"]) == 1 and public["failures"][0]["index"] == 1
    assert public["dashscope"]["task_metrics"] == {"TOTAL": 2, "SUCCEEDED": 1, "FAILED": 1}


@pytest.mark.parametrize("outcome,code,expected_code,words", [
    ("FAILED", "InvalidPerson", "InvalidPerson", "exactly one full-body person"),
    ("FAILED", "DataInspectionFailed", "DataInspectionFailed", "content inspection"),
    ("FAILED", None, "InternalError", "internal error"),
    ("UNKNOWN", None, "dashscope_task_unknown", "no longer knows"),
    ("CANCELED", None, "dashscope_task_canceled", "cancelled"),
])
def test_a_task_that_does_not_succeed_fails_the_job_at_once(api, alice, dashscope, outcome, code, expected_code, words):
    dashscope.task_outcome(outcome, code)
    task_id = submit(api, alice, "change_cloth")
    assert run_dashscope_worker() == [{"batchItemFailures": []}]  # no retry: it would end the same way
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == expected_code and words in job["error_message"].lower()
    assert len(dashscope.submits) == 1 and job["dashscope"]["task_id"]
    assert view(api, alice, task_id)["error"] == {"message": job["error_message"], "code": expected_code}


@pytest.mark.parametrize("status,code,message,words", [
    (400, "InvalidURL", None, "public and downloadable"),
    (400, "DataInspectionFailed", None, "content inspection"),
    (400, "InvalidParameter", "n must be in [1, 4]", "n must be in [1, 4]"),
    (400, "BadRequest.UnsupportedFileFormat", "input image must be RGBA", "transparent background"),
])
def test_a_rejected_input_fails_the_job_with_dashscopes_code_and_message_and_no_retry(
        api, alice, dashscope, clock, status, code, message, words):
    dashscope.fail_next_submit(status, code, message)
    task_id = submit(api, alice, "change_bg")
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == code
    assert words in job["error_message"] and (message or "") in job["error_message"]
    assert len(dashscope.submits) == 1 and clock.sleeps == []
    assert job["dashscope"]["request_id"]  # DashScope's request id of the refusal, for its support


def test_a_bad_key_fails_the_job_naming_the_setting(api, alice, dashscope, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-wrong")
    task_id = submit(api, alice, "fix")
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "InvalidApiKey"
    assert "DASHSCOPE_API_KEY" in job["error_message"] and "sk-wrong" not in job["error_message"]
    assert len(dashscope.submits) == 1


@pytest.mark.parametrize("retired_status", [404, 400])
def test_a_retired_model_fails_the_job_naming_the_setting_to_change(api, alice, dashscope, retired_status):
    dashscope.retired_models.add(BACKGROUND_MODEL)
    dashscope.retired_status = retired_status
    task_id = submit(api, alice, "change_bg")
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "model_unavailable"
    assert "DASHSCOPE_MODEL_CHANGE_BG" in job["error_message"] and "DashScopeModelChangeBg" in job["error_message"]
    assert "qwen-image-edit-plus" in job["error_message"]  # what to change it to


@pytest.mark.parametrize("operation,model", [("change_bg", "wanx-bg-v9"), ("fix", "qwen-image-edit-plus"),
                                             ("change_cloth", "wanx2.1-imageedit")])
def test_a_model_that_cannot_do_the_operation_fails_the_job_naming_the_setting(api, alice, dashscope, monkeypatch,
                                                                              operation, model):
    use_model(monkeypatch, operation, model)
    task_id = submit(api, alice, operation)
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "model_unsupported"
    assert f"DASHSCOPE_MODEL_{operation.upper()}" in job["error_message"] and dashscope.requests == []


# -- retries, deadline ------------------------------------------------------------------------------------

@pytest.mark.parametrize("status,code", [(429, "dashscope_throttled"), (500, "dashscope_unavailable"),
                                         (503, "dashscope_unavailable")])
def test_throttling_and_server_errors_are_retried_with_backoff_then_fail_the_job(api, alice, dashscope, clock, status, code):
    dashscope.fail_next_submit(status, times=None)
    task_id = submit(api, alice, "expand")
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == code and "after 4 attempt(s)" in job["error_message"]
    assert len(dashscope.submits) == 4
    first, second, third = clock.sleeps
    assert 0.75 <= first <= 1 and 1.5 <= second <= 2 and 3 <= third <= 4  # 1, 2, 4 s, less up to a quarter


def test_a_passing_failure_is_retried_and_the_job_completes(api, alice, dashscope, clock):
    dashscope.fail_next_submit(429, "Throttling.RateQuota", times=2)
    dashscope.fail_next_query(500, times=2)
    task_id = submit(api, alice, "fix")
    run_dashscope_worker()
    assert lifecycle.get_job(task_id)["status"] == "completed"
    assert len(dashscope.submits) == 3 and len(dashscope.tasks) == 1


def test_a_task_that_never_finishes_fails_at_the_deadline_and_keeps_its_slot(api, alice, dashscope, clock):
    dashscope.hang_next_task()
    task_id = submit(api, alice, "fix")
    started = clock.time
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "dashscope_deadline" and "RUNNING" in job["error_message"]
    assert clock.time - started <= 240
    assert clock.sleeps[:10] == [1, 1, 1, 2, 2, 2, 4, 4, 4, 5] and set(clock.sleeps[10:]) == {5}
    # DashScope still counts the task; so does our bound, until the lease ends.
    assert dashscope_slots.in_use(IMAGEEDIT_MODEL, 2) == 1


def test_a_task_still_pending_at_the_deadline_is_cancelled_and_frees_its_slot(api, alice, dashscope, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_TASK_DEADLINE_SECONDS", "30")
    get_settings.cache_clear()
    dashscope.pending_polls = 1000
    task_id = submit(api, alice, "fix")
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["error_code"] == "dashscope_deadline" and "cancelled" in job["error_message"]
    (task,) = dashscope.tasks.values()
    assert task.status == "CANCELED" and dashscope_slots.in_use(IMAGEEDIT_MODEL, 2) == 0


def test_the_deadline_also_bounds_a_retry_ladder(api, alice, dashscope, monkeypatch, clock):
    monkeypatch.setenv("DASHSCOPE_TASK_DEADLINE_SECONDS", "30")
    monkeypatch.setenv("DASHSCOPE_RETRY_ATTEMPTS", "50")
    get_settings.cache_clear()
    dashscope.fail_next_submit(500, times=None)
    task_id = submit(api, alice, "fix")
    started = clock.time
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "dashscope_unavailable"
    assert clock.time - started < 30


# -- the in-flight bound ----------------------------------------------------------------------------------

def test_tasks_in_flight_per_model_never_exceed_dashscopes_limit(api, alice, dashscope, monkeypatch):
    """Several workers at once, on jobs of a model that allows one task at a time (and one that allows two)."""
    from imgapi.dashscope import worker as dashscope_worker
    from imgapi.dashscope.client import Clock
    from imgapi_local.handlers import load_handler
    from imgapi_local.template import functions, load_template

    # The stack fixture's moto is atomic where DynamoDB is (imgapi_local.moto_atomic), so the conditional writes hold.
    monkeypatch.setattr(dashscope_worker, "clock", Clock())  # real time: the workers really overlap
    monkeypatch.setenv("DASHSCOPE_POLL_INTERVAL_SECONDS", "0.02")
    get_settings.cache_clear()
    dashscope.enforce_concurrency = False  # our bound, not the fake's 429s, must keep the count
    dashscope.pending_polls, dashscope.running_polls = 2, 2
    tasks = [submit(api, alice, "change_bg") for _ in range(4)] + [submit(api, alice, "fix") for _ in range(4)]
    queue = get_settings().dashscope.queue_url
    spec = next(s for s in functions(load_template()) if s.logical_id == "DashScopeWorkerFunction")

    errors: list[str] = []

    def work(instance: int):
        handler = load_handler(spec, instance)  # each worker its own "container"
        deadline = time.monotonic() + REAL_WORK_SECONDS
        try:
            while time.monotonic() < deadline:
                if deliver(queue, handler) is None and all(lifecycle.get_job(t)["status"] in lifecycle.TERMINAL for t in tasks):
                    return
        except Exception:  # reported below, with where it happened, not lost in the thread
            errors.append(traceback.format_exc())

    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=REAL_WORK_SECONDS + 30)
    assert not any(worker.is_alive() for worker in workers)
    assert errors == []
    assert [lifecycle.get_job(t)["status"] for t in tasks] == ["completed"] * 8
    assert dashscope.max_in_flight[BACKGROUND_MODEL] == 1
    assert dashscope.max_in_flight[IMAGEEDIT_MODEL] <= 2
    assert dashscope_slots.in_use(BACKGROUND_MODEL, 1) == 0 and dashscope_slots.in_use(IMAGEEDIT_MODEL, 2) == 0


def test_a_job_that_finds_no_free_slot_waits_on_the_queue_without_using_up_its_receives(api, alice, dashscope):
    other = dashscope_slots.acquire(BACKGROUND_MODEL, "another-task", limit=1, lease_seconds=300)
    task_id = submit(api, alice, "change_bg")
    queue = get_settings().dashscope.queue_url
    for _ in range(5):  # more than maxReceiveCount: waiting never sends the job to the DLQ
        assert deliver(queue, worker_handler("DashScopeWorkerFunction")) == {"batchItemFailures": []}
    assert dashscope.requests == [] and lifecycle.get_job(task_id)["status"] == "pending"
    message = json.loads(boto3.client("sqs").receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"][0]["Body"])
    assert message == {"task_id": task_id, "attempt_base": 0, "deferrals": 5}
    other.release()
    run_dashscope_worker()
    assert lifecycle.get_job(task_id)["status"] == "completed"


def test_a_job_that_waited_too_long_for_a_slot_fails_saying_so(api, alice, dashscope, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_MAX_QUEUE_SECONDS", "0")
    get_settings.cache_clear()
    dashscope_slots.acquire(BACKGROUND_MODEL, "another-task", limit=1, lease_seconds=300)
    task_id = submit(api, alice, "change_bg")
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "dashscope_busy" and BACKGROUND_MODEL in job["error_message"]


def test_an_expired_lease_is_taken_over(stack):
    assert dashscope_slots.acquire("m", "dead-worker", limit=1, lease_seconds=-10) is not None
    assert dashscope_slots.acquire("m", "live", limit=1, lease_seconds=300) is not None
    assert dashscope_slots.acquire("m", "third", limit=1, lease_seconds=300) is None


def test_a_holder_gets_its_own_slot_back_not_a_second_one(stack):
    first = dashscope_slots.acquire("m", "task-a", limit=3, lease_seconds=300)
    dashscope_slots.acquire("m", "task-b", limit=3, lease_seconds=300)
    again = dashscope_slots.acquire("m", "task-a", limit=3, lease_seconds=300)
    assert again.slot_id == first.slot_id and dashscope_slots.in_use("m", 3) == 2


def test_the_limit_per_model_is_configurable(api, alice, dashscope, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_MAX_IN_FLIGHT", f"{BACKGROUND_MODEL}=2")
    get_settings.cache_clear()
    dashscope_slots.acquire(BACKGROUND_MODEL, "another-task", limit=1, lease_seconds=300)
    dashscope.enforce_concurrency = False
    task_id = submit(api, alice, "change_bg")
    run_dashscope_worker()
    assert lifecycle.get_job(task_id)["status"] == "completed"


# -- copies, redelivery, configuration --------------------------------------------------------------------

def test_a_redelivery_follows_the_task_already_submitted_instead_of_paying_for_another(api, alice, dashscope, monkeypatch):
    real_put = storage.put_object
    calls = []

    def flaky_put(key, data, content_type):
        calls.append(key)
        if len(calls) == 1:
            raise RuntimeError("S3 hiccup")
        real_put(key, data, content_type)

    monkeypatch.setattr(storage, "put_object", flaky_put)
    task_id = submit(api, alice, "fix")
    responses = run_dashscope_worker()
    assert len(responses[0]["batchItemFailures"]) == 1 and responses[-1] == {"batchItemFailures": []}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed" and len(dashscope.submits) == 1


def test_the_last_delivery_fails_the_job_with_the_last_error(api, alice, dashscope, monkeypatch):
    def broken_put(key, data, content_type):
        raise RuntimeError("S3 is down")

    monkeypatch.setattr(storage, "put_object", broken_put)
    task_id = submit(api, alice, "fix")
    queue = get_settings().dashscope.queue_url
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "retries_exhausted" and "S3 is down" in job["error_message"]
    assert queue_depth(queue) == 0 and len(dashscope.submits) == 1


def test_an_expired_result_link_fails_the_job(api, alice, dashscope):
    dashscope.fail_next_download(403, times=None)
    task_id = submit(api, alice, "fix")
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and "403" in job["error_message"]


def test_result_links_on_private_addresses_are_refused_by_default(api, alice, dashscope, monkeypatch):
    monkeypatch.delenv("FETCH_ALLOW_PRIVATE_HOSTS")
    get_settings.cache_clear()
    task_id = submit(api, alice, "fix")
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "url_refused"


def test_the_key_can_come_from_secrets_manager(api, alice, dashscope, monkeypatch):
    arn = boto3.client("secretsmanager").create_secret(Name="dashscope-key", SecretString=json.dumps(
        {"api_key": dashscope.api_key}))["ARN"]
    monkeypatch.delenv("DASHSCOPE_API_KEY")
    monkeypatch.setenv("DASHSCOPE_API_KEY_SECRET_ARN", arn)
    get_settings.cache_clear()
    task_id = submit(api, alice, "fix")  # configured: the submit does not answer 503
    run_dashscope_worker()
    assert lifecycle.get_job(task_id)["status"] == "completed"


def test_a_message_that_is_not_a_job_is_reported_failed(dashscope):
    queue = get_settings().dashscope.queue_url
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody="not json")
    response = deliver(queue, worker_handler("DashScopeWorkerFunction"))
    assert len(response["batchItemFailures"]) == 1


def test_a_finished_job_is_not_run_again(api, alice, dashscope):
    task_id = submit(api, alice, "fix")
    run_dashscope_worker()
    before = lifecycle.get_job(task_id)
    boto3.client("sqs").send_message(QueueUrl=get_settings().dashscope.queue_url, MessageBody=json.dumps({"task_id": task_id}))
    run_dashscope_worker()
    assert lifecycle.get_job(task_id) == before and len(dashscope.submits) == 1


# -- no double billing, expired links (issue #20) ---------------------------------------------------------

def test_a_synchronous_call_that_timed_out_is_not_resent(api, alice, dashscope, monkeypatch):
    from imgapi.dashscope import client as dashscope_client
    monkeypatch.setattr(dashscope_client, "SYNC_READ_TIMEOUT", 1.0)
    use_model(monkeypatch, "change_bg", "qwen-image-edit-plus")
    dashscope.delay_next(3, on="submit")
    task_id = submit(api, alice, "change_bg")
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "dashscope_call_uncertain", job
    assert len(dashscope.submits) == 1


def test_a_result_link_that_expired_fails_the_job_and_stores_no_error_page(api, alice, dashscope, monkeypatch):
    dashscope.result_ttl_seconds = -1  # every link DashScope hands out has already expired
    task_id = submit(api, alice, "fix")
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "dashscope_result_unavailable", job
    assert "expire" in job["error_message"] and not job.get("results")
    assert storage.object_exists(storage.result_key(job["owner"], task_id, "png", index=0)) is False
