"""Issue #22, point 4, found in review: concurrent submits with the same Idempotency-Key but different files. All of
them name the same task; they used to write their input under the same S3 key before the job row decided which one
won, so a loser (answered 422) could replace the winner's input. Each request now writes under keys of its own."""
from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from imgapi.core import storage
from imgapi.core.settings import get_settings
from imgapi.jobs import lifecycle
from imgapi_local.moto_atomic import is_atomic
from tests.support.aws_state import job_rows, objects
from tests.support.images import portrait_jpeg

REQUESTS = 60
COMBO = "/api/v1/upscale/combo"


@pytest.fixture
def unlimited(stack, monkeypatch):
    """The race is about the key, not the per-minute limit: every request may be admitted."""
    monkeypatch.setenv("SUBMITS_PER_MINUTE", "100000")
    monkeypatch.setenv("JOBS_PER_DAY", "100000")
    get_settings.cache_clear()


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_submits_with_one_key_and_different_files_leave_the_winners_input_intact(api, alice, unlimited,
                                                                                            round_):
    assert is_atomic()  # DynamoDB's conditional writes are atomic, as in AWS
    files = [portrait_jpeg(60 + i, 80 + round_) for i in range(REQUESTS)]  # every request a different file
    assert len({hashlib.sha256(f).digest() for f in files}) == REQUESTS
    start = threading.Barrier(REQUESTS)

    def submit(data: bytes):
        start.wait()
        return api.call("POST", COMBO, token=alice, headers={"Idempotency-Key": f"race-{round_}"},
                        query="enhance_level=light", files={"file": ("p.jpg", data, "image/jpeg")})

    with ThreadPoolExecutor(REQUESTS) as pool:
        answers = list(pool.map(submit, files))
    statuses = [answer.status for answer in answers]
    assert statuses.count(202) == 1, statuses
    # The others are another request under the key: 422 (409 only while the winner's job could not be read yet).
    assert all(status in (422, 409) for status in statuses if status != 202), statuses
    assert {answers[i].json()["code"] for i, s in enumerate(statuses) if s != 202} <= {
        "idempotency_key_reused", "idempotency_key_in_progress"}

    (row,) = job_rows()  # exactly one job
    winner = files[statuses.index(202)]
    job = lifecycle.get_job(answers[statuses.index(202)].json()["task_id"])
    assert job["task_id"] == row["task_id"]
    assert storage.get_object(job["input_key"]) == winner  # its input is the winner's file, byte for byte
    assert objects("uploads/") == [job["input_key"]]  # the losers' inputs are gone: a refused request stores nothing


def test_a_failed_submit_under_the_key_never_undoes_the_job_another_request_made(api, alice, monkeypatch):
    """The second request missed the first's job, then its own write of the row failed (a throttle, or an answer
    lost): its undo deletes its own inputs, and the row only if this request wrote it, which it did not."""
    from botocore.exceptions import ClientError

    from imgapi.jobs import submission

    first = api.call("POST", COMBO, token=alice, headers={"Idempotency-Key": "undo-1"}, query="enhance_level=light",
                     files={"file": ("p.jpg", portrait_jpeg(), "image/jpeg")})
    assert first.status == 202
    stored = objects("uploads/")
    real_get_job = lifecycle.get_job
    monkeypatch.setattr(submission.lifecycle, "get_job", lambda task_id: None)  # it did not see the first's job

    def throttled(**_):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                          "PutItem")

    monkeypatch.setattr(submission.lifecycle, "create_job", throttled)
    second = api.call("POST", COMBO, token=alice, headers={"Idempotency-Key": "undo-1"}, query="enhance_level=light",
                      files={"file": ("p.jpg", portrait_jpeg(100, 120), "image/jpeg")})
    assert second.status == 503 and second.json()["code"] == "submit_failed"
    job = real_get_job(first.json()["task_id"])
    assert job is not None and job["status"] == "pending"  # the first request's job stands
    assert objects("uploads/") == stored and storage.get_object(job["input_key"]) == portrait_jpeg()


def test_a_failed_upload_request_under_the_key_never_undoes_the_job_another_request_made(api, alice, monkeypatch):
    """The same for POST /api/v1/uploads: the job row of the first request stands."""
    from botocore.exceptions import ClientError

    from imgapi.jobs import uploads

    body = {"operation": "combo", "filename": "a.jpg", "content_type": "image/jpeg"}
    first = api.call("POST", "/api/v1/uploads", token=alice, json_body=body, headers={"Idempotency-Key": "undo-2"})
    assert first.status == 201
    real_get_job = lifecycle.get_job
    monkeypatch.setattr(uploads.lifecycle, "get_job", lambda task_id: None)

    def throttled(**_):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                          "PutItem")

    monkeypatch.setattr(uploads.lifecycle, "create_job", throttled)
    second = api.call("POST", "/api/v1/uploads", token=alice, json_body={**body, "filename": "b.jpg"},
                      headers={"Idempotency-Key": "undo-2"})
    assert second.status == 503 and second.json()["code"] == "submit_failed"
    job = real_get_job(first.json()["task_id"])
    assert job is not None and job["status"] == "awaiting_upload"
