"""POST /api/v1/uploads and the ingest of incoming/: a presigned POST, a job awaiting its upload, and the upload
starting it (or failing it with the reason), once per S3 event."""
from __future__ import annotations

import base64
import json
import math
import time

import boto3
import pytest

from imgapi.jobs import lifecycle
from imgapi.core.settings import get_settings
from imgapi_local.events import LambdaContext
from tests.functional.test_ingest import all_jobs, ingest_handler, put, s3_event
from tests.support.images import portrait_jpeg
from tests.support.worker import deliver, queue_depth
from tests.support.aws_state import objects

pytestmark = pytest.mark.slow


def prepare(api, token, headers: dict | None = None, **body):
    body = {"operation": "combo", "filename": "portrait.jpg", "content_type": "image/jpeg", **body}
    return api.call("POST", "/api/v1/uploads", token=token, json_body=body, headers=headers)


def prepared(api, token, **body) -> dict:
    response = prepare(api, token, **body)
    assert response.status == 201, response.body
    return response.json()


def ingest(key: str, sequencer: str = "0055AED6DCD90281E5") -> str | None:
    """Deliver the ObjectCreated event of `key` (as it was when uploaded: a redelivery finds the object gone)."""
    size = sum(o["Size"] for o in boto3.client("s3").list_objects_v2(Bucket=get_settings().bucket, Prefix=key).get("Contents", []))
    (task_id,) = ingest_handler()(s3_event(key, sequencer, size=size or 1), LambdaContext("ingest"))["tasks"]
    return task_id


def key_of(answer: dict) -> str:
    return answer["upload"]["fields"]["key"]


