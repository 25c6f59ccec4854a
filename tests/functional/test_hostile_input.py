"""Guarantee 2 of issue #8: hostile input, on every way an image or a parameter comes in, gets a clear 4xx
({"error": readable text, "code": stable code}) and leaves nothing stored or half-created: no S3 object, no job
row, no queue message, no configuration. Where an image arrives in S3 first (direct uploads, the batch inbox, an
object put in the bucket by other means), its job ends `failed` with the reason and no result is stored.

Unusual but valid images (CMYK, 16-bit, palette, grey, EXIF-rotated) are accepted and run through the real worker.

One in-memory stack serves the whole module: provisioning one per test would cost half a second each, and there
are a few hundred cases here. Every test leaves the stack empty for the next (see `_emptied`), and per-user submit
limits are off (they are tested in test_quotas.py).
"""
from __future__ import annotations

import io
import json
import re
import uuid
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from imgapi.core import aws

from imgapi.jobs import lifecycle

from imgapi.auth import users
from imgapi.engine.enhance_levels import LEVELS, output_size
from imgapi.core.settings import get_settings
from imgapi.auth.tokens import issue_token
from imgapi_local.events import LambdaContext, http_event
from imgapi_local.provision import provision, reset_caches
from imgapi_local.template import load_template
from tests.conftest import Api
from tests.functional.test_ingest import ingest_handler
from tests.support import images
from tests.support.worker import deliver
from tests.support.in_memory_aws import in_memory_aws

pytestmark = pytest.mark.slow

MB = 1024 * 1024


# -- one stack for the module, emptied after every test ---------------------------------------------------------

@dataclass
class Stack:
    api: Api
    token: str  # alice's
    found_empty: bool = False


@pytest.fixture(scope="module")
def hostile():
    with pytest.MonkeyPatch.context() as env, in_memory_aws():
        reset_caches()
        created = provision(load_template())
        for key, value in created.environment().items():
            env.setenv(key, value)
        env.setenv("SUBMITS_PER_MINUTE", "0")
        env.setenv("JOBS_PER_DAY", "0")
        env.setenv("DASHSCOPE_API_KEY", "sk-configured")  # change_cloth is reachable (nothing calls DashScope here)
        reset_caches()
        users.create_user("alice", "alice-password")
        yield Stack(Api(), issue_token("alice")[0])
    reset_caches()


@pytest.fixture
def stack(hostile):
    """The module's stack, emptied after the test (unless the test found it empty at its end); settings a test
    changed are forgotten with it."""
    hostile.found_empty = False
    yield hostile
    get_settings.cache_clear()
    if not hostile.found_empty:
        _empty()


@pytest.fixture
def small_limits(stack, monkeypatch):
    """MaxUploadBytes 20 kB, so a file over the limit is quick to make."""
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "20000")
    get_settings.cache_clear()
    yield 20000
    get_settings.cache_clear()


def _objects(prefix: str = "") -> list[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=get_settings().bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def _rows(table: str) -> list[dict]:
    return aws.table(table).scan()["Items"]


def _queues() -> tuple[str, str]:
    settings = get_settings()
    return settings.image_queue_url, settings.dashscope.queue_url


def _messages(queue_url: str) -> int:
    attrs = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attrs["Attributes"].values())


def _empty() -> None:
    settings = get_settings()
    s3 = aws.client("s3")
    for key in _objects():
        s3.delete_object(Bucket=settings.bucket, Key=key)
    for table, key in ((settings.jobs_table, "task_id"), (settings.configs_table, "config_id")):
        for row in _rows(table):
            aws.table(table).delete_item(Key={key: row[key]})
    sqs = aws.client("sqs")
    for queue in _queues():  # (PurgeQueue may run once a minute)
        while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages"):
            for message in messages:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def assert_nothing_stored(stack: Stack) -> None:
    settings = get_settings()
    assert _objects() == []
    assert _rows(settings.jobs_table) == [] and _rows(settings.configs_table) == []
    assert [_messages(q) for q in _queues()] == [0, 0]
    stack.found_empty = True


def assert_clear_refusal(response, status: int | None = None, code: str | None = None) -> dict:
    """A 4xx with {"error": readable text, "code": a stable machine code}."""
    assert 400 <= response.status < 500, (response.status, response.body[:300])
    assert status is None or response.status == status, response.body[:300]
    body = response.json()
    assert isinstance(body.get("error"), str) and 0 < len(body["error"]) <= 1000, body
    assert isinstance(body.get("code"), str) and re.fullmatch(r"[a-z][a-z0-9_]*", body["code"]), body
    assert code is None or body["code"] == code, body
    return body


