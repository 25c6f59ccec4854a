"""POST /api/v1/upscale/combo: what is stored and queued, and every refusal leaving nothing behind."""
from __future__ import annotations

import json

import boto3
import pytest

from imgapi.core.settings import get_settings
from tests.support.images import encode, portrait_array, portrait_jpeg, portrait_png
from tests.support.aws_state import objects as _objects, job_rows as _jobs


def _messages() -> list[dict]:
    return boto3.client("sqs").receive_message(QueueUrl=get_settings().image_queue_url, MaxNumberOfMessages=10).get("Messages", [])


def submit(api, token, data=None, *, query="enhance_level=medium", filename="portrait.jpg", ctype="image/jpeg"):
    files = {"file": (filename, data if data is not None else portrait_jpeg(), ctype)}
    return api.call("POST", "/api/v1/upscale/combo", query=(f"token={token}&" if token else "") + query, files=files)


def test_submit_answers_202_and_stores_input_job_and_message(api, alice):
    response = submit(api, alice)
    assert response.status == 202, response.body
    body = response.json()
    task_id = body["task_id"]
    assert body["message"] and body["status"] == "pending"
    assert _objects() == [f"uploads/alice/{task_id}/input.jpg"]
    (job,) = _jobs()
    assert job["task_id"] == task_id and job["owner"] == "alice" and job["status"] == "pending"
    assert job["params"]["enhance_level"] == "medium"
    assert job["params"]["config"]["model"] == "u2net"
    assert job["input"]["width"] == 240 and job["input"]["height"] == 320
    (message,) = _messages()
    assert json.loads(message["Body"]) == {"task_id": task_id}


def test_enhance_level_defaults_to_medium_and_may_come_as_a_form_field(api, alice):
    response = api.call("POST", "/api/v1/upscale/combo", token=alice,
                        form={"enhance_level": "strong"}, files={"file": ("p.png", portrait_png(), "image/png")})
    assert response.status == 202
    response = submit(api, alice, query="")
    assert response.status == 202
    levels = sorted(j["params"]["enhance_level"] for j in _jobs())
    assert levels == ["medium", "strong"]


def _assert_nothing_stored():
    assert _objects() == []
    assert _jobs() == []
    assert _messages() == []


def test_unknown_enhance_level_is_400(api, alice):
    response = submit(api, alice, query="enhance_level=extreme")
    assert response.status == 400 and response.json()["code"] == "bad_enhance_level"
    _assert_nothing_stored()


def test_an_empty_enhance_level_means_the_default(api, alice):
    assert submit(api, alice, query="enhance_level=").status == 202
    assert _jobs()[0]["params"]["enhance_level"] == "medium"


def test_no_file_is_400(api, alice):
    response = api.call("POST", "/api/v1/upscale/combo", token=alice, form={"enhance_level": "light"})
    assert response.status == 400 and response.json()["code"] == "missing_file"
    _assert_nothing_stored()


@pytest.mark.parametrize("data,code", [(b"this is not an image", "unsupported_image"),
                                       (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "unsupported_image"),
                                       (b"", "empty_file")])
def test_not_an_image_is_400(api, alice, data, code):
    response = submit(api, alice, data)
    assert response.status == 400
    assert response.json()["code"] == code
    _assert_nothing_stored()


def test_unsupported_format_is_400(api, alice):
    response = submit(api, alice, encode(portrait_array(64, 64), "BMP"), filename="x.bmp", ctype="image/bmp")
    assert response.status == 400
    assert "BMP" in response.json()["error"]
    _assert_nothing_stored()


def test_over_the_size_limit_is_413(api, alice, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "20000")
    get_settings.cache_clear()
    data = encode(portrait_array(400, 400), "PNG")
    assert len(data) > 20000
    response = submit(api, alice, data, filename="big.png", ctype="image/png")
    assert response.status == 413 and response.json()["code"] == "file_too_large"
    _assert_nothing_stored()


