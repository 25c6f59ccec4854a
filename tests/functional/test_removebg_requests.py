"""POST /v1.0/removebg with raw requests, one parameter at a time: every value remove.bg documents (size, type,
type_level, format incl. zip, roi, crop, crop_margin, scale, position, channels, bg_color, bg_image_url/file,
semitransparency, add_shadow), the three body kinds, Accept: application/json, the X-* headers, and every error
with its status and code (400s, 402, 403, 429 with Retry-After). Bearer tokens are accepted as keys are."""
from __future__ import annotations

import base64
import io
import zipfile
from urllib.parse import urlencode

import numpy as np
import pytest
from PIL import Image

from imgapi.core.settings import get_settings
from tests.support.http_server import ScriptedServer
from tests.support.images import encode, portrait_jpeg, portrait_png

PNG = portrait_png(120, 160)
B64 = base64.b64encode(PNG).decode()
HEADERS = ("x-type", "x-width", "x-height", "x-credits-charged", "x-foreground-top", "x-foreground-left",
           "x-foreground-width", "x-foreground-height", "x-ratelimit-limit", "x-ratelimit-remaining",
           "x-ratelimit-reset")


def _setenv(monkeypatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def _post(api, token, *, accept=None, headers=None, **fields):
    """A multipart request: image_file from `file`, the rest as fields."""
    headers = dict(headers or {})
    if accept:
        headers["accept"] = accept
    data = fields.pop("file", PNG)
    files = {"image_file": ("photo.png", data, "image/png")} if data is not None else None
    if files is None and not fields:
        fields = {"size": "preview"}
    return api.call("POST", "/v1.0/removebg", token=token, files=files, form=fields or None, headers=headers)


def _image(answer) -> Image.Image:
    assert answer.status == 200, answer.body[:400]
    image = Image.open(io.BytesIO(answer.body))
    image.load()
    return image


def _foreground(answer) -> tuple[int, int, int, int]:
    return tuple(int(answer.headers[f"x-foreground-{k}"]) for k in ("top", "left", "width", "height"))


def _error(answer, status: int, code: str) -> dict:
    assert answer.status == status, (answer.status, answer.body[:400])
    assert answer.headers["content-type"].startswith("application/json")
    [error] = answer.json()["errors"]
    assert error["code"] == code and error["title"], error
    assert set(error) <= {"title", "code", "detail"}
    return error


# -- the three body kinds, and what remove.bg's clients send around them -------------------------------------------


def test_multipart_urlencoded_and_json_bodies_all_work(api, alice):
    multipart = _image(_post(api, alice, size="full"))
    urlencoded = api.call("POST", "/v1.0/removebg", token=alice, body=urlencode({"image_file_b64": B64,
                          "size": "full"}).encode(), headers={"content-type": "application/x-www-form-urlencoded"})
    json_body = api.call("POST", "/v1.0/removebg", token=alice, json_body={"image_file_b64": B64, "size": "full"})
    assert multipart.size == _image(urlencoded).size == _image(json_body).size == (120, 160)


def test_empty_sources_and_unknown_fields_are_ignored_as_the_official_browser_sample_sends_them(api, alice):
    answer = _post(api, alice, image_url="", api_key="the-key-again", size="regular")
    assert _image(answer).size == (120, 160)


def test_a_bearer_token_and_an_api_key_both_act_as_the_user(api, alice):
    key = api.call("POST", "/api/v1/api-keys", token=alice, json_body={"name": "rb"}).json()["key"]
    assert _post(api, None, headers={"X-API-Key": key}).status == 200  # as PHP and the docs' curl spell it
    assert _post(api, None, headers={"x-api-key": key}).status == 200
    assert _post(api, alice).status == 200


# -- the answer: headers, Accept: application/json -------------------------------------------------------------


def test_every_x_header_is_sent_and_agrees_with_the_image(api, alice):
    answer = _post(api, alice, size="full", crop="true")
    image = _image(answer)
    assert all(name in answer.headers for name in HEADERS)
    assert (int(answer.headers["x-width"]), int(answer.headers["x-height"])) == image.size
    assert answer.headers["x-credits-charged"] == "1" and answer.headers["x-type"] == "other"
    top, left, width, height = _foreground(answer)
    assert (top, left, width, height) == (0, 0, *image.size)  # cropped to the subject: it fills the image
    assert int(answer.headers["x-ratelimit-remaining"]) < int(answer.headers["x-ratelimit-limit"])


def test_accept_json_answers_result_b64_and_the_foreground_as_json(api, alice):
    answer = _post(api, alice, accept="application/json", size="full")
    assert answer.status == 200 and answer.headers["content-type"] == "application/json"
    data = answer.json()["data"]
    assert set(data) == {"result_b64", "foreground_top", "foreground_left", "foreground_width", "foreground_height"}
    assert Image.open(io.BytesIO(base64.b64decode(data["result_b64"]))).size == (120, 160)
    assert (data["foreground_top"], data["foreground_left"], data["foreground_width"],
            data["foreground_height"]) == _foreground(answer)
    assert all(name in answer.headers for name in HEADERS)


# -- size, type, type_level ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size, budget", [("preview", 250_000), ("small", 250_000), ("regular", 250_000),
                                          ("medium", 1_500_000), ("hd", 4_000_000), ("full", None), ("4k", None),
                                          ("auto", None), ("50MP", None)])
