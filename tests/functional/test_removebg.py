"""POST /v1.0/removebg and GET /v1.0/account over the handler: remove.bg's answers, headers, errors and quotas."""
from __future__ import annotations

import base64
import io
import zipfile

import pytest
from PIL import Image

from tests.support.images import portrait_png

PNG = portrait_png(80, 100)


def _post(api, token=None, *, accept=None, files=None, form=None, json_body=None, headers=None):
    headers = dict(headers or {})
    if accept:
        headers["accept"] = accept
    return api.call("POST", "/v1.0/removebg", token=token, files=files, form=form, json_body=json_body, headers=headers)


def test_a_file_gives_the_image_and_remove_bgs_headers(api, alice):
    answer = _post(api, alice, files={"image_file": ("a.png", PNG, "image/png")}, form={"size": "full"})
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(answer.body))
    assert image.size == (80, 100) and image.mode == "RGBA"
    for name in ("x-width", "x-height", "x-credits-charged", "x-foreground-top", "x-foreground-left",
                 "x-foreground-width", "x-foreground-height", "x-ratelimit-limit", "x-ratelimit-remaining",
                 "x-ratelimit-reset", "x-type"):
        assert name in answer.headers, name
    assert answer.headers["x-width"] == "80" and answer.headers["x-type"] == "other"


def test_json_accept_gives_result_b64_and_the_foreground(api, alice):
    b64 = base64.b64encode(PNG).decode()
    answer = _post(api, alice, accept="application/json", json_body={"image_file_b64": b64, "format": "jpg",
                                                                     "bg_color": "green", "crop": True})
    assert answer.status == 200 and answer.headers["content-type"].startswith("application/json")
    data = answer.json()["data"]
    image = Image.open(io.BytesIO(base64.b64decode(data["result_b64"])))
    assert image.format == "JPEG"
    assert (data["foreground_width"], data["foreground_height"]) == image.size  # cropped to the subject


def test_zip_holds_color_jpg_and_alpha_png(api, alice):
    answer = _post(api, alice, files={"image_file": ("a.png", PNG, "image/png")}, form={"format": "zip"})
    assert answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.body))
    assert archive.namelist() == ["color.jpg", "alpha.png"]
    assert Image.open(archive.open("alpha.png")).mode == "L"
    assert Image.open(archive.open("color.jpg")).format == "JPEG"


def test_channels_alpha_and_size_preview(api, alice):
    big = portrait_png(800, 1000)
    answer = _post(api, alice, files={"image_file": ("a.png", big, "image/png")},
                   form={"channels": "alpha", "size": "preview"})
    image = Image.open(io.BytesIO(answer.body))
    assert image.mode == "L" and image.size[0] * image.size[1] <= 250_000


@pytest.mark.parametrize("form, code", [
    ({"size": "preview", "image_url": ""}, "missing_source"),
    ({"image_url": "https://example.com/a.png", "image_file_b64": "aGk="}, "multiple_sources"),
    ({"image_file_b64": base64.b64encode(PNG).decode(), "format": "gif"}, "invalid_format"),
    ({"image_file_b64": base64.b64encode(PNG).decode(), "size": "huge"}, "invalid_size"),
    ({"image_file_b64": base64.b64encode(PNG).decode(), "bg_color": "fff", "bg_image_url": "https://e.com/a"},
     "multiple_bg_sources"),
    ({"image_file_b64": base64.b64encode(b"not an image").decode()}, "failed_to_read_image"),
    ({"image_url": "ftp://example.com/a.png"}, "invalid_image_url"),
])
def test_bad_input_is_400_in_remove_bgs_shape(api, alice, form, code):
    answer = _post(api, alice, form=form)
    assert answer.status == 400
    error = answer.json()["errors"][0]
    assert error["code"] == code and error["title"]


def test_a_missing_or_bad_key_is_403_auth_failed(api, stack):
    missing = _post(api, form={"image_file_b64": "aGk="})
    assert missing.status == 403 and missing.json()["errors"][0] == {"title": "Missing API Key", "code": "auth_failed"}
    bad = _post(api, headers={"x-api-key": "imgapi_" + "x" * 43}, form={"image_file_b64": "aGk="})
    assert bad.status == 403 and bad.json()["errors"][0]["title"] == "API Key invalid"
    assert api.call("GET", "/v1.0/account", headers={"X-API-Key": "nope"}).status == 403


def test_an_api_key_works_and_account_agrees_with_the_usage(api, alice, monkeypatch):
    monkeypatch.setenv("JOBS_PER_DAY", "3")
    from imgapi.core.settings import get_settings
    get_settings.cache_clear()
    key = api.call("POST", "/api/v1/api-keys", token=alice, json_body={"name": "rb"}).json()["key"]
    account = api.call("GET", "/v1.0/account", headers={"x-api-key": key}).json()
    assert account == {"data": {"attributes": {"credits": {"total": 3.0, "subscription": 3.0, "payg": 0.0,
                                                             "enterprise": 0.0},
                                                 "api": {"free_calls": 3, "sizes": "all"}}}}
    assert _post(api, headers={"x-api-key": key}, files={"image_file": ("a.png", PNG, "image/png")}).status == 200
    assert _post(api, alice, form={"format": "gif", "image_file_b64": "aGk="}).status == 400  # refused: not charged
    left = api.call("GET", "/v1.0/account", token=alice).json()["data"]["attributes"]
    assert left["credits"]["total"] == 2.0 and left["api"]["free_calls"] == 2
    for _ in range(2):
        assert _post(api, alice, files={"image_file": ("a.png", PNG, "image/png")}).status == 200
    spent = _post(api, alice, files={"image_file": ("a.png", PNG, "image/png")})
    assert spent.status == 402 and spent.json()["errors"][0]["title"] == "Insufficient credits"


def test_the_rate_limit_is_429_with_retry_after(api, alice, monkeypatch):
    monkeypatch.setenv("SUBMITS_PER_MINUTE", "1")
    from imgapi.core.settings import get_settings
    get_settings.cache_clear()
    first = _post(api, alice, files={"image_file": ("a.png", PNG, "image/png")})
    assert first.status == 200 and first.headers["x-ratelimit-remaining"] == "0"
    second = _post(api, alice, files={"image_file": ("a.png", PNG, "image/png")})
    assert second.status == 429 and int(second.headers["retry-after"]) >= 1
    assert second.json()["errors"][0]["title"] == "Rate limit exceeded"
