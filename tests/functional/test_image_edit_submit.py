"""POST /change_bg, /change_cloth, /expand, /fix, /remove_bg: the seed's bodies become queued jobs; refusals store nothing."""
from __future__ import annotations

import json

import boto3
import pytest

from imgapi.jobs import job_views
from imgapi.core.settings import get_settings
from tests.functional.conftest import run_dashscope_worker
from tests.support.images import portrait_jpeg, portrait_png
from tests.support.seed_api import DASHSCOPE_OPERATIONS, SEED_BODIES
from tests.support.aws_state import objects as _objects, job_rows as _jobs


def _messages(queue_url: str) -> list[dict]:
    return [json.loads(m["Body"]) for m in boto3.client("sqs").receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])]


def _assert_nothing_stored():
    settings = get_settings()
    assert _objects() == [] and _jobs() == []
    assert _messages(settings.image_queue_url) == [] and _messages(settings.dashscope.queue_url) == []


@pytest.mark.parametrize("operation", list(SEED_BODIES))
def test_the_seed_body_with_a_token_answers_202_with_the_job(api, alice, keyed, operation):
    response = api.call("POST", f"/{operation}", token=alice, json_body=SEED_BODIES[operation])
    assert response.status == 202, response.body
    body = response.json()
    task_id = body["task_id"]
    assert body["status"] == "pending" and body["status_url"] == f"/api/v1/jobs/{task_id}"
    assert body["operation"] == operation and body["results"] == [] and body["error"] is None
    (job,) = _jobs()
    assert job["owner"] == "alice" and job["status"] == "pending" and job["operation"] == operation
    settings = get_settings()
    queue = settings.image_queue_url if operation == "remove_bg" else settings.dashscope.queue_url
    assert job["engine"] == ("local" if operation == "remove_bg" else "dashscope")
    assert _messages(queue) == [{"task_id": task_id}]
    for field, value in SEED_BODIES[operation].items():
        assert body["params"][field] == value


def test_the_seed_defaults_apply(api, alice, keyed):
    bodies = {"change_bg": {"base_image_url": "https://e.com/a.png", "ref_image_url": "https://e.com/b.jpg"},
              "expand": {"base_image_url": "https://e.com/a.jpg"}, "fix": {"base_image_url": "https://e.com/a.jpg"}}
    params = {op: api.call("POST", f"/{op}", token=alice, json_body=body).json()["params"] for op, body in bodies.items()}
    assert params["change_bg"]["ref_prompt"] == "" and params["change_bg"]["n"] == 1
    assert {params["expand"][f"{s}_scale"] for s in ("top", "bottom", "left", "right")} == {1.5}
    assert params["expand"]["prompt"] == "按照原来图片背景来操作扩展" and params["expand"]["n"] == 2
    assert params["fix"]["prompt"] == "图像超分。" and params["fix"]["upscale_factor"] == 1


BAD_BODIES = [
    ("change_bg", {"base_image_url": None}, "missing_field"),
    ("change_bg", {"ref_image_url": None}, "missing_field"),  # neither a reference image nor a prompt
    ("change_bg", {"n": 0}, "bad_parameter"),
    ("change_bg", {"n": 5}, "bad_parameter"),
    ("change_bg", {"n": True}, "bad_parameter"),
    ("change_bg", {"n": 1.5}, "bad_parameter"),
    ("change_bg", {"ref_prompt": "x" * 801}, "bad_parameter"),
    ("change_bg", {"base_image_url": "ftp://example.com/a.png"}, "bad_url"),
    ("change_bg", {"ref_image_url": "javascript:alert(1)"}, "bad_url"),
    ("change_cloth", {"person_image_url": None}, "missing_field"),
    ("change_cloth", {"top_garment_url": None, "bottom_garment_url": None}, "missing_field"),
    ("change_cloth", {"top_garment_url": "file:///etc/passwd"}, "bad_url"),
    ("change_cloth", {"person_image_url": 42}, "bad_url"),
    ("expand", {"base_image_url": None}, "missing_field"),
    ("expand", {"top_scale": 0.9}, "bad_parameter"),
    ("expand", {"left_scale": 2.01}, "bad_parameter"),
    ("expand", {"right_scale": "wide"}, "bad_parameter"),
    ("expand", {"prompt": "p" * 801}, "bad_parameter"),
    ("fix", {"base_image_url": "not a url"}, "bad_url"),
    ("fix", {"base_image_url": "https://" + "a" * 2050}, "bad_url"),
    ("fix", {"upscale_factor": 5}, "bad_parameter"),
    ("remove_bg", {"image_url": None}, "missing_field"),
    ("remove_bg", {"image_url": "s3://bucket/key.png"}, "bad_url"),
]