def test_sizes_are_pixel_budgets(api, alice, size, budget):
    big = portrait_png(1600, 1200)  # 1.92 MP
    width, height = _image(_post(api, alice, file=big, size=size)).size
    if budget is None or budget >= 1600 * 1200:
        assert (width, height) == (1600, 1200)
    else:
        assert budget * 0.98 <= width * height <= budget and abs(width / height - 4 / 3) < 0.01


@pytest.mark.parametrize("kind, shown", [("auto", "other"), ("person", "person"), ("product", "product"),
                                         ("car", "car"), ("animal", "animal"), ("graphic", "graphics"),
                                         ("transportation", "transportation")])
def test_types_are_echoed_in_x_type(api, alice, kind, shown):
    assert _post(api, alice, type=kind).headers["x-type"] == shown


def test_type_level_none_sends_no_x_type(api, alice):
    assert "x-type" not in _post(api, alice, type_level="none").headers
    assert _post(api, alice, type_level="2").headers["x-type"] == "other"


# -- format ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, content_type, pil_format", [("png", "image/png", "PNG"), ("jpg", "image/jpeg", "JPEG"),
                                                          ("webp", "image/webp", "WEBP")])
def test_formats(api, alice, fmt, content_type, pil_format):
    answer = _post(api, alice, format=fmt)
    assert answer.headers["content-type"] == content_type and _image(answer).format == pil_format


def test_format_auto_is_png_with_transparency_else_jpg(api, alice):
    assert _image(_post(api, alice)).format == "PNG"
    assert _image(_post(api, alice, bg_color="fff")).format == "JPEG"
    assert _image(_post(api, alice, bg_color="ffffff80")).format == "PNG"  # a semi-transparent background


def test_zip_holds_color_jpg_and_alpha_png_that_compose_to_the_png(api, alice):
    answer = _post(api, alice, format="zip", size="full")
    assert answer.status == 200 and answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.body))
    assert archive.namelist() == ["color.jpg", "alpha.png"]
    colour, alpha = Image.open(archive.open("color.jpg")), Image.open(archive.open("alpha.png"))
    assert colour.format == "JPEG" and colour.mode == "RGB" and alpha.format == "PNG" and alpha.mode == "L"
    assert colour.size == alpha.size == (120, 160)
    png = _image(_post(api, alice, format="png", size="full"))
    assert np.array_equal(np.asarray(alpha), np.asarray(png.getchannel("A")))


# -- roi, crop, crop_margin, scale, position, channels ------------------------------------------------------------