def test_an_upload_is_a_presigned_post_limited_by_its_policy_and_a_job_awaiting_it(api, alice):
    started = time.time()
    answer = prepared(api, alice, params={"enhance_level": "strong"}, filename="../../My Photo (1).JPG")
    task_id = answer["task_id"]
    assert answer["status"] == "awaiting_upload" and answer["status_url"] == f"/api/v1/jobs/{task_id}"
    # The TTL counts down from when the job was made: exactly 900 s, less the whole seconds this request took.
    assert 900 - math.ceil(time.time() - started) - 1 <= answer["expires_in"] <= 900
    assert answer["max_bytes"] == 10 * 1024 * 1024
    fields = answer["upload"]["fields"]
    assert fields["key"] == f"incoming/alice/{task_id}/My_Photo_1_.JPG" and fields["Content-Type"] == "image/jpeg"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert ["content-length-range", 1, 10 * 1024 * 1024] in policy["conditions"]
    assert ["starts-with", "$Content-Type", "image/"] in policy["conditions"]
    assert {"key": fields["key"]} in policy["conditions"] and {"bucket": get_settings().bucket} in policy["conditions"]
    expires = time.mktime(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert started + 890 <= expires <= time.time() + 910
    # Nothing is stored or queued before the upload; the job is visible, awaiting it.
    assert objects() == [] and queue_depth(get_settings().image_queue_url) == 0
    view = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert view["status"] == "awaiting_upload" and view["params"]["enhance_level"] == "strong"
    assert view["params"]["filename"] == "../../My Photo (1).JPG"
    listing = api.call("GET", "/api/v1/jobs", token=alice, query="status=awaiting_upload").json()
    assert [j["task_id"] for j in listing["jobs"]] == [task_id]


@pytest.mark.parametrize("body,status,code", [
    ({"operation": "sharpen"}, 400, "unknown_operation"),
    ({"operation": None}, 400, "unknown_operation"),
    ({"params": {"enhance_level": "extreme"}}, 400, "bad_enhance_level"),
    ({"params": ["strong"]}, 400, "bad_parameter"),
    ({"operation": "remove_bg", "params": {"format": "gif"}}, 400, "bad_format"),
    ({"params": {"config_id": "00000000-0000-4000-8000-0000000000ff"}}, 404, None),
    ({"content_type": "text/plain"}, 400, "bad_content_type"),
    ({"content_type": None, "filename": "notes.txt"}, 400, "bad_content_type"),
    ({"size": 10 * 1024 * 1024 + 1}, 413, "file_too_large"),
    ({"size": "big"}, 400, "bad_parameter"),
])
def test_refused_uploads_write_nothing(api, alice, body, status, code):
    response = prepare(api, alice, **body)
    assert response.status == status, response.body
    assert code is None or response.json()["code"] == code
    assert all_jobs() == [] and objects() == []


def test_a_body_that_is_not_a_json_object_and_a_missing_token_are_refused(api, alice):
    assert api.call("POST", "/api/v1/uploads", token=alice, json_body=["combo"]).status == 400
    assert api.call("POST", "/api/v1/uploads", token=alice, body=b"{not json", headers={"content-type": "application/json"}).status == 400
    assert prepare(api, None).status == 401
    assert all_jobs() == []


def test_the_content_type_may_come_from_the_file_name(api, alice):
    answer = prepared(api, alice, operation="remove_bg", content_type=None, filename="cut.webp")
    assert answer["upload"]["fields"]["Content-Type"] == "image/webp"


def test_the_upload_starts_the_job_and_the_worker_completes_it(api, alice):
    answer = prepared(api, alice, params={"enhance_level": "light"})
    task_id, key = answer["task_id"], key_of(answer)
    data = portrait_jpeg(80, 100)
    put(key, data)
    assert ingest(key) == task_id
    job = lifecycle.get_job(task_id)
    assert job["status"] == "pending" and job["input_key"] == f"uploads/alice/{task_id}/input.jpg"
    assert job["input"] == {"content_type": "image/jpeg", "width": 80, "height": 100, "size_bytes": len(data)}
    # The bytes that were checked are the job's input; the landing copy is gone.
    assert objects("incoming/") == [] and objects("uploads/") == [job["input_key"]]
    assert queue_depth(get_settings().image_queue_url) == 1
    deliver(get_settings().image_queue_url)
    status = api.call("GET", f"/api/v1/upscale/status/{task_id}", token=alice).json()
    assert status["status"] == "completed" and status["result"]["width"] == 160
    assert objects("results/") == [f"results/alice/{task_id}/result.png"]


def test_the_same_event_twice_makes_one_job_and_one_message(api, alice):
    answer = prepared(api, alice)
    put(key_of(answer), portrait_jpeg(40, 50))
    assert ingest(key_of(answer)) == ingest(key_of(answer)) == answer["task_id"]
    assert len(all_jobs()) == 1 and lifecycle.get_job(answer["task_id"])["status"] == "pending"
    assert queue_depth(get_settings().image_queue_url) == 1


def test_a_later_delivery_queues_a_job_taken_in_but_maybe_never_queued(api, alice):
    """An ingest that failed between taking the upload in and queuing it is retried by S3: the job is queued then."""
    answer = prepared(api, alice)
    assert lifecycle.accept_upload(answer["task_id"], "uploads/alice/x/input.jpg", {})
    put(key_of(answer), portrait_jpeg(40, 50))
    assert ingest(key_of(answer), sequencer="0055AED6DCD90281F7") == answer["task_id"]
    assert queue_depth(get_settings().image_queue_url) == 1


@pytest.mark.parametrize("data,code,reason", [
    (b"this is not a picture", "unsupported_image", "not an image"),
    (portrait_jpeg(80, 100), "too_many_pixels", "pixels"),
])
def test_a_bad_upload_fails_its_job_with_the_reason_and_is_not_processed_again(api, alice, monkeypatch, data, code, reason):
    monkeypatch.setenv("MAX_INPUT_PIXELS", "5000")
    get_settings.cache_clear()
    answer = prepared(api, alice, filename="holiday.jpg")
    put(key_of(answer), data)
    assert ingest(key_of(answer)) == answer["task_id"]
    view = api.call("GET", f"/api/v1/jobs/{answer['task_id']}", token=alice).json()
    assert view["status"] == "failed" and view["error"]["code"] == code
    assert reason in view["error"]["message"] and "holiday.jpg" in view["error"]["message"]
    assert queue_depth(get_settings().image_queue_url) == 0 and objects() == []
    # Uploaded again to the same key (a new S3 event): the job stays failed, nothing is queued.
    put(key_of(answer), portrait_jpeg(40, 50))
    ingest(key_of(answer), sequencer="0055AED6DCD90281F9")
    assert lifecycle.get_job(answer["task_id"])["status"] == "failed" and queue_depth(get_settings().image_queue_url) == 0


def test_objects_no_upload_asked_for_are_left_alone(api, alice):
    answer = prepared(api, alice)
    task_id = answer["task_id"]
    for key in (f"incoming/bob/{task_id}/portrait.jpg",  # another owner than the job's
                f"incoming/alice/{task_id}/other.jpg",  # not the key the upload was for
                "incoming/alice/00000000-0000-4000-8000-00000000dead/x.jpg",  # no such job
                "incoming/stray.jpg"):
        put(key, portrait_jpeg(40, 50))
        assert ingest(key) is None
    assert lifecycle.get_job(task_id)["status"] == "awaiting_upload" and queue_depth(get_settings().image_queue_url) == 0
    assert len(objects("incoming/")) == 4


def test_an_upload_that_never_came_fails_once_its_url_expired(api, alice, monkeypatch):
    waiting, arrived = prepared(api, alice), prepared(api, alice)
    put(key_of(arrived), portrait_jpeg(40, 50))  # its notification has not been handled yet
    later = time.time() + 900 + lifecycle.UPLOAD_GRACE_SECONDS + 1
    monkeypatch.setattr(lifecycle.time, "time", lambda: later)
    view = api.call("GET", f"/api/v1/jobs/{waiting['task_id']}", token=alice).json()
    assert view["status"] == "failed" and view["error"]["code"] == "upload_expired"
    assert "POST /api/v1/uploads" in view["error"]["message"]
    listing = api.call("GET", "/api/v1/jobs", token=alice).json()["jobs"]
    assert {j["task_id"]: j["status"] for j in listing} == {waiting["task_id"]: "failed", arrived["task_id"]: "awaiting_upload"}
    # The object that did arrive still starts its job.
    assert ingest(key_of(arrived)) == arrived["task_id"] and lifecycle.get_job(arrived["task_id"])["status"] == "pending"


def test_an_idempotency_key_gives_a_retried_request_the_same_job_and_a_fresh_post(api, alice):
    headers = {"idempotency-key": "batch-7/portrait.jpg"}
    first = prepare(api, alice, headers=headers)
    second = prepare(api, alice, headers=headers)
    assert (first.status, second.status) == (201, 200)
    assert first.json()["task_id"] == second.json()["task_id"] and second.json()["upload"]["fields"]["key"] == key_of(first.json())
    assert len(all_jobs()) == 1
    put(key_of(first.json()), portrait_jpeg(40, 50))
    ingest(key_of(first.json()))
    replay = prepare(api, alice, headers=headers).json()
    assert replay["status"] == "pending" and replay["upload"] is None