# -- the hostile images ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hostile:
    make: Callable[[], bytes]
    filename: str
    content_type: str  # as the client declares it
    code: str  # the refusal's code where the file comes through the API
    stored_code: str | None = None  # ... where it arrives in S3 (no declared type there); None: as `code`
    status: int = 400
    small_limits: bool = False  # needs MaxUploadBytes lowered (file over the limit)


def _noisy_png() -> bytes:
    return images.encode(np.random.default_rng(7).integers(0, 255, (120, 120, 3), dtype=np.uint8), "PNG")


HOSTILE = {
    "zero_bytes": Hostile(lambda: b"", "empty.jpg", "image/jpeg", "empty_file"),
    "truncated_jpeg": Hostile(lambda: images.truncated(images.portrait_jpeg()), "cut.jpg", "image/jpeg", "corrupt_image"),
    "truncated_png": Hostile(lambda: images.truncated(images.portrait_png()), "cut.png", "image/png", "corrupt_image"),
    "png_without_iend": Hostile(images.png_without_iend, "cut.png", "image/png", "corrupt_image"),
    "truncated_webp": Hostile(lambda: images.truncated(images.encode(images.portrait_array(), "WEBP")), "cut.webp",
                              "image/webp", "corrupt_image"),
    "png_bomb_100000x100000": Hostile(images.png_bomb, "bomb.png", "image/png", "too_many_pixels"),
    "jpeg_header_42mp": Hostile(lambda: images.jpeg_claiming(7000, 6000), "big.jpg", "image/jpeg", "too_many_pixels"),
    "webp_bomb_268mp": Hostile(images.webp_claiming_16383_square, "bomb.webp", "image/webp", "too_many_pixels"),
    "png_inflating_past_its_header": Hostile(images.png_inflating_past_its_header, "small.png", "image/png",
                                             "corrupt_image"),
    "animated_gif": Hostile(lambda: images.animated("GIF"), "anim.gif", "image/gif", "unsupported_image"),
    "animated_webp": Hostile(lambda: images.animated("WEBP"), "anim.webp", "image/webp", "animated_image"),
    "animated_png": Hostile(lambda: images.animated("PNG"), "anim.png", "image/png", "animated_image"),
    "svg_named_and_typed_png": Hostile(lambda: images.SVG, "logo.png", "image/png", "unsupported_image"),
    "svg_as_svg": Hostile(lambda: images.BARE_SVG, "logo.svg", "image/svg+xml", "bad_content_type", "unsupported_image"),
    "html_named_and_typed_jpeg": Hostile(lambda: images.HTML, "photo.jpg", "image/jpeg", "unsupported_image"),
    "html_as_html": Hostile(lambda: images.HTML, "page.html", "text/html", "bad_content_type", "unsupported_image"),
    "jpeg_declared_text_html": Hostile(images.portrait_jpeg, "photo.jpg", "text/html", "bad_content_type", ""),
    "tiff": Hostile(lambda: images.encode(images.portrait_array(40, 40), "TIFF"), "scan.tif", "image/tiff",
                    "unsupported_image"),
    "over_max_upload_bytes": Hostile(_noisy_png, "big.png", "image/png", "file_too_large", status=413,
                                     small_limits=True),
}
# Cases that exist only as a declared type: an object in S3 has no declared type we read.
STORED = {name: case for name, case in HOSTILE.items() if case.stored_code != ""}


def _limits_for(case: Hostile, request) -> None:
    if case.small_limits:
        request.getfixturevalue("small_limits")