def test_roi_keeps_the_foreground_inside_it(api, alice):
    image = _image(_post(api, alice, size="full", roi="0% 0% 50% 100%"))
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[:, 60:].max() == 0 and alpha[:, :60].max() == 255
    in_pixels = np.asarray(_image(_post(api, alice, size="full", roi="0px 0px 60px 160px")).getchannel("A"))
    assert np.array_equal(alpha, in_pixels)


@pytest.mark.parametrize("roi, code", [("0% 0% 120% 100%", "roi_exceeds_bounds"), ("0px 0px 121px 160px",
                                                                                   "roi_exceeds_bounds"),
                                       ("50% 0% 50% 100%", "roi_region_empty"), ("0 0 10 10", "invalid_roi"),
                                       ("0% 0% 100%", "invalid_roi")])
def test_bad_rois(api, alice, roi, code):
    _error(_post(api, alice, size="full", roi=roi), 400, code)


def _subject_box(api, alice) -> tuple[int, int, int, int]:
    return _foreground(_post(api, alice, size="full"))


@pytest.mark.parametrize("margin, extra", [("0", (0, 0, 0, 0)), ("10px", (10, 10, 10, 10)),
                                           ("10px 4px", (10, 4, 10, 4)), ("1px 2px 3px 4px", (1, 2, 3, 4)),
                                           ("10%", None), ("10% 5px", None)])
def test_crop_and_its_margin(api, alice, margin, extra):
    top, left, width, height = _subject_box(api, alice)
    answer = _post(api, alice, size="full", crop="true", crop_margin=margin)
    if extra is None:  # % of the subject's size: top/bottom of its height, left/right of its width
        first, *rest = margin.split()
        vertical = round(height * float(first.rstrip("%")) / 100)
        horizontal = round(width * float(first.rstrip("%")) / 100) if not rest else int(rest[0].rstrip("px"))
        extra = (vertical, horizontal, vertical, horizontal)
    t, r, b, lft = extra
    assert _image(answer).size == (width + r + lft, height + t + b)
    assert _foreground(answer) == (t, lft, width, height)


def test_crop_margin_without_crop_changes_nothing(api, alice):
    assert _image(_post(api, alice, size="full", crop_margin="20px")).size == (120, 160)


@pytest.mark.parametrize("margin", ["1px 2px 3px", "51%", "501px", "ten", "10em"])
def test_bad_crop_margins(api, alice, margin):
    _error(_post(api, alice, crop="true", crop_margin=margin), 400, "invalid_crop_margin")


def test_scale_and_position_place_the_subject_on_the_same_canvas(api, alice):
    _, _, width, height = _subject_box(api, alice)
    centred = _post(api, alice, size="full", scale="50%")
    top, left, w, h = _foreground(centred)
    assert _image(centred).size == (120, 160)
    factor = min(0.5 * 120 / width, 0.5 * 160 / height)
    assert abs(w - width * factor) <= 2 and abs(h - height * factor) <= 2
    assert abs(left - (120 - w) / 2) <= 1 and abs(top - (160 - h) / 2) <= 1  # scale alone: centred
    corner = _foreground(_post(api, alice, size="full", scale="50%", position="0% 0%"))
    assert corner[:2] == (0, 0)
    far = _foreground(_post(api, alice, size="full", scale="50%", position="100%"))
    assert (far[0] + far[3], far[1] + far[2]) == (160, 120)
    moved = _foreground(_post(api, alice, size="full", position="center"))
    assert moved[2:] == (width, height)


@pytest.mark.parametrize("name, value, code", [("scale", "5%", "invalid_scale"), ("scale", "101%", "invalid_scale"),
                                               ("scale", "half", "invalid_scale"),
                                               ("position", "120%", "invalid_position"),
                                               ("position", "1% 2% 3%", "invalid_position"),
                                               ("position", "left", "invalid_position"),
                                               ("channels", "rgb", "invalid_channels"),
                                               ("size", "huge", "invalid_size"), ("type", "cat", "invalid_type"),
                                               ("type_level", "3", "invalid_type_level"),
                                               ("format", "gif", "invalid_format"),
                                               ("crop", "maybe", "invalid_crop"),
                                               ("semitransparency", "maybe", "invalid_semitransparency"),
                                               ("add_shadow", "maybe", "invalid_add_shadow"),
                                               ("bg_color", "not-a-colour", "invalid_bg_color"),
                                               ("bg_color", "12345", "invalid_bg_color")])
