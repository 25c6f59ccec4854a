"""Per-user submit limits: a rate per minute and a quota per UTC day, 429 with Retry-After, nothing stored."""
from __future__ import annotations

import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from imgapi.jobs import quotas
from imgapi.core.errors import TooManyRequests
from imgapi.core.settings import get_settings
from tests.support.images import portrait_png


@pytest.fixture
def limits(stack, monkeypatch):
    def set_limits(per_minute: int, per_day: int) -> None:
        monkeypatch.setenv("SUBMITS_PER_MINUTE", str(per_minute))
        monkeypatch.setenv("JOBS_PER_DAY", str(per_day))
        get_settings.cache_clear()
    yield set_limits
    get_settings.cache_clear()


def _combo(api, token, headers=None):
    return api.call("POST", "/api/v1/upscale/combo", token=token, headers=headers,
                    files={"file": ("p.png", portrait_png(40, 50), "image/png")})


def _stored() -> tuple[int, int, int]:
    settings = get_settings()
    objects = boto3.client("s3").list_objects_v2(Bucket=settings.bucket).get("KeyCount", 0)
    jobs = boto3.resource("dynamodb").Table(settings.jobs_table).scan()["Count"]
    messages = int(boto3.client("sqs").get_queue_attributes(
        QueueUrl=settings.image_queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
    return objects, jobs, messages


def test_the_rate_per_minute_answers_429_with_retry_after_and_stores_nothing(api, alice, bob, limits):
    limits(3, 0)
    assert [_combo(api, alice).status for _ in range(3)] == [202, 202, 202]
    before = _stored()
    refused = _combo(api, alice)
    assert refused.status == 429
    assert refused.json()["code"] == "rate_limited" and "3 submits a minute" in refused.json()["error"]
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert _stored() == before == (3, 3, 3)
    assert _combo(api, bob).status == 202  # limits are per user


def test_the_daily_quota_answers_429_until_utc_midnight(api, alice, limits):
    limits(0, 2)
    assert [_combo(api, alice).status for _ in range(2)] == [202, 202]
    refused = _combo(api, alice)
    assert refused.status == 429 and refused.json()["code"] == "quota_exceeded"
    until_midnight = 86400 - int(time.time()) % 86400
    assert until_midnight - 5 <= int(refused.headers["retry-after"]) <= until_midnight + 5


def test_every_submit_route_is_charged(api, alice, limits):
    limits(0, 2)
    upload = api.call("POST", "/api/v1/uploads", token=alice,
                      json_body={"operation": "remove_bg", "filename": "a.png", "content_type": "image/png", "size": 100})
    assert upload.status == 201, upload.body
    edit = api.call("POST", "/remove_bg", token=alice, files={"image": ("p.png", portrait_png(40, 50), "image/png")})
    assert edit.status == 202, edit.body
    for refused in (_combo(api, alice),
                    api.call("POST", "/expand", token=alice, form={"engine": "local"},
                             files={"base_image": ("p.png", portrait_png(40, 50), "image/png")}),
                    api.call("POST", "/api/v1/uploads", token=alice,
                             json_body={"operation": "combo", "filename": "a.png", "content_type": "image/png", "size": 100})):
        assert refused.status == 429 and refused.json()["code"] == "quota_exceeded", refused.body


def test_a_refused_or_invalid_request_is_not_charged(api, alice, limits):
    limits(2, 0)
    bad = api.call("POST", "/api/v1/upscale/combo", token=alice, files={"file": ("p.png", b"not an image", "image/png")})
    assert bad.status == 400
    assert [_combo(api, alice).status for _ in range(2)] == [202, 202]


def test_an_idempotent_replay_is_not_charged(api, alice, limits):
    limits(1, 0)
    first = _combo(api, alice, headers={"Idempotency-Key": "k-1"})
    again = _combo(api, alice, headers={"Idempotency-Key": "k-1"})
    assert first.status == again.status == 202
    assert first.json()["task_id"] == again.json()["task_id"]


def test_a_submit_that_fails_after_being_charged_gives_the_charge_back(api, alice, limits):
    from imgapi.core import aws

    limits(2, 0)

    def s3_down(**kwargs):
        raise ClientError({"Error": {"Code": "InternalError", "Message": "S3 is down"}}, "PutObject")

    s3 = aws.client("s3")
    s3.meta.events.register("before-call.s3.PutObject", s3_down)
    try:
        assert _combo(api, alice).status == 503
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", s3_down)
    assert [_combo(api, alice).status for _ in range(2)] == [202, 202]
    assert _combo(api, alice).status == 429


def test_a_new_window_admits_again(stack, limits):
    limits(1, 0)
    now = 1_800_000_000.0  # a minute boundary
    quotas.admit_job("carol", now=now)
    with pytest.raises(TooManyRequests) as refused:
        quotas.admit_job("carol", now=now + 30)
    assert refused.value.headers["Retry-After"] == "31"
    quotas.admit_job("carol", now=now + 60)


def test_concurrent_submits_never_exceed_the_limit(stack, limits):
    limits(5, 0)
    admitted, refused = [], []

    def one():
        try:
            admitted.append(quotas.admit_job("dave"))
        except TooManyRequests:
            refused.append(1)

    from imgapi_local.moto_atomic import is_atomic

    assert is_atomic()  # DynamoDB's per-item atomicity under threads: the test stack's (moto alone lacks it)
    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 5 and len(refused) == 7


def test_limits_of_zero_turn_them_off(api, alice, limits):
    limits(0, 0)
    assert quotas.admit_job("alice").keys == ()
    assert all(_combo(api, alice).status == 202 for _ in range(3))