# Every form field an uploaded image may come in, with what else its route needs (URLs for the other images).
EDIT_FIELDS = {
    "remove_bg/image": ("remove_bg", "image", {}),
    "change_bg/base_image": ("change_bg", "base_image", {"ref_image_url": "https://example.com/beach.jpg"}),
    "change_bg/ref_image": ("change_bg", "ref_image", {"base_image_url": "https://example.com/cutout.png"}),
    "change_cloth/person_image": ("change_cloth", "person_image", {"top_garment_url": "https://example.com/top.jpg"}),
    "change_cloth/top_garment": ("change_cloth", "top_garment", {"person_image_url": "https://example.com/me.jpg"}),
    "change_cloth/bottom_garment": ("change_cloth", "bottom_garment",
                                    {"person_image_url": "https://example.com/me.jpg"}),
    "expand/base_image": ("expand", "base_image", {}),
    "fix/base_image": ("fix", "base_image", {}),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_combo_refuses_hostile_images_and_stores_nothing(stack, request, name):
    case = HOSTILE[name]
    _limits_for(case, request)
    response = stack.api.call("POST", "/api/v1/upscale/combo", token=stack.token, query="enhance_level=medium",
                              files={"file": (case.filename, case.make(), case.content_type)})
    assert_clear_refusal(response, case.status, case.code)
    assert_nothing_stored(stack)


# Every hostile file on each route's main image; a few of each kind on the other image fields (the same check).
_MAIN_FIELDS = ("remove_bg/image", "change_bg/base_image", "change_cloth/person_image", "expand/base_image",
                "fix/base_image")
_SOME_HOSTILE = ("truncated_png", "png_bomb_100000x100000", "svg_named_and_typed_png", "animated_webp",
                 "over_max_upload_bytes")
EDIT_CASES = [(name, where) for where in EDIT_FIELDS for name in HOSTILE
              if where in _MAIN_FIELDS or name in _SOME_HOSTILE]


@pytest.mark.parametrize("name,where", EDIT_CASES)
def test_image_edits_refuse_hostile_uploads_in_every_image_field_and_store_nothing(stack, request, name, where):
    case = HOSTILE[name]
    _limits_for(case, request)
    operation, field, others = EDIT_FIELDS[where]
    response = stack.api.call("POST", f"/{operation}", token=stack.token, form=others,
                              files={field: (case.filename, case.make(), case.content_type)})
    body = assert_clear_refusal(response, case.status, case.code)
    if case.status == 400 and case.code != "bad_content_type":  # that one is refused while the body is read
        assert body["error"].startswith(field), body  # says which upload it was
    assert_nothing_stored(stack)


# -- images that arrive in S3: direct uploads, the batch inbox, objects the worker reads -------------------------

def _s3_event(key: str, size: int) -> dict:
    bucket = get_settings().bucket
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-21T08:00:00.000Z",
        "eventName": "ObjectCreated:Post",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": key.replace(" ", "+"), "size": size, "sequencer": uuid.uuid4().hex[:18].upper()}},
    }]}


def _put(key: str, data: bytes, content_type: str = "image/png") -> None:
    aws.client("s3").put_object(Bucket=get_settings().bucket, Key=key, Body=data, ContentType=content_type)


def _ingest(key: str, size: int) -> str | None:
    (task_id,) = ingest_handler()(_s3_event(key, size), LambdaContext("ingest"))["tasks"]
    return task_id


def _assert_failed_with_nothing_processed(task_id: str, code: str, name_in_reason: str) -> None:
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == code, job
    assert name_in_reason in job["error_message"] and len(job["error_message"]) <= 1000
    assert _objects("results/") == [] and _objects("uploads/") == []
    assert [_messages(q) for q in _queues()] == [0, 0]


@pytest.mark.parametrize("name", list(STORED))
def test_a_hostile_direct_upload_fails_its_job_with_the_reason_and_stores_nothing(stack, request, name):
    case = STORED[name]
    _limits_for(case, request)
    answer = stack.api.call("POST", "/api/v1/uploads", token=stack.token,
                            json_body={"operation": "combo", "filename": "holiday.png", "content_type": "image/png"})
    assert answer.status == 201, answer.body
    task_id, key = answer.json()["task_id"], answer.json()["upload"]["fields"]["key"]
    data = case.make()
    _put(key, data, case.content_type)  # the policy lets any image/* type through; the bytes decide
    assert _ingest(key, len(data)) == task_id
    _assert_failed_with_nothing_processed(task_id, case.stored_code or case.code, "holiday.png")
    assert _objects("incoming/") == []  # the landing copy is gone too
    view = stack.api.call("GET", f"/api/v1/jobs/{task_id}", token=stack.token).json()
    assert view["status"] == "failed" and view["error"]["code"] == (case.stored_code or case.code)


@pytest.mark.parametrize("name", list(STORED))
def test_a_hostile_image_in_the_inbox_fails_its_job_with_the_reason_and_makes_no_result(stack, request, name):
    case = STORED[name]
    _limits_for(case, request)
    key = f"inbox/combo/hostile/{case.filename}"
    data = case.make()
    _put(key, data, case.content_type)
    task_id = _ingest(key, len(data))
    _assert_failed_with_nothing_processed(task_id, case.stored_code or case.code, key)
    assert _objects() == [key]  # the inbox object is the sender's; nothing else was written


@pytest.mark.parametrize("name", list(STORED))
def test_the_worker_refuses_a_hostile_object_put_in_place_of_a_checked_input(stack, request, name):
    """Defence in depth: whatever is in the bucket under a job's input key is checked again when it is read."""
    case = STORED[name]
    _limits_for(case, request)
    response = stack.api.call("POST", "/api/v1/upscale/combo", token=stack.token,
                              files={"file": ("ok.jpg", images.portrait_jpeg(40, 50), "image/jpeg")})
    assert response.status == 202, response.body
    task_id = response.json()["task_id"]
    _put(lifecycle.get_job(task_id)["input_key"], case.make())  # replaced behind the API's back
    assert deliver(get_settings().image_queue_url) == {"batchItemFailures": []}  # no retry: it can never work
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == (case.stored_code or case.code), job
    assert _objects("results/") == [] and _messages(get_settings().image_queue_url) == 0


