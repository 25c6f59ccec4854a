"""The local engine through the API: which engine a request gets, its refusals, and local change_bg, expand and fix
jobs run by the image worker (inputs from URLs through the safe fetcher, or uploaded), their results in the job view."""
from __future__ import annotations

import io
import json

import boto3
import numpy as np
import pytest
from PIL import Image

from imgapi.jobs import job_views

from imgapi.jobs import lifecycle

from imgapi.core import storage
from imgapi.engine.outpaint import margins
from imgapi.core.settings import get_settings
from tests.support.http_server import ScriptedServer
from tests.support.images import encode, portrait_array, portrait_jpeg
from tests.support.seed_api import SEED_BODIES
from tests.support.worker import deliver

GREEN = (40, 160, 60)


@pytest.fixture
def images(stack, monkeypatch):
    """Input images on a local HTTP server, which the worker may fetch from (127.0.0.1 allowed)."""
    monkeypatch.setenv("FETCH_ALLOW_PRIVATE_HOSTS", "true")
    get_settings.cache_clear()
    with ScriptedServer() as server:
        server.route("/portrait.png", body=encode(portrait_array(120, 160), "PNG"), content_type="image/png")
        server.route("/green.png", body=encode(np.full((100, 100, 3), GREEN, np.uint8), "PNG"),
                     content_type="image/png")
        yield server


@pytest.fixture
def no_key(stack, monkeypatch):
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    get_settings.cache_clear()


def _queued(queue_url: str) -> list[str]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"])["task_id"] for m in messages]


def _nothing_stored():
    settings = get_settings()
    assert boto3.resource("dynamodb").Table(settings.jobs_table).scan()["Items"] == []
    assert _queued(settings.image_queue_url) == [] and _queued(settings.dashscope.queue_url) == []


def _result_image(job: dict) -> np.ndarray:
    (result,) = job["results"]
    return np.asarray(Image.open(io.BytesIO(storage.get_object(result["key"]))).convert("RGB"))


# -- which engine ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("operation", ["change_bg", "expand", "fix"])
def test_without_a_dashscope_key_an_operation_runs_on_the_local_engine(api, alice, no_key, operation):
    response = api.call("POST", f"/{operation}", token=alice, json_body=SEED_BODIES[operation])
    assert response.status == 202, response.body
    view = response.json()
    assert view["engine"] == "local"
    assert lifecycle.get_job(view["task_id"])["engine"] == "local"
    assert _queued(get_settings().image_queue_url) == [view["task_id"]]


@pytest.mark.parametrize("operation", ["change_bg", "expand", "fix"])
def test_with_a_key_dashscope_is_the_default_and_engine_local_picks_our_worker(api, alice, keyed, operation):
    settings = get_settings()
    default = api.call("POST", f"/{operation}", token=alice, json_body=SEED_BODIES[operation]).json()
    assert default["engine"] == "dashscope" and _queued(settings.dashscope.queue_url) == [default["task_id"]]
    local = api.call("POST", f"/{operation}", token=alice, json_body={**SEED_BODIES[operation], "engine": "local"})
    assert local.status == 202 and local.json()["engine"] == "local"
    assert _queued(settings.image_queue_url) == [local.json()["task_id"]]


def test_engine_may_come_in_the_query_string_or_a_form_field(api, alice, keyed):
    by_query = api.call("POST", "/fix", token=alice, query="engine=local", json_body=SEED_BODIES["fix"])
    by_form = api.call("POST", "/fix", token=alice, form={"engine": "local"},
                       files={"base_image": ("a.jpg", portrait_jpeg(40, 40), "image/jpeg")})
    assert by_query.json()["engine"] == by_form.json()["engine"] == "local"


@pytest.mark.parametrize("operation,engine,says", [
    ("change_cloth", "local", "change_cloth has no local engine"),
    ("remove_bg", "dashscope", "remove_bg has no dashscope engine"),
    ("expand", "gpu", "engine must be one of local, dashscope"),
    ("fix", "LOCAL", "engine must be one of local, dashscope"),
])
def test_an_engine_the_operation_cannot_run_on_is_400_saying_so(api, alice, keyed, operation, engine, says):
    response = api.call("POST", f"/{operation}", token=alice, json_body={**SEED_BODIES[operation], "engine": engine})
    assert response.status == 400 and response.json()["code"] == "bad_engine"
    assert says in response.json()["error"]
    _nothing_stored()


def test_engine_dashscope_without_a_key_is_503_pointing_at_the_local_engine(api, alice, no_key):
    response = api.call("POST", "/expand", token=alice, json_body={**SEED_BODIES["expand"], "engine": "dashscope"})
    assert response.status == 503 and response.json()["code"] == "engine_unavailable"
    assert "DASHSCOPE_API_KEY" in response.json()["error"] and "engine=local" in response.json()["error"]
    _nothing_stored()