def test_a_bad_body_is_400_saying_what_to_fix_and_nothing_is_queued(api, alice, keyed, subtests):
    for operation, change, code in BAD_BODIES:  # one stack for all: a refusal stores nothing
        with subtests.test(operation=operation, change=str(change)[:60]):
            body = {**SEED_BODIES[operation], **change}
            body = {k: v for k, v in body.items() if v is not None}
            response = api.call("POST", f"/{operation}", token=alice, json_body=body)
            assert response.status == 400, response.body
            assert response.json()["code"] == code and response.json()["error"]
            _assert_nothing_stored()


def test_change_cloth_takes_one_garment_as_dashscope_does(api, alice, keyed):
    body = {"person_image_url": "https://e.com/p.jpg", "top_garment_url": "https://e.com/dress.jpg"}
    assert api.call("POST", "/change_cloth", token=alice, json_body=body).status == 202


def test_without_a_token_it_is_401(api, alice, keyed, subtests):
    for operation in SEED_BODIES:
        with subtests.test(operation=operation):
            assert api.call("POST", f"/{operation}", json_body=SEED_BODIES[operation]).status == 401
            _assert_nothing_stored()


def test_without_a_dashscope_key_dashscope_answers_503_saying_what_to_configure(api, alice, monkeypatch, subtests):
    """change_cloth has only DashScope; the others fall back to the local engine unless DashScope is asked for."""
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    get_settings.cache_clear()
    requests = [("change_cloth", SEED_BODIES["change_cloth"])]
    requests += [(op, {**SEED_BODIES[op], "engine": "dashscope"}) for op in DASHSCOPE_OPERATIONS if op != "change_cloth"]
    for operation, body in requests:
        with subtests.test(operation=operation):
            response = api.call("POST", f"/{operation}", token=alice, json_body=body)
            assert response.status == 503
            assert response.json()["code"] == "engine_unavailable" and "DASHSCOPE_API_KEY" in response.json()["error"]
            _assert_nothing_stored()


def test_remove_bg_needs_no_dashscope_key(api, alice, monkeypatch):
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    get_settings.cache_clear()
    assert api.call("POST", "/remove_bg", token=alice, json_body=SEED_BODIES["remove_bg"]).status == 202


def test_a_wait_out_of_range_is_400(api, alice, keyed):
    for wait in ("26", "-1", "soon"):
        response = api.call("POST", "/fix", token=alice, query=f"wait={wait}", json_body=SEED_BODIES["fix"])
        assert response.status == 400 and "wait" in response.json()["error"], wait
    response = api.call("POST", "/fix", token=alice, json_body={**SEED_BODIES["fix"], "wait": True})
    assert response.status == 400
    _assert_nothing_stored()


def test_uploaded_files_stand_for_urls_and_are_kept_in_the_bucket(api, alice, keyed):
    response = api.call("POST", "/change_cloth", token=alice,
                        form={"top_garment_url": "https://e.com/top.jpg"},
                        files={"person_image": ("me.png", portrait_png(60, 80), "image/png"),
                               "bottom_garment": ("b.jpg", portrait_jpeg(50, 50), "image/jpeg")})
    assert response.status == 202, response.body
    task_id = response.json()["task_id"]
    assert _objects() == [f"uploads/alice/{task_id}/bottom_garment_url.jpg", f"uploads/alice/{task_id}/person_image_url.png"]
    (job,) = _jobs()
    assert job["params"]["person_image_url"] is None and job["params"]["top_garment_url"] == "https://e.com/top.jpg"
    assert job["params"]["uploads"] == {"person_image_url": f"uploads/alice/{task_id}/person_image_url.png",
                                        "bottom_garment_url": f"uploads/alice/{task_id}/bottom_garment_url.jpg"}
    assert job["input"]["person_image_url"]["width"] == 60


def test_multipart_fields_are_read_like_json(api, alice, keyed):
    response = api.call("POST", "/expand", token=alice, form={"top_scale": "1.2", "n": "3"},
                        files={"base_image": ("a.jpg", portrait_jpeg(64, 64), "image/jpeg")})
    assert response.status == 202, response.body
    params = response.json()["params"]
    assert params["top_scale"] == 1.2 and params["n"] == 3 and params["left_scale"] == 1.5


def test_remove_bg_upload_is_the_jobs_input(api, alice):
    response = api.call("POST", "/remove_bg", token=alice, files={"image": ("a.png", portrait_png(40, 50), "image/png")})
    assert response.status == 202, response.body
    (job,) = _jobs()
    assert job["input_key"] == f"uploads/alice/{job['task_id']}/input.png" and job["params"]["image_url"] is None