def test_the_worker_reads_no_more_than_the_upload_limit_of_an_object(stack, small_limits, monkeypatch):
    """An object far over the limit is refused from its length, not read into memory first."""
    from botocore.response import StreamingBody

    response = stack.api.call("POST", "/api/v1/upscale/combo", token=stack.token,
                              files={"file": ("ok.jpg", images.portrait_jpeg(40, 50), "image/jpeg")})
    task_id = response.json()["task_id"]
    _put(lifecycle.get_job(task_id)["input_key"], b"\xff" * (3 * MB))
    reads = []
    real_read = StreamingBody.read
    monkeypatch.setattr(StreamingBody, "read", lambda self, amt=None: reads.append(amt) or real_read(self, amt))
    deliver(get_settings().image_queue_url)
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "file_too_large" and str(3 * MB) in job["error_message"]
    assert reads == []


# -- file names: never part of a key beyond a safe base name ----------------------------------------------------

NAMES = {
    "traversal": "../../etc/passwd.png",
    "windows_path": "C:\\Users\\me\\..\\..\\evil.png",
    "nul": "a\x00b.png",
    "very_long": "x" * 1000 + ".png",
    "rtl_override": "\u202egnp.exe",
    "unicode": "фото 1 🙂.png",
    "dots_only": "..",
    "newline_and_quotes": 'a"\r\nContent-Type: text/html\r\n.png',
}
SAFE_KEY_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def _multipart(fields: list[tuple[str, bytes, str | None, str | None]]) -> tuple[bytes, str]:
    """A multipart body written by hand, so a file name can hold any character (urllib3 would escape some)."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, data, filename, ctype in fields:
        disposition = f'form-data; name="{name}"'.encode()
        if filename is not None:
            disposition += b'; filename="' + filename.replace('"', "%22").encode("utf-8") + b'"'
        body += b"--" + boundary.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n"
        if ctype:
            body += f"Content-Type: {ctype}\r\n".encode()
        body += b"\r\n" + data + b"\r\n"
    return body + b"--" + boundary.encode() + b"--\r\n", f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("name", list(NAMES))
def test_a_combo_file_name_never_reaches_a_key(stack, name):
    body, ctype = _multipart([("file", images.portrait_jpeg(40, 50), NAMES[name].replace("\r\n", " "), "image/jpeg")])
    response = stack.api.call("POST", "/api/v1/upscale/combo", token=stack.token, body=body,
                              headers={"content-type": ctype})
    assert response.status == 202, response.body
    task_id = response.json()["task_id"]
    assert _objects() == [f"uploads/alice/{task_id}/input.jpg"]
    assert len(lifecycle.get_job(task_id)["params"]["filename"]) <= 255


@pytest.mark.parametrize("name", list(NAMES))
def test_an_image_edit_upload_name_never_reaches_a_key(stack, name):
    body, ctype = _multipart([("base_image", images.portrait_jpeg(40, 50), NAMES[name].replace("\r\n", " "), "image/jpeg"),
                              ("engine", b"local", None, None)])
    response = stack.api.call("POST", "/fix", token=stack.token, body=body, headers={"content-type": ctype})
    assert response.status == 202, response.body
    assert _objects() == [f"uploads/alice/{response.json()['task_id']}/input.jpg"]


@pytest.mark.parametrize("name", list(NAMES))
def test_a_direct_upload_file_name_becomes_a_safe_base_name_under_the_owners_prefix(stack, name):
    response = stack.api.call("POST", "/api/v1/uploads", token=stack.token,
                              json_body={"operation": "remove_bg", "filename": NAMES[name], "content_type": "image/png"})
    assert response.status == 201, response.body
    task_id, key = response.json()["task_id"], response.json()["upload"]["fields"]["key"]
    prefix = f"incoming/alice/{task_id}/"
    name_in_key = key[len(prefix):]
    assert key.startswith(prefix) and SAFE_KEY_NAME.fullmatch(name_in_key) and name_in_key not in (".", ".."), key
    assert lifecycle.get_job(task_id)["params"]["filename"] == NAMES[name][:255]  # kept as given, for the client


def test_a_multipart_file_name_in_rfc_5987_form_is_read(stack):
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8\'\'%D1%84%D0%BE%D1%82%D0%BE.jpg\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + images.portrait_jpeg(40, 50) + b"\r\n--b--\r\n")
    response = stack.api.call("POST", "/api/v1/upscale/combo", token=stack.token, body=body,
                              headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status == 202, response.body
    assert lifecycle.get_job(response.json()["task_id"])["params"]["filename"] == "фото.jpg"


@pytest.mark.parametrize("relative,accepted", [
    ("combo/../../uploads/alice/x/input.jpg", False),
    ("combo/./a.jpg", False),
    ("combo//a.jpg", False),
    ("combo/a\x01b.jpg", False),
    ("combo/каталог/фото 1.jpg", True),
])
def test_inbox_keys_that_would_mirror_outside_results_fail_their_job(stack, relative, accepted):
    key = "inbox/" + relative
    data = images.portrait_jpeg(40, 50)
    _put(key, data, "image/jpeg")
    job = lifecycle.get_job(_ingest(key, len(data)))
    if accepted:
        assert job["status"] == "pending" and job["output_prefix"] == "results/" + relative.rsplit(".", 1)[0]
    else:
        assert job["status"] == "failed" and job["error_code"] == "bad_key", job
        assert _messages(get_settings().image_queue_url) == 0


def test_an_inbox_folder_marker_is_no_job(stack):
    _put("inbox/combo/catalogue/", b"", "application/x-directory")
    assert _ingest("inbox/combo/catalogue/", 0) is None
    assert _rows(get_settings().jobs_table) == []


# -- bodies: malformed, huge, deep, non-finite ------------------------------------------------------------------

JSON_ROUTES = ["/api/v1/configs", "/api/v1/uploads", "/remove_bg", "/change_bg", "/change_cloth", "/expand", "/fix",
               "/api/v1/upscale/combo", "/api/v1/login"]
BAD_BODIES = {
    "truncated": (b'{"image_url": "https://example.com/a.png"', 400),
    "not_json": (b"image_url=https://example.com/a.png", 400),
    "an_array": (b'["https://example.com/a.png"]', 400),
    "a_string": (b'"hello"', 400),
    "nan": (b'{"n": NaN, "size": NaN, "alpha_matting_erode_size": NaN}', 400),
    "infinity": (b'{"n": Infinity, "size": -Infinity, "alpha_matting_erode_size": Infinity}', 400),
    "1e999": (b'{"n": 1e999, "size": 1e999, "alpha_matting_erode_size": 1e999}', 400),
    "a_400_digit_integer": (b'{"n": ' + b"9" * 400 + b', "size": ' + b"9" * 400 + b"}", 400),
    "nested_100000_deep": (b"[" * 100_000 + b"]" * 100_000, 400),
    "nested_40_deep_in_an_object": (b'{"config": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}", 400),
    "two_megabytes": (json.dumps({"prompt": "x" * 2 * MB}).encode(), 413),
}


@pytest.mark.parametrize("body", list(BAD_BODIES))
@pytest.mark.parametrize("route", JSON_ROUTES)
def test_malformed_and_huge_json_bodies_are_refused_and_store_nothing(stack, route, body):
    data, status = BAD_BODIES[body]
    response = stack.api.call("POST", route, token=stack.token, body=data, headers={"content-type": "application/json"})
    assert_clear_refusal(response, status)
    assert_nothing_stored(stack)


def test_json_that_is_not_utf8_is_refused(stack):
    event = http_event("POST", "/api/v1/configs", route_key="POST /api/v1/configs",
                       headers={"authorization": f"Bearer {stack.token}", "content-type": "application/octet-stream"},
                       body=b'{"name": "\xff\xfe"}')
    event["headers"]["content-type"] = "application/json"  # as API Gateway hands over a body it could not read as text
    result = stack.api.gateway.pools["ConfigsFunction"](event, LambdaContext("ConfigsFunction"))
    assert result["statusCode"] == 400 and json.loads(result["body"])["code"]
    assert_nothing_stored(stack)


@pytest.mark.parametrize("ctype,body", [
    ("text/plain", b'{"image_url": "https://example.com/a.png"}'),
    ("application/xml", b"<image_url>https://example.com/a.png</image_url>"),
    ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=\"image_url\"\r\n\r\nhttps://e.com/a.png\r\n--x--"),
    ("multipart/form-data; boundary=y", b"--x\r\nbroken"),
    ("application/json", b"--x\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n..."),
])
@pytest.mark.parametrize("route", ["/remove_bg", "/api/v1/upscale/combo"])
def test_a_body_of_the_wrong_content_type_is_refused(stack, route, ctype, body):
    response = stack.api.call("POST", route, token=stack.token, body=body, headers={"content-type": ctype})
    assert_clear_refusal(response, 400)
    assert_nothing_stored(stack)


# -- parameters: wrong types and out-of-range values, field by field ---------------------------------------------

NUMBERS = ["many", "NaN", "Infinity", "-Infinity", "1e999", True, [], [2], {}, {"value": 2}, 10**15, -10**15]
STRINGS = [5, 1.5, True, [], ["x"], {}, {"a": 1}]
URLS = [*STRINGS, "ftp://example.com/a.png", "javascript:alert(1)", "file:///etc/passwd", "http://", "a.png",
        "https://" + "a" * 2100 + ".com/x.png", "\x00"]
BOOLEANS = [5, "maybe", [], {}, [True]]

# (route, base body, field, invalid values)
_EDIT = {"remove_bg": {"image_url": "https://example.com/a.png"},
         "change_bg": {"base_image_url": "https://example.com/a.png", "ref_image_url": "https://example.com/b.jpg"},
         "change_cloth": {"person_image_url": "https://example.com/p.jpg", "top_garment_url": "https://example.com/t.jpg"},
         "expand": {"base_image_url": "https://example.com/a.jpg"},
         "fix": {"base_image_url": "https://example.com/a.jpg"}}
# Each kind of value is tried in full on one field of its kind; the other fields of that kind (read by the same
# code) get a few of each, and their own range's edges.
NOT_TEXT = [5, True, []]
NOT_NUMBERS = ["many", True, []]
PARAMETERS = [
    ("/fix", _EDIT["fix"], "base_image_url", URLS),
    *[(f"/{op}", _EDIT[op], field, [*NOT_TEXT, "ftp://example.com/a.png", "javascript:alert(1)"])
      for op in _EDIT for field in _EDIT[op] if (op, field) != ("fix", "base_image_url")],
    ("/change_bg", _EDIT["change_bg"], "n", [*NUMBERS, 0, 5, 1.5, -1]),
    ("/change_bg", _EDIT["change_bg"], "ref_prompt", [*STRINGS, "p" * 801]),
    ("/expand", _EDIT["expand"], "n", [*NOT_NUMBERS, 0, 5, 2.5]),
    ("/expand", _EDIT["expand"], "top_scale", [*NUMBERS, 0, 0.99, 2.01, -1.5]),
    *[("/expand", _EDIT["expand"], f"{side}_scale", [*NOT_NUMBERS, "NaN", 0.99, 2.01]) for side in ("bottom", "left", "right")],
    ("/expand", _EDIT["expand"], "prompt", [*NOT_TEXT, {"a": 1}, "p" * 801]),
    ("/fix", _EDIT["fix"], "upscale_factor", [*NOT_NUMBERS, "Infinity", 0, 5, 1.5]),
    ("/fix", _EDIT["fix"], "prompt", [*NOT_TEXT, "p" * 801]),
    ("/change_bg", _EDIT["change_bg"], "engine", [*STRINGS, "gpu", "LOCAL "]),
    ("/remove_bg", _EDIT["remove_bg"], "engine", [*NOT_TEXT, "dashscope", "gpu"]),
    ("/fix", _EDIT["fix"], "wait", [*NUMBERS, 26, -1]),
    ("/remove_bg", _EDIT["remove_bg"], "format", [*STRINGS, "gif", "svg"]),
    ("/remove_bg", _EDIT["remove_bg"], "config_id", [*STRINGS, "../../etc/passwd", "x" * 3000]),
    ("/remove_bg", _EDIT["remove_bg"], "config", [5, "x", [], [{"model": "u2net"}], {"model": "evil"},
                                                  {"alpha_matting_erode_size": 41}, {"unknown": 1}]),
    ("/api/v1/uploads", {"operation": "combo", "content_type": "image/png"}, "operation",
     [*STRINGS, "sharpen", "change_cloth"]),
    ("/api/v1/uploads", {"operation": "combo", "content_type": "image/png"}, "params", [5, "x", ["strong"], [{"enhance_level": "strong"}]]),
    ("/api/v1/uploads", {"operation": "combo", "content_type": "image/png"}, "content_type",
     [*[v for v in STRINGS if v not in ([], {})], "text/html", "image/svg+xml", "image/gif"]),
    ("/api/v1/uploads", {"operation": "combo", "content_type": "image/png"}, "size",
     [*NOT_NUMBERS, "NaN", "1e999", 0, -1, 1.5, 10 * MB + 1]),
    *[("/api/v1/configs", {}, field, [*NOT_NUMBERS, "Infinity", -1, 256, 1.5])
      for field in ("alpha_matting_foreground_threshold", "alpha_matting_background_threshold")],
    ("/api/v1/configs", {}, "alpha_matting_erode_size", [*NUMBERS, -1, 41, 1.5]),
    *[("/api/v1/configs", {}, field, BOOLEANS) for field in ("alpha_matting", "post_process_mask")],
    ("/api/v1/configs", {}, "model", [*STRINGS, "u2net_evil", "../u2net"]),
    ("/api/v1/configs", {}, "name", [*[v for v in STRINGS if v not in ([], {})], "n" * 101]),
    ("/api/v1/configs", {}, "bgcolor", [5, True, {}, "red", "#12345", "#1234567", [1, 2], [256, 0, 0], [-1, 0, 0],
                                         [1.5, 2, 3], [True, 0, 0], [1, 2, 3, 4, 5]]),
]
_UPLOAD_PARAMS = ("enhance_level", [*STRINGS, "extreme", "x" * 5000]), ("format", [*STRINGS, "gif"]), \
    ("config_id", [*STRINGS, "x" * 3000]), ("config", [5, "x", [1], {"model": "evil"}])
PARAMETERS += [("/api/v1/uploads", {"operation": "combo", "content_type": "image/png"}, f"params.{field}", values)
               for field, values in _UPLOAD_PARAMS]


def _parameter_cases():
    for route, base, field, values in PARAMETERS:
        for index, value in enumerate(values):
            shown = re.sub(r"[^A-Za-z0-9_.:#/-]+", "_", repr(value))[:24]
            yield pytest.param(route, base, field, value, id=f"{route.strip('/').replace('/', '_')}-{field}-{index}-{shown}")


@pytest.mark.parametrize("route,base,field,value", list(_parameter_cases()))
def test_a_wrong_type_or_out_of_range_parameter_is_a_clear_400_and_stores_nothing(stack, route, base, field, value):
    body = json.loads(json.dumps(base))
    if field.startswith("params."):
        body["params"] = {field.split(".", 1)[1]: value}
    else:
        body[field] = value
    response = stack.api.call("POST", route, token=stack.token, json_body=body)
    assert_clear_refusal(response)
    assert_nothing_stored(stack)


COMBO_FORM_VALUES = {"enhance_level": ["extreme", "x" * 5000, "MEDIUM", "\x00"], "format": ["gif", "svg", "PNG "],
                     "config_id": ["x" * 3000, "../../etc/passwd", "\x00"]}


@pytest.mark.parametrize("field,value", [(f, v) for f, values in COMBO_FORM_VALUES.items() for v in values],
                         ids=lambda v: re.sub(r"[^A-Za-z0-9_]+", "_", str(v))[:20])
@pytest.mark.parametrize("where", ["query", "form"])
def test_combo_parameters_out_of_their_range_are_refused(stack, where, field, value):
    from urllib.parse import urlencode

    files = {"file": ("p.jpg", images.portrait_jpeg(40, 50), "image/jpeg")}
    if where == "query":
        response = stack.api.call("POST", "/api/v1/upscale/combo", token=stack.token, query=urlencode({field: value}),
                                  files=files)
    else:
        response = stack.api.call("POST", "/api/v1/upscale/combo", token=stack.token, form={field: value}, files=files)
    assert_clear_refusal(response)
    assert_nothing_stored(stack)


@pytest.mark.parametrize("value", ["x" * 3000, "..%2F..%2Fetc%2Fpasswd", "%00", "a" * 65])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_config_id_that_is_no_id_of_ours_is_a_4xx_without_a_lookup(stack, monkeypatch, method, value):
    """DynamoDB refuses keys over 2048 bytes with an error: such an id must never reach it."""
    from imgapi.jobs import removal_configs

    looked_up = []
    real_table = removal_configs._table

    class Table:
        def __getattr__(self, name):
            return getattr(real_table(), name)

        def get_item(self, **kwargs):
            looked_up.append(kwargs["Key"]["config_id"])
            return real_table().get_item(**kwargs)

    monkeypatch.setattr(removal_configs, "_table", Table)
    response = stack.api.call(method, f"/api/v1/configs/{value}", token=stack.token)
    assert_clear_refusal(response)
    assert looked_up == []  # refused by the route's UUID check before any lookup


# -- unusual but valid images: accepted, and processed upright and in the right colours ---------------------------

ACCEPTED = {
    "cmyk_jpeg": (images.cmyk_jpeg, "image/jpeg"),
    "grey_png": (images.grey_png, "image/png"),
    "grey_16bit_png": (images.grey_16bit_png, "image/png"),
    "rgba_16bit_png": (images.rgba_16bit_png, "image/png"),
    "grey_alpha_png": (images.grey_alpha_png, "image/png"),
    "palette_png": (images.palette_png, "image/png"),
    "palette_png_with_transparency": (lambda: images.palette_png(transparent=True), "image/png"),
    "exif_orientation_6": (lambda: images.exif_rotated_jpeg(6), "image/jpeg"),
    "exif_orientation_8": (lambda: images.exif_rotated_jpeg(8), "image/jpeg"),
}
# What each decodes to, upright (width 60, height 80), as an RGBA array: the reference the results are held to.
TRANSPARENT_TOP = {"rgba_16bit_png", "grey_alpha_png", "palette_png_with_transparency"}


def _expected_rgb(name: str) -> np.ndarray:
    data = ACCEPTED[name][0]()
    if name.startswith("exif"):
        return images.upright_test_card()
    if name == "grey_16bit_png":
        return np.asarray(Image.fromarray(images.portrait_array(60, 80)).convert("L").convert("RGB"))
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))[..., :3]


def _run(stack, route: str, name: str) -> np.ndarray:
    make, ctype = ACCEPTED[name]
    if route == "combo":
        response = stack.api.call("POST", "/api/v1/upscale/combo", token=stack.token, query="enhance_level=light",
                                  files={"file": (f"{name}.img", make(), ctype)})
    else:
        response = stack.api.call("POST", "/remove_bg", token=stack.token,
                                  files={"image": (f"{name}.img", make(), ctype)})
    assert response.status == 202, response.body
    task_id = response.json()["task_id"]
    assert deliver(get_settings().image_queue_url) == {"batchItemFailures": []}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed", job.get("error_message")
    (result,) = job["results"]
    data = aws.client("s3").get_object(Bucket=get_settings().bucket, Key=result["key"])["Body"].read()
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "RGBA"
    assert (result["width"], result["height"]) == image.size
    return np.asarray(image)


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_remove_bg_processes_every_colour_mode_upright_at_its_size(stack, name):
    rgba = _run(stack, "remove_bg", name)
    assert rgba.shape == (80, 60, 4)  # upright: EXIF-rotated inputs are stored 80 wide, 60 high
    # Where the result shows the subject, it has the input's own colours: exactly, but for JPEG's own error at the
    # test card's bands, and for the colour under an input's own soft alpha (mixed with its neighbours' a little,
    # so no hidden colour seeps into the edge).
    own_alpha = name in TRANSPARENT_TOP
    shown = rgba[..., 3] >= (0.9 * rgba[..., 3].max() if own_alpha else 1)
    assert shown.sum() > 100
    difference = np.abs(rgba[..., :3].astype(int) - _expected_rgb(name).astype(int))[shown]
    tolerance = 40 if name.startswith("exif") else 8 if own_alpha else 0
    assert np.percentile(difference, 95) <= tolerance
    if name in TRANSPARENT_TOP:
        assert (rgba[:20, :, 3] == 0).all()  # what was transparent stays transparent
    if name.startswith("exif"):
        assert rgba[2, 30, 3] > 0 and rgba[2, 30, 0] > 200  # the red band (very much subject) is on top


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_combo_processes_every_colour_mode_upright_at_twice_its_size(stack, name):
    rgba = _run(stack, "combo", name)
    width, height = output_size(60, 80, LEVELS["light"].scale, get_settings().max_output_edge)
    assert rgba.shape == (height, width, 4) == (160, 120, 4)
    if name in TRANSPARENT_TOP:
        assert (rgba[:36, :, 3] == 0).all()


@pytest.mark.parametrize("orientation", [6, 8])
def test_the_local_fix_sees_an_exif_rotated_photo_upright(stack, orientation):
    """fix keeps colours, so which way is up is visible: the red band on top, the green one at the bottom."""
    response = stack.api.call("POST", "/fix", token=stack.token, form={"engine": "local"},
                              files={"base_image": ("turned.jpg", images.exif_rotated_jpeg(orientation), "image/jpeg")})
    assert response.status == 202, response.body
    deliver(get_settings().image_queue_url)
    job = lifecycle.get_job(response.json()["task_id"])
    assert job["status"] == "completed", job.get("error_message")
    assert job["input"]["width"] == 60 and job["input"]["height"] == 80  # described upright at submit too
    data = aws.client("s3").get_object(Bucket=get_settings().bucket, Key=job["results"][0]["key"])["Body"].read()
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert pixels.shape == (80, 60, 3)
    assert (np.abs(pixels[3, 10:-10] - (255, 0, 0)) < 50).all() and (np.abs(pixels[-4, 10:-10] - (0, 255, 0)) < 50).all()


def test_an_accepted_upload_is_stored_under_the_type_its_bytes_are_whatever_was_declared(stack):
    """A PNG sent as image/jpeg: the bytes decide what is stored (and nothing trusts the declared type)."""
    response = stack.api.call("POST", "/api/v1/upscale/combo", token=stack.token,
                              files={"file": ("photo.jpg", images.portrait_png(40, 50), "image/jpeg")})
    assert response.status == 202, response.body
    (key,) = _objects()
    assert key.endswith("/input.png")
    head = aws.client("s3").head_object(Bucket=get_settings().bucket, Key=key)
    assert head["ContentType"] == "image/png"


def test_an_octet_stream_upload_as_python_clients_send_it_is_accepted(stack):
    body, ctype = _multipart([("file", images.portrait_jpeg(40, 50), "p.jpg", None)])
    response = stack.api.call("POST", "/api/v1/upscale/combo", token=stack.token, body=body,
                              headers={"content-type": ctype})
    assert response.status == 202, response.body