def test_bad_values_are_400_with_remove_bgs_code(api, alice, name, value, code):
    error = _error(_post(api, alice, **{name: value}), 400, code)
    assert name in error["title"] + error.get("detail", "")


def test_channels_alpha_is_the_matte_alone(api, alice):
    matte = _image(_post(api, alice, size="full", channels="alpha"))
    png = _image(_post(api, alice, size="full", channels="rgba"))
    assert matte.mode == "L" and np.array_equal(np.asarray(matte), np.asarray(png.getchannel("A")))


# -- backgrounds ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, rgb", [("81d4fa", (0x81, 0xD4, 0xFA)), ("fff", (255, 255, 255)),
                                        ("#000", (0, 0, 0)), ("green", (0, 128, 0)), ("ff000080", (255, 0, 0)),
                                        ("00f8", (0, 0, 255))])
def test_bg_color_in_hex_or_by_name(api, alice, value, rgb):
    image = _image(_post(api, alice, size="full", bg_color=value, format="png")).convert("RGBA")
    r, g, b, a = image.getpixel((0, 0))  # a corner: background
    assert (r, g, b) == pytest.approx(rgb, abs=2)
    assert a == (0x80 if value == "ff000080" else 0x88 if value == "00f8" else 255)


def test_bg_image_file_and_url_fill_the_background(api, alice, monkeypatch):
    red = encode(np.full((40, 30, 3), (220, 10, 10), np.uint8), "PNG")
    from_file = api.call("POST", "/v1.0/removebg", token=alice, files={
        "image_file": ("a.png", PNG, "image/png"), "bg_image_file": ("bg.png", red, "image/png")},
        form={"size": "full"})
    image = _image(from_file).convert("RGB")
    assert image.size == (120, 160) and image.getpixel((0, 0)) == pytest.approx((220, 10, 10), abs=4)
    _setenv(monkeypatch, FETCH_ALLOW_PRIVATE_HOSTS="true")  # the documented switch for a local server
    with ScriptedServer() as server:
        server.route("/bg.png", body=red, content_type="image/png")
        from_url = _post(api, alice, size="full", bg_image_url=server.url("/bg.png"))
        assert np.array_equal(np.asarray(_image(from_url).convert("RGB")), np.asarray(image))
        _error(_post(api, alice, bg_image_url=server.url("/missing.png")), 400, "failed_bg_download")


@pytest.mark.parametrize("fields, code", [
    ({"bg_color": "fff", "bg_image_url": "https://e.com/bg.png"}, "multiple_bg_sources"),
    ({"bg_image_url": "ftp://e.com/bg.png"}, "invalid_bg_image_url"),
])
def test_background_refusals(api, alice, fields, code):
    _error(_post(api, alice, **fields), 400, code)


def test_two_background_files_and_a_colour_are_refused(api, alice):
    answer = api.call("POST", "/v1.0/removebg", token=alice, files={
        "image_file": ("a.png", PNG, "image/png"), "bg_image_file": ("bg.png", PNG, "image/png")},
        form={"bg_color": "fff"})
    _error(answer, 400, "multiple_bg_sources")


@pytest.mark.parametrize("value", ["true", "false"])
def test_semitransparency_and_add_shadow_are_accepted(api, alice, value):
    plain = _image(_post(api, alice, size="full"))
    flagged = _image(_post(api, alice, size="full", semitransparency=value, add_shadow=value))
    assert np.array_equal(np.asarray(plain), np.asarray(flagged))  # documented: no effect here