@pytest.mark.parametrize("form,files,code", [
    ({"base_image_url": "https://e.com/a.jpg"}, {"base_image": ("a.jpg", portrait_jpeg(20, 20), "image/jpeg")}, "bad_parameter"),
    ({}, {"base_image": ("a.txt", b"not an image", "text/plain")}, "unsupported_image"),
    ({}, {"base_image": ("a.jpg", portrait_jpeg(20, 20), "image/jpeg"), "photo": ("b.jpg", b"x", "image/jpeg")}, "bad_parameter"),
    ({}, {"base_image": ("a.jpg", portrait_jpeg(20, 20), "image/jpeg"),
          "base_image_url": ("b.jpg", portrait_jpeg(20, 20), "image/jpeg")}, "bad_parameter"),
])
def test_bad_uploads_are_400(api, alice, keyed, form, files, code):
    response = api.call("POST", "/fix", token=alice, form=form, files=files)
    assert response.status == 400 and response.json()["code"] == code, response.body
    _assert_nothing_stored()


def test_a_failed_submit_leaves_nothing_behind(api, alice, keyed, monkeypatch):
    from botocore.exceptions import ClientError

    from imgapi.jobs import submission

    def broken_send(queue_url, task_id):
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "SQS is down"}}, "SendMessage")

    monkeypatch.setattr(submission, "send_job", broken_send)
    response = api.call("POST", "/fix", token=alice, files={"base_image": ("a.jpg", portrait_jpeg(30, 30), "image/jpeg")})
    assert response.status == 503 and response.json()["code"] == "submit_failed"
    _assert_nothing_stored()


# -- wait -------------------------------------------------------------------------------------------------

def _worker_runs_while_the_request_waits(monkeypatch):
    """While the submit function sleeps in its wait, the worker runs (as it would in AWS, elsewhere)."""
    monkeypatch.setattr(job_views, "sleep", lambda seconds: run_dashscope_worker())


@pytest.mark.parametrize("where", ["query", "body"])
def test_with_wait_the_finished_job_comes_back_in_the_same_call(api, alice, dashscope, monkeypatch, where):
    _worker_runs_while_the_request_waits(monkeypatch)
    body = dict(SEED_BODIES["change_cloth"])
    if where == "body":
        body["wait"] = 20
    response = api.call("POST", "/change_cloth", token=alice, json_body=body, query="wait=20" if where == "query" else "")
    assert response.status == 200, response.body
    job = response.json()
    assert job["status"] == "completed" and job["task_status"] == "SUCCEEDED"
    (result,) = job["results"]
    assert job["image_url"] == result["url"]  # what the seed's try-on clients read
    assert (result["width"], result["height"]) == dashscope.result_size and result["content_type"] == "image/png"


def test_with_wait_a_failed_job_comes_back_with_its_error(api, alice, dashscope, monkeypatch):
    _worker_runs_while_the_request_waits(monkeypatch)
    dashscope.task_outcome("FAILED", "InvalidPerson")
    response = api.call("POST", "/change_cloth", token=alice, query="wait=10", json_body=SEED_BODIES["change_cloth"])
    assert response.status == 200
    job = response.json()
    assert job["status"] == "failed" and job["task_status"] == "FAILED" and job["results"] == []
    assert job["error"]["code"] == "InvalidPerson"


def test_with_wait_a_job_not_finished_in_time_comes_back_as_202(api, alice, keyed, monkeypatch):
    slept = []
    monkeypatch.setattr(job_views, "sleep", slept.append)
    clock = iter(range(0, 1000, 1))
    monkeypatch.setattr(job_views, "now", lambda: next(clock))
    response = api.call("POST", "/expand", token=alice, query="wait=3", json_body=SEED_BODIES["expand"])
    assert response.status == 202 and response.json()["status"] == "pending" and response.json()["task_status"] == "PENDING"
    assert slept and sum(slept) <= 3


def test_an_idempotency_key_makes_a_retried_image_edit_return_the_same_task(api, alice):
    body = {"image_url": "https://images.example.com/shoe.png"}
    first = api.call("POST", "/remove_bg", token=alice, json_body=body, headers={"Idempotency-Key": "k-1"})
    again = api.call("POST", "/remove_bg", token=alice, json_body=body, headers={"Idempotency-Key": "k-1"})
    assert first.status == again.status == 202
    assert first.json()["task_id"] == again.json()["task_id"]