def test_local_change_bg_needs_a_reference_image(api, alice, no_key):
    response = api.call("POST", "/change_bg", token=alice,
                        json_body={"base_image_url": "https://e.com/a.png", "ref_prompt": "a beach at sunset"})
    assert response.status == 400 and response.json()["code"] == "missing_field"
    assert "ref_image_url" in response.json()["error"] and "engine=dashscope" in response.json()["error"]
    _nothing_stored()


def test_the_job_says_what_the_local_engine_leaves_out(api, alice, no_key):
    body = {**SEED_BODIES["change_bg"], "ref_prompt": "sunset"}
    change_bg = api.call("POST", "/change_bg", token=alice, json_body=body)
    assert change_bg.json()["notes"] == ["ref_prompt is recorded but not used: the local engine does not read prompts"]
    assert change_bg.json()["params"]["ref_prompt"] == "sunset"
    expand = api.call("POST", "/expand", token=alice, json_body=SEED_BODIES["expand"])  # the seed's default n = 2
    assert expand.json()["notes"] == ["n=2 was asked for; the local engine is deterministic and makes one image"]
    fix = api.call("POST", "/fix", token=alice, json_body=SEED_BODIES["fix"])  # the default prompt: nothing to say
    assert "notes" not in fix.json()


# -- local jobs, run by the image worker ---------------------------------------------------------------------------

def test_a_local_change_bg_from_urls_completes_with_the_subject_on_the_reference(api, alice, images, no_key):
    body = {"base_image_url": images.url("/portrait.png"), "ref_image_url": images.url("/green.png")}
    task_id = api.call("POST", "/change_bg", token=alice, json_body=body).json()["task_id"]
    assert deliver(get_settings().image_queue_url) == {"batchItemFailures": []}
    view = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert view["status"] == "completed" and view["engine"] == "local", view
    (result,) = view["results"]
    assert result["index"] == 0 and (result["width"], result["height"]) == (120, 160)
    assert result["content_type"] == "image/png" and result["url"].startswith("https://")
    out = _result_image(lifecycle.get_job(task_id))
    assert tuple(out[3, 3]) == GREEN and tuple(out[88, 60]) == tuple(portrait_array(120, 160)[88, 60])
    assert {path for path, _ in images.requests} == {"/portrait.png", "/green.png"}


def test_a_local_change_bg_from_two_uploads_reads_both(api, alice, no_key):
    green = encode(np.full((50, 50, 3), GREEN, np.uint8), "PNG")
    response = api.call("POST", "/change_bg", token=alice,
                        files={"base_image": ("p.png", encode(portrait_array(120, 160), "PNG"), "image/png"),
                               "ref_image": ("g.png", green, "image/png")})
    assert response.status == 202, response.body
    task_id = response.json()["task_id"]
    job = lifecycle.get_job(task_id)
    assert job["input_key"].endswith("/input.png") and set(job["params"]["uploads"]) == {"ref_image_url"}
    deliver(get_settings().image_queue_url)
    out = _result_image(lifecycle.get_job(task_id))
    assert tuple(out[3, 3]) == GREEN


def test_a_local_expand_waited_for_comes_back_finished_in_one_call(api, alice, no_key, monkeypatch):
    monkeypatch.setattr(job_views, "sleep", lambda seconds: deliver(get_settings().image_queue_url))
    scales = {"top_scale": 1.5, "bottom_scale": 1.0, "left_scale": 2.0, "right_scale": 1.0}
    response = api.call("POST", "/expand", token=alice, query="wait=20", form={k: str(v) for k, v in scales.items()},
                        files={"base_image": ("p.png", encode(portrait_array(120, 160), "PNG"), "image/png")})
    assert response.status == 200, response.body
    view = response.json()
    assert view["status"] == "completed" and view["task_status"] == "SUCCEEDED"
    pad = margins(120, 160, {"top": 1.5, "bottom": 1.0, "left": 2.0, "right": 1.0})
    (result,) = view["results"]
    assert (result["width"], result["height"]) == (120 + pad["left"], 160 + pad["top"])
    out = _result_image(lifecycle.get_job(view["task_id"]))
    assert np.array_equal(out[pad["top"]:, pad["left"]:], portrait_array(120, 160))


def test_a_local_fix_from_a_url_is_enlarged_by_the_factor(api, alice, images, no_key):
    body = {"base_image_url": images.url("/portrait.png"), "upscale_factor": 2}
    task_id = api.call("POST", "/fix", token=alice, json_body=body).json()["task_id"]
    deliver(get_settings().image_queue_url)
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed", job
    assert (job["results"][0]["width"], job["results"][0]["height"]) == (240, 320)


def test_a_reference_that_cannot_be_fetched_fails_the_job_naming_it(api, alice, images, no_key):
    body = {"base_image_url": images.url("/portrait.png"), "ref_image_url": images.url("/missing.png")}
    task_id = api.call("POST", "/change_bg", token=alice, json_body=body).json()["task_id"]
    deliver(get_settings().image_queue_url)
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "fetch_failed"
    assert "ref_image_url" in job["error_message"]
