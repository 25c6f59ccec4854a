"""The sweeper: jobs that can no longer finish are failed with a reason; jobs that may still finish are left."""
from __future__ import annotations

import time

import boto3
import pytest

from imgapi.core import aws

from imgapi.jobs import lifecycle

from imgapi.core import storage

from imgapi.jobs import sweeper
from imgapi.core.records import iso_at
from imgapi.core.settings import get_settings
from tests.support.images import portrait_png
from tests.support.worker import deliver

GRACE = 1800 + 120


class Killed(BaseException):
    """What a worker's process dying looks like from inside: no except clause of ours runs."""


def _job(task_id: str, status: str = lifecycle.PENDING, **extra) -> str:
    lifecycle.create_job(task_id=task_id, owner="alice", operation="combo", engine="local", params={}, input_key=None,
                    status=status, extra=extra or None)
    return task_id


def _age(task_id: str, seconds: float) -> None:
    aws.table(get_settings().jobs_table).update_item(
        Key={"task_id": task_id}, UpdateExpression="SET updated_at = :t",
        ExpressionAttributeValues={":t": iso_at(time.time() - seconds)})


def test_a_job_whose_worker_died_on_its_last_delivery_is_failed(stack):
    task = _job("t-last")
    assert lifecycle.claim(task, 3, last_delivery=True)
    _age(task, GRACE + 10)
    assert sweeper.sweep_stuck_jobs().failed == [task]
    job = lifecycle.get_job(task)
    assert job["status"] == "failed" and job["error_code"] == "worker_lost" and "last attempt" in job["error_message"]


def test_jobs_that_may_still_finish_are_left(stack):
    recent_last = _job("t-recent-last")
    lifecycle.claim(recent_last, 3, last_delivery=True)
    _age(recent_last, GRACE - 60)  # its delivery may still be running
    early = _job("t-early")
    lifecycle.claim(early, 1)
    _age(early, GRACE + 10)  # SQS delivers it again
    waiting = _job("t-waiting")
    _age(waiting, 3 * 3600)  # pending behind a backlog
    report = sweeper.sweep_stuck_jobs()
    assert report.failed == [] and report.examined == 3
    assert {lifecycle.get_job(t)["status"] for t in (recent_last, early, waiting)} == {"processing", "pending"}


@pytest.mark.parametrize("status", [lifecycle.PENDING, lifecycle.PROCESSING])
def test_anything_untouched_for_the_stuck_limit_is_failed(stack, status):
    task = _job("t-stuck")
    if status == lifecycle.PROCESSING:
        lifecycle.claim(task, 1)
    _age(task, get_settings().stuck_job_seconds + 10)
    assert sweeper.sweep_stuck_jobs().failed == [task]
    job = lifecycle.get_job(task)
    assert job["error_code"] == "stuck" and status in job["error_message"]


def test_an_upload_that_never_came_is_failed_and_one_that_came_is_left(stack):
    past = int(time.time()) - lifecycle.UPLOAD_GRACE_SECONDS - 10
    never = _job("t-never", lifecycle.AWAITING_UPLOAD, upload_key="incoming/alice/t-never/a.png", upload_expires_at=past)
    came = _job("t-came", lifecycle.AWAITING_UPLOAD, upload_key="incoming/alice/t-came/a.png", upload_expires_at=past)
    storage.put_object("incoming/alice/t-came/a.png", portrait_png(20, 20), "image/png")
    for task in (never, came):
        _age(task, 1500)
    assert sweeper.sweep_stuck_jobs().failed == [never]
    assert lifecycle.get_job(never)["error_code"] == "upload_expired"
    assert lifecycle.get_job(came)["status"] == lifecycle.AWAITING_UPLOAD


def test_finished_jobs_leave_the_index_and_are_not_read(stack):
    done, failed = _job("t-done"), _job("t-failed")
    lifecycle.claim(done, 1)
    lifecycle.complete(done, 1, [])
    lifecycle.fail(failed, "bad input")
    for task in (done, failed):
        _age(task, get_settings().stuck_job_seconds + 10)
        assert "open_shard" not in lifecycle.get_job(task)
    assert sweeper.sweep_stuck_jobs().examined == 0


def test_a_delivery_that_claims_the_job_meanwhile_keeps_it(stack, monkeypatch):
    task = _job("t-race")
    lifecycle.claim(task, 1)
    _age(task, get_settings().stuck_job_seconds + 10)
    seen = lifecycle.get_job(task)
    lifecycle.claim(task, 2)  # a redelivery takes it after the sweeper read it
    monkeypatch.setattr(lifecycle, "get_job", lambda task_id: seen)
    assert sweeper.sweep_stuck_jobs().failed == []
    monkeypatch.undo()
    assert lifecycle.get_job(task)["status"] == "processing"


def test_end_to_end_a_worker_killed_on_the_last_delivery_does_not_leave_the_job_processing(api, alice, monkeypatch):
    from imgapi.jobs import worker

    submitted = api.call("POST", "/api/v1/upscale/combo", token=alice,
                         files={"file": ("p.png", portrait_png(40, 50), "image/png")})
    task = submitted.json()["task_id"]
    queue = get_settings().image_queue_url
    sqs = boto3.client("sqs")
    for _ in range(2):  # two deliveries whose workers vanished before claiming
        (message,) = sqs.receive_message(QueueUrl=queue, AttributeNames=["All"])["Messages"]
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)

    def killed(job):
        raise Killed()

    monkeypatch.setattr(worker, "run_job", killed)
    with pytest.raises(Killed):
        deliver(queue)
    job = lifecycle.get_job(task)
    assert job["status"] == "processing" and job["attempt"] == 3 and job["last_delivery"] is True
    assert sweeper.sweep_stuck_jobs().failed == []  # its delivery may still be running
    assert sweeper.sweep_stuck_jobs(now=time.time() + GRACE + 5).failed == [task]
    status = api.call("GET", f"/api/v1/jobs/{task}", token=alice).json()
    assert status["status"] == "failed" and status["error"]["code"] == "worker_lost"