def test_too_many_pixels_is_refused_from_the_header(api, alice, monkeypatch):
    monkeypatch.setenv("MAX_INPUT_PIXELS", "50000")
    get_settings.cache_clear()
    response = submit(api, alice, portrait_jpeg(300, 300))
    assert response.status == 400 and response.json()["code"] == "too_many_pixels"
    assert "300x300" in response.json()["error"]
    _assert_nothing_stored()


def test_decompression_bomb_header_is_refused_without_decoding(api, alice):
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    # 100000 x 100000 RGB claimed; the compressed data is a few hundred bytes of zeros.
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100000)) + chunk(b"IEND", b"")
    assert len(bomb) < 1000
    response = submit(api, alice, bomb, filename="bomb.png", ctype="image/png")
    assert response.status == 400 and response.json()["code"] == "too_many_pixels"
    _assert_nothing_stored()


def test_unknown_config_is_404_and_foreign_config_is_403(api, alice, bob):
    response = submit(api, alice, query="config_id=00000000-0000-4000-8000-0000000000ff")
    assert response.status == 404 and response.json()["code"] == "config_not_found"
    created = api.call("POST", "/api/v1/configs", token=bob, json_body={"name": "bob's"}).json()
    response = submit(api, alice, query=f"config_id={created['config_id']}")
    assert response.status == 403 and response.json()["code"] == "config_forbidden"
    _assert_nothing_stored()


def test_saved_config_is_copied_onto_the_job(api, alice):
    created = api.call("POST", "/api/v1/configs", token=alice,
                       json_body={"name": "white", "bgcolor": "#ffffff", "post_process_mask": True}).json()
    response = submit(api, alice, query=f"config_id={created['config_id']}")
    assert response.status == 202
    (job,) = _jobs()
    assert job["params"]["config_id"] == created["config_id"]
    assert job["params"]["config"]["bgcolor"] == [255, 255, 255, 255]
    assert job["params"]["config"]["post_process_mask"] is True


def test_submit_without_token_is_401_and_stores_nothing(api, alice):
    response = submit(api, None)
    assert response.status == 401
    _assert_nothing_stored()


def test_queue_failure_leaves_no_job_and_no_object(api, alice, monkeypatch):
    from imgapi.jobs import submission
    from botocore.exceptions import ClientError

    def broken_send(queue_url, task_id):
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "SQS is down"}}, "SendMessage")

    monkeypatch.setattr(submission, "send_job", broken_send)
    response = submit(api, alice)
    assert response.status == 503 and response.json()["code"] == "submit_failed"
    _assert_nothing_stored()


def test_an_idempotency_key_makes_a_retried_submit_return_the_same_task(api, alice, bob):
    def with_key(token, key, data=None):
        return api.call("POST", "/api/v1/upscale/combo", token=token, headers={"Idempotency-Key": key},
                        files={"file": ("p.jpg", data or portrait_jpeg(), "image/jpeg")})

    first = with_key(alice, "order-17")
    again = with_key(alice, "order-17")  # the same request again (another body is 422: test_idempotency_keys.py)
    assert first.status == again.status == 202
    assert first.json()["task_id"] == again.json()["task_id"]
    assert len(_jobs()) == 1 and len(_messages()) == 1
    # The first request's input stands; the retry stored nothing of its own.
    (key,) = _objects()
    assert boto3.client("s3").get_object(Bucket=get_settings().bucket, Key=key)["Body"].read() == portrait_jpeg()
    assert with_key(alice, "order-18").json()["task_id"] != first.json()["task_id"]
    assert with_key(bob, "order-17").json()["task_id"] != first.json()["task_id"]  # keys are per user


def test_a_malformed_idempotency_key_is_400(api, alice):
    response = api.call("POST", "/api/v1/upscale/combo", token=alice, headers={"Idempotency-Key": "x" * 300},
                        files={"file": ("p.jpg", portrait_jpeg(), "image/jpeg")})
    assert response.status == 400 and response.json()["code"] == "bad_idempotency_key"
    _assert_nothing_stored()