# -- the image sources and their errors ------------------------------------------------------------------------------


def test_image_url_is_fetched(api, alice, monkeypatch):
    _setenv(monkeypatch, FETCH_ALLOW_PRIVATE_HOSTS="true")
    with ScriptedServer() as server:
        server.route("/a.jpg", body=portrait_jpeg(90, 120), content_type="image/jpeg")
        assert _image(_post(api, alice, file=None, image_url=server.url("/a.jpg"), size="full")).size == (90, 120)
        error = _error(_post(api, alice, file=None, image_url=server.url("/gone.jpg")), 400, "failed_image_download")
        assert error["title"].startswith("Failed to download image from given image_url")


def test_a_private_image_url_is_refused_without_the_local_switch(api, alice):
    _error(_post(api, alice, file=None, image_url="http://169.254.169.254/latest/meta-data/"), 400,
           "failed_image_download")


@pytest.mark.parametrize("fields, code", [
    ({"size": "preview"}, "missing_source"),
    ({"image_url": "https://e.com/a.png", "image_file_b64": B64}, "multiple_sources"),
    ({"image_file_b64": B64, "image_base64": B64}, "multiple_sources"),
    ({"image_url": "ftp://e.com/a.png"}, "invalid_image_url"),
    ({"image_file_b64": base64.b64encode(b"not an image").decode()}, "failed_to_read_image"),
    ({"image_file_b64": "%%%not base64%%%"}, "failed_to_read_image"),
])
def test_source_refusals(api, alice, fields, code):
    _error(_post(api, alice, file=None, **fields), 400, code)


def test_a_file_and_a_url_are_multiple_sources(api, alice):
    _error(_post(api, alice, image_url="https://e.com/a.png"), 400, "multiple_sources")


def test_too_large_and_too_many_pixels(api, alice, monkeypatch):
    _setenv(monkeypatch, MAX_UPLOAD_BYTES=str(len(PNG) - 1))
    _error(_post(api, alice), 400, "file_too_large")
    _setenv(monkeypatch, MAX_UPLOAD_BYTES=str(10 * 1024 * 1024))
    _setenv(monkeypatch, MAX_INPUT_PIXELS=str(120 * 160 - 1))
    error = _error(_post(api, alice), 400, "resolution_too_high")
    assert error["title"] == "Image resolution too high"


def test_nothing_found_is_unknown_foreground(api, alice):
    _error(_post(api, alice, size="full", roi="0px 0px 2px 2px"), 400, "unknown_foreground")


# -- 402, 403, 429: nothing is charged for any of them -------------------------------------------------------------


def test_missing_unknown_and_revoked_keys_are_403(api, alice):
    _error(_post(api, None), 403, "auth_failed")
    _error(_post(api, None, headers={"x-api-key": "imgapi_" + "x" * 43}), 403, "auth_failed")
    made = api.call("POST", "/api/v1/api-keys", token=alice, json_body={"name": "gone"}).json()
    assert api.call("DELETE", f"/api/v1/api-keys/{made['id']}", token=alice).status == 204
    _error(_post(api, None, headers={"x-api-key": made["key"]}), 403, "auth_failed")
    _error(_post(api, "not-a-token"), 403, "auth_failed")


def test_quota_spent_is_402(api, alice, monkeypatch):
    _setenv(monkeypatch, JOBS_PER_DAY="1")
    assert _post(api, alice).status == 200
    _error(_post(api, alice), 402, "insufficient_credits")
    assert _post(api, None, headers={"x-api-key": "imgapi_" + "x" * 43}).status == 403


def test_the_rate_is_429_with_retry_after(api, alice, monkeypatch):
    _setenv(monkeypatch, SUBMITS_PER_MINUTE="1")
    assert _post(api, alice).status == 200
    limited = _post(api, alice)
    error = _error(limited, 429, "rate_limit_exceeded")
    assert error["title"] == "Rate limit exceeded" and 1 <= int(limited.headers["retry-after"]) <= 60
