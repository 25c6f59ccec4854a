"""DELETE /api/v1/jobs/{task_id}: cancelling a job in each state, and what the workers then do (nothing, or discard)."""
from __future__ import annotations

import pytest

from imgapi.dashscope import slots as dashscope_slots
from imgapi.jobs import lifecycle
from imgapi.core import storage
from imgapi.core.settings import get_settings
from tests.functional.conftest import run_dashscope_worker
from tests.support.fake_dashscope import IMAGEEDIT_MODEL
from tests.support.images import portrait_png
from tests.support.seed_api import SEED_BODIES
from tests.support.worker import deliver, queue_depth


def submit(api, token, operation="fix") -> str:
    response = api.call("POST", f"/{operation}", token=token, json_body=SEED_BODIES[operation])
    assert response.status == 202, response.body
    return response.json()["task_id"]


def submit_combo(api, token) -> str:
    response = api.call("POST", "/api/v1/upscale/combo", token=token,
                        files={"file": ("a.png", portrait_png(40, 40), "image/png")})
    assert response.status == 202, response.body
    return response.json()["task_id"]


def cancel(api, token, task_id):
    return api.call("DELETE", f"/api/v1/jobs/{task_id}", token=token)


def test_a_pending_job_is_cancelled_with_202_and_the_job_view(api, alice, keyed):
    task_id = submit(api, alice)
    response = cancel(api, alice, task_id)
    assert response.status == 202, response.body
    view = response.json()
    assert view["task_id"] == task_id and view["status"] == "cancelled" and view["finished_at"]
    assert view["error"] == {"message": "cancelled by its owner", "code": "cancelled"} and view["results"] == []
    assert api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()["status"] == "cancelled"
    # The sweeper's open-jobs index no longer holds it.
    assert "open_shard" not in lifecycle.get_job(task_id)


def test_a_job_awaiting_its_upload_can_be_cancelled(api, alice):
    task_id = lifecycle.new_task_id()
    lifecycle.create_job(task_id=task_id, owner="alice", operation="remove_bg", engine="local", params={},
                         input_key=None, status=lifecycle.AWAITING_UPLOAD)
    assert cancel(api, alice, task_id).json()["status"] == "cancelled"
    # The upload arriving afterwards no longer starts it.
    assert lifecycle.accept_upload(task_id, "incoming/x", {}) is False


def test_a_processing_job_is_cancelled_and_its_late_result_discarded(api, alice, keyed):
    task_id = submit(api, alice)
    assert lifecycle.claim(task_id, 1)["status"] == "processing"
    assert cancel(api, alice, task_id).status == 202
    key = storage.result_key("alice", task_id, "png", index=0)
    assert lifecycle.complete(task_id, 1, [{"key": key, "index": 0}]) is None
    assert lifecycle.fail(task_id, "late", attempt=1) is None
    view = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert view["status"] == "cancelled" and view["results"] == []


@pytest.mark.parametrize("finish", ["complete", "fail", "cancel"])
def test_a_finished_job_is_409(api, alice, keyed, finish):
    task_id = submit(api, alice)
    lifecycle.claim(task_id, 1)
    {"complete": lambda: lifecycle.complete(task_id, 1, []), "fail": lambda: lifecycle.fail(task_id, "no"),
     "cancel": lambda: lifecycle.cancel(task_id)}[finish]()
    status = lifecycle.get_job(task_id)["status"]
    response = cancel(api, alice, task_id)
    assert response.status == 409 and response.json()["code"] == "task_finished"
    assert lifecycle.get_job(task_id)["status"] == status


def test_another_users_job_and_an_unknown_one_are_404_and_left_alone(api, alice, bob, keyed):
    task_id = submit(api, alice)
    response = cancel(api, bob, task_id)
    assert response.status == 404 and response.json()["code"] == "task_not_found"
    assert lifecycle.get_job(task_id)["status"] == "pending"
    assert cancel(api, alice, lifecycle.new_task_id()).status == 404
    assert cancel(api, None, task_id).status == 401
    assert cancel(api, alice, "not-a-uuid").status == 400


def test_the_image_worker_does_nothing_with_a_cancelled_job(api, alice):
    task_id = submit_combo(api, alice)
    assert cancel(api, alice, task_id).status == 202
    response = deliver(get_settings().image_queue_url)
    assert response == {"batchItemFailures": []} and queue_depth(get_settings().image_queue_url) == 0
    job = lifecycle.get_job(task_id)
    assert job["status"] == "cancelled" and job.get("attempt") == 0 and not job.get("results")


def test_the_dashscope_worker_does_nothing_with_a_cancelled_job(api, alice, dashscope):
    task_id = submit(api, alice)
    cancel(api, alice, task_id)
    run_dashscope_worker()
    assert dashscope.submits == [] and lifecycle.get_job(task_id)["status"] == "cancelled"


def _cancel_after_first_poll(monkeypatch, clock, api, token, task_id):
    """Cancel the job through the API while the worker follows its DashScope task (after its first sleep)."""
    sleep = clock.sleep

    def sleeping(seconds):
        if len(clock.sleeps) == 1:
            assert cancel(api, token, task_id).status == 202
        sleep(seconds)
    monkeypatch.setattr(clock, "sleep", sleeping)


def test_a_pending_dashscope_task_is_cancelled_upstream_and_frees_its_slot(api, alice, dashscope, clock, monkeypatch):
    dashscope.pending_polls = 1000
    task_id = submit(api, alice)
    _cancel_after_first_poll(monkeypatch, clock, api, alice, task_id)
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    (task,) = dashscope.tasks.values()
    assert task.status == "CANCELED" and len(clock.sleeps) == 2  # stopped at the poll after the cancel
    job = lifecycle.get_job(task_id)
    assert job["status"] == "cancelled" and not job.get("results")
    assert dashscope_slots.in_use(IMAGEEDIT_MODEL, 2) == 0


def test_a_running_dashscope_task_runs_on_its_result_discarded_and_its_slot_kept(api, alice, dashscope, clock,
                                                                                   monkeypatch):
    dashscope.pending_polls, dashscope.running_polls = 0, 1000
    task_id = submit(api, alice)
    _cancel_after_first_poll(monkeypatch, clock, api, alice, task_id)
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    (task,) = dashscope.tasks.values()
    assert task.status == "RUNNING" and len(clock.sleeps) == 2  # DashScope cancels only PENDING tasks
    job = lifecycle.get_job(task_id)
    assert job["status"] == "cancelled" and not job.get("results")
    assert dashscope_slots.in_use(IMAGEEDIT_MODEL, 2) == 1  # DashScope still counts it, until the lease ends
