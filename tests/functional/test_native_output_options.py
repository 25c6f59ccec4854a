"""The native remove_bg and combo take remove.bg's output choices (format png/jpg/webp, crop and crop_margin,
channels=alpha, bg_color), documented in OpenAPI, rendered by the same code as POST /v1.0/removebg: the same input
and options give the same pixels through both APIs. The input's ICC profile is kept through the options, and a
remove.bg result over the response limit is made smaller without cutting the image out again."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from imgapi.api import removebg
from imgapi.api.openapi import document
from imgapi.core.settings import get_settings
from imgapi.engine import cutout
from imgapi.jobs import lifecycle
from imgapi.core import storage
from tests.support.http_server import ScriptedServer
from tests.support.images import portrait_array, portrait_png
from tests.support.worker import deliver

PNG = portrait_png(120, 160)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _native_result(api, token, operation: str, fields: dict, data: bytes = PNG) -> Image.Image:
    if operation == "remove_bg":
        answer = api.call("POST", "/remove_bg", token=token, files={"image": ("a.png", data, "image/png")},
                          form=fields)
    else:
        answer = api.call("POST", "/api/v1/upscale/combo", token=token, files={"file": ("a.png", data, "image/png")},
                          form={"enhance_level": "light", **fields})
    assert answer.status == 202, answer.body
    assert deliver(get_settings().image_queue_url) == {"batchItemFailures": []}
    job = lifecycle.get_job(answer.json()["task_id"])
    assert job["status"] == "completed", job
    image = Image.open(io.BytesIO(storage.get_object(job["results"][0]["key"])))
    image.load()
    return image


def _removebg_result(api, token, fields: dict, data: bytes = PNG) -> Image.Image:
    answer = api.call("POST", "/v1.0/removebg", token=token, files={"image_file": ("a.png", data, "image/png")},
                      form={"size": "full", **fields})
    assert answer.status == 200, answer.body[:300]
    return Image.open(io.BytesIO(answer.body))


@pytest.mark.parametrize("fields", [
    {"format": "jpg", "crop": "true", "crop_margin": "5px 10%", "bg_color": "green"},
    {"format": "png", "channels": "alpha"},
    {"format": "webp", "crop": "true", "bg_color": "81d4fa77"},
])
def test_native_remove_bg_renders_as_the_remove_bg_route_does(api, alice, fields):
    native = _native_result(api, alice, "remove_bg", fields)
    compatible = _removebg_result(api, alice, fields)
    assert native.format == compatible.format and native.mode == compatible.mode
    assert native.size == compatible.size
    assert np.array_equal(np.asarray(native), np.asarray(compatible))


def test_native_combo_takes_the_options_too(api, alice):
    matte = _native_result(api, alice, "combo", {"channels": "alpha"})
    assert matte.mode == "L" and matte.size == (240, 320)  # light: twice the size, the matte alone
    cropped = _native_result(api, alice, "combo", {"crop": "true", "format": "jpg", "bg_color": "fff"})
    assert cropped.format == "JPEG" and cropped.size[0] < 240


def test_without_options_the_native_result_is_as_before(api, alice):
    image = _native_result(api, alice, "remove_bg", {})
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (120, 160)


@pytest.mark.parametrize("fields, name", [({"crop_margin": "60%"}, "crop_margin"), ({"bg_color": "nope"}, "bg_color"),
                                          ({"channels": "rgb"}, "channels"), ({"format": "zip"}, "format")])
def test_native_refusals_name_the_option(api, alice, fields, name):
    answer = api.call("POST", "/remove_bg", token=alice, files={"image": ("a.png", PNG, "image/png")}, form=fields)
    assert answer.status == 400 and name in answer.json()["error"], answer.body


def test_openapi_documents_the_native_options():
    paths = document()["paths"]
    for path, media in (("/remove_bg", "application/json"), ("/api/v1/upscale/combo", "multipart/form-data")):
        properties = paths[path]["post"]["requestBody"]["content"][media]["schema"]["properties"]
        assert {"crop", "crop_margin", "channels", "bg_color", "format"} <= set(properties), path
        assert {"png", "jpg", "webp"} <= set(properties["format"]["enum"])
        assert properties["channels"]["enum"] == ["rgba", "alpha"]


def _with_profile(data: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buffer, "PNG", icc_profile=SRGB)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp", "zip"])
def test_the_input_icc_profile_is_kept_through_the_options(api, alice, fmt):
    answer = api.call("POST", "/v1.0/removebg", token=alice, files={
        "image_file": ("a.png", _with_profile(PNG), "image/png")}, form={"format": fmt, "crop": "true"})
    assert answer.status == 200
    if fmt == "zip":
        import zipfile
        colour = zipfile.ZipFile(io.BytesIO(answer.body)).read("color.jpg")
        assert Image.open(io.BytesIO(colour)).info.get("icc_profile") == SRGB
    else:
        assert Image.open(io.BytesIO(answer.body)).info.get("icc_profile") == SRGB
    native = _native_result(api, alice, "remove_bg", {"format": "jpg" if fmt == "zip" else fmt, "crop": "true"},
                            data=_with_profile(PNG))
    assert native.info.get("icc_profile") == SRGB


def test_a_result_over_the_response_limit_is_resampled_not_cut_out_again(api, alice, monkeypatch):
    noisy = np.random.default_rng(7).integers(0, 256, (400, 300, 3), dtype=np.uint8)
    noisy[100:300, 75:225] = portrait_array(150, 200)[..., :3]
    data = io.BytesIO()
    Image.fromarray(noisy).save(data, "PNG")
    calls = []
    real_mask = cutout.mask_of
    monkeypatch.setattr(cutout, "mask_of", lambda *args, **kwargs: calls.append(1) or real_mask(*args, **kwargs))
    full = api.call("POST", "/v1.0/removebg", token=alice, files={"image_file": ("a.png", data.getvalue(), "image/png")},
                    form={"size": "full", "bg_color": "fff", "format": "png"})
    assert full.status == 200 and full.headers["x-width"] == "300"
    limit = len(full.body) // 3
    monkeypatch.setattr(removebg, "MAX_RESULT_BYTES", limit)
    calls.clear()
    fitted = api.call("POST", "/v1.0/removebg", token=alice, files={
        "image_file": ("a.png", data.getvalue(), "image/png")}, form={"size": "full", "bg_color": "fff", "format": "png"})
    assert fitted.status == 200 and len(fitted.body) <= limit
    image = Image.open(io.BytesIO(fitted.body))
    assert image.size == (int(fitted.headers["x-width"]), int(fitted.headers["x-height"])) and image.size[0] < 300
    assert abs(image.size[0] / image.size[1] - 0.75) < 0.02
    assert calls == [1]  # the model ran once, whatever the number of tries


def test_a_configurations_bgcolor_still_fills_the_background_with_options(api, alice, monkeypatch):
    monkeypatch.setenv("FETCH_ALLOW_PRIVATE_HOSTS", "true")
    get_settings.cache_clear()
    with ScriptedServer() as server:
        server.route("/a.png", body=PNG, content_type="image/png")
        answer = api.call("POST", "/remove_bg", token=alice, json_body={
            "image_url": server.url("/a.png"), "config": {"bgcolor": "#ff0000"}, "crop": True, "crop_margin": "10px"})
        assert answer.status == 202, answer.body
        assert deliver(get_settings().image_queue_url) == {"batchItemFailures": []}
    job = lifecycle.get_job(answer.json()["task_id"])
    assert job["status"] == "completed", job
    image = Image.open(io.BytesIO(storage.get_object(job["results"][0]["key"]))).convert("RGBA")
    assert image.getpixel((0, 0)) == (255, 0, 0, 255)  # the crop's margin: background, red
