"""Issue #22, point 4: an Idempotency-Key replayed with a different request is refused (IETF Idempotency-Key draft)."""
from __future__ import annotations

from imgapi.jobs import lifecycle, submission
from tests.support.aws_state import job_rows
from tests.support.images import portrait_jpeg

COMBO = "/api/v1/upscale/combo"


def _combo(api, token, key, data=None, query="enhance_level=medium"):
    return api.call("POST", COMBO, token=token, headers={"Idempotency-Key": key}, query=query,
                    files={"file": ("p.jpg", data or portrait_jpeg(), "image/jpeg")})


def test_the_same_key_with_another_file_is_422_and_stores_nothing(api, alice):
    first = _combo(api, alice, "order-1")
    assert first.status == 202
    other = _combo(api, alice, "order-1", portrait_jpeg(100, 120))
    assert other.status == 422 and other.json()["code"] == "idempotency_key_reused"
    assert "different request" in other.json()["error"]
    assert len(job_rows()) == 1
    replay = _combo(api, alice, "order-1")
    assert replay.status == 202 and replay.json()["task_id"] == first.json()["task_id"]


def test_the_same_key_with_other_parameters_is_422(api, alice):
    assert _combo(api, alice, "order-2").status == 202
    other = _combo(api, alice, "order-2", query="enhance_level=strong")
    assert other.status == 422 and other.json()["code"] == "idempotency_key_reused"


def test_the_same_key_on_an_upload_request_with_another_body_is_422(api, alice):
    body = {"operation": "combo", "filename": "a.jpg", "content_type": "image/jpeg"}
    headers = {"Idempotency-Key": "upload-1"}
    first = api.call("POST", "/api/v1/uploads", token=alice, json_body=body, headers=headers)
    assert first.status == 201
    again = api.call("POST", "/api/v1/uploads", token=alice, json_body=body, headers=headers)
    assert again.status == 200 and again.json()["task_id"] == first.json()["task_id"]
    other = api.call("POST", "/api/v1/uploads", token=alice, json_body={**body, "filename": "b.jpg"}, headers=headers)
    assert other.status == 422 and other.json()["code"] == "idempotency_key_reused"


def test_a_replay_that_races_the_first_request_and_loses_is_checked_too(api, alice, monkeypatch):
    """The second request saw no job, then lost create_job's condition to the first: same request, its job; another
    request, 422; the first's job not readable yet, 409 idempotency_key_in_progress."""
    first = _combo(api, alice, "order-3")
    job = lifecycle.get_job(first.json()["task_id"])
    reads = iter([None, job])  # the replay's lookup misses; the one after the condition failure finds it
    monkeypatch.setattr(submission.lifecycle, "get_job", lambda task_id: next(reads))
    other = _combo(api, alice, "order-3", portrait_jpeg(100, 120))
    assert other.status == 422 and other.json()["code"] == "idempotency_key_reused"
    assert next(reads, "used up") == "used up"  # exactly the two reads the race makes
    reads_then_none = iter([None, None])
    monkeypatch.setattr(submission.lifecycle, "get_job", lambda task_id: next(reads_then_none))
    busy = _combo(api, alice, "order-3")
    assert busy.status == 409 and busy.json()["code"] == "idempotency_key_in_progress"
    assert busy.headers["retry-after"] == "1"
