"""remove.bg's own clients, unchanged but for their endpoint, against the local stack over HTTP: PyPI `removebg` 0.04
(its module constant API_ENDPOINT), PyPI `removebgplus` 0.1.2 (its URL is a literal: its requests.post is wrapped)
and npm `remove.bg` 1.3.0 (a private constant: tests/e2e/removebg_node/drive.js loads it with the URL replaced).
Each with file, URL and base64 input; the URL input is served from 127.0.0.1 (the local stack allows private hosts,
FETCH_ALLOW_PRIVATE_HOSTS, as tests/e2e/conftest.py sets it)."""
from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import types
from pathlib import Path

import pytest
import requests
import removebg.removebg as removebg_module
import removebgplus.removebg as removebgplus_module
from PIL import Image

from tests.e2e.conftest import login
from tests.support.http_server import ScriptedServer
from tests.support.images import portrait_jpeg, portrait_png

NODE_DRIVER = Path(__file__).parent / "removebg_node" / "drive.js"
REMOVE_BG = "https://api.remove.bg/v1.0/removebg"
PNG = portrait_png(120, 160)
JPEG = portrait_jpeg(90, 120)


@pytest.fixture(scope="module")
def api_key(local_stack) -> str:
    answer = requests.post(f"{local_stack.url}/api/v1/api-keys", json={"name": "remove.bg clients"},
                           headers={"Authorization": f"Bearer {login(local_stack.url)}"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["key"]


@pytest.fixture(scope="module")
def images():
    with ScriptedServer() as server:
        server.route("/photo.jpg", body=JPEG, content_type="image/jpeg")
        server.route("/photo.png", body=PNG, content_type="image/png")
        yield server


@pytest.fixture
def endpoint(local_stack) -> str:
    return f"{local_stack.url}/v1.0/removebg"


def _image(path_or_bytes) -> Image.Image:
    data = Path(path_or_bytes).read_bytes() if isinstance(path_or_bytes, (str, Path)) else path_or_bytes
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _cut_out(image: Image.Image, size: tuple[int, int]) -> None:
    """A cut-out of the input's size: PNG with transparency where the background was, the subject kept."""
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == size
    alpha = image.getchannel("A")
    assert alpha.getextrema() == (0, 255)


# -- PyPI removebg 0.04: multipart for a file, urlencoded for a URL or base64, no Accept; writes the body --------


def test_pypi_removebg_file_url_and_base64(api_key, endpoint, images, tmp_path, monkeypatch):
    assert removebg_module.API_ENDPOINT == REMOVE_BG  # the constant the client documents; pointed at our stack
    monkeypatch.setattr(removebg_module, "API_ENDPOINT", endpoint)
    client = removebg_module.RemoveBg(api_key, str(tmp_path / "errors.log"))

    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    client.remove_background_from_img_file(str(photo))
    _cut_out(_image(tmp_path / "photo.png_no_bg.png"), (120, 160))

    client.remove_background_from_img_url(images.url("/photo.jpg"), new_file_name=str(tmp_path / "url.png"))
    _cut_out(_image(tmp_path / "url.png"), (90, 120))

    client.remove_background_from_base64_img(base64.b64encode(PNG).decode(), new_file_name=str(tmp_path / "b64.png"),
                                             bg_color="81d4fa")
    with_colour = _image(tmp_path / "b64.png")
    assert with_colour.size == (120, 160) and with_colour.format == "JPEG"  # bg_color: nothing transparent is left
    assert with_colour.getpixel((0, 0)) == pytest.approx((0x81, 0xD4, 0xFA), abs=6)


def test_pypi_removebg_sees_our_refusals_as_http_errors(endpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(removebg_module, "API_ENDPOINT", endpoint)
    client = removebg_module.RemoveBg("imgapi_" + "x" * 43, str(tmp_path / "errors.log"))
    with pytest.raises(requests.HTTPError) as refused:
        client.remove_background_from_base64_img(base64.b64encode(PNG).decode(), new_file_name=str(tmp_path / "x"))
    assert refused.value.response.status_code == 403
    assert refused.value.response.json()["errors"][0]["code"] == "auth_failed"


# -- PyPI removebgplus 0.1.2: HEADs the URL first, sends base64 as image_base64 ------------------------------------


def test_pypi_removebgplus_file_url_and_base64(api_key, endpoint, images, tmp_path, monkeypatch):
    sent = []

    def post(url, **kwargs):
        assert url == REMOVE_BG
        sent.append(kwargs.get("data"))
        return requests.post(endpoint, **kwargs)

    monkeypatch.setattr(removebgplus_module, "requests", types.SimpleNamespace(post=post, head=requests.head))
    client = removebgplus_module.RemoveBg(api_key)
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    _cut_out(_image(client.remove_from_file(str(photo), str(tmp_path / "file.png"))), (120, 160))
    _cut_out(_image(client.remove_from_url(images.url("/photo.png"), str(tmp_path / "url.png"))), (120, 160))
    _cut_out(_image(client.remove_from_base64(base64.b64encode(JPEG).decode(), str(tmp_path / "b64.png"))),
             (90, 120))
    assert "image_base64" in sent[-1]  # its own name for image_file_b64, accepted as one


# -- npm remove.bg 1.3.0: JSON (url, base64) or multipart (file), Accept: application/json, reads result_b64 ------


def _node(endpoint: str, kind: str, options: dict) -> dict:
    node = shutil.which("node")
    assert node, "node is not installed"
    assert (NODE_DRIVER.parent / "node_modules" / "remove.bg").is_dir(), "run `make install` (npm ci)"
    done = subprocess.run([node, str(NODE_DRIVER), endpoint, kind, json.dumps(options)], capture_output=True,
                          text=True, timeout=120, cwd=NODE_DRIVER.parent)
    assert done.returncode == 0 and done.stdout.strip(), (done.stdout, done.stderr)  # no output: it never settled
    return json.loads(done.stdout.strip().splitlines()[-1])


def _what_it_read(answer: dict, size: tuple[int, int]) -> Image.Image:
    assert answer["ok"], answer
    result = answer["result"]
    image = _image(base64.b64decode(result["base64img"]))  # data.result_b64
    assert image.size == size
    assert (result["resultWidth"], result["resultHeight"]) == (str(size[0]), str(size[1]))  # x-width, x-height
    assert result["creditsCharged"] == "1" and result["detectedType"]  # x-credits-charged, x-type
    assert int(result["rateLimit"]) >= int(result["rateLimitRemaining"]) >= 0  # x-ratelimit-*
    assert int(result["rateLimitReset"]) > 0
    assert "retryAfter" not in result  # only when rate limited
    return image


def test_npm_remove_bg_file_url_and_base64(api_key, endpoint, images, tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    out = tmp_path / "out.png"
    from_file = _node(endpoint, "file", {"apiKey": api_key, "path": str(photo), "outputFile": str(out),
                                         "size": "regular", "type": "person", "roi": "0% 0% 100% 100%"})
    _cut_out(_what_it_read(from_file, (120, 160)), (120, 160))
    assert from_file["result"]["detectedType"] == "person"
    _cut_out(_image(out), (120, 160))  # its outputFile, written from result_b64

    from_url = _node(endpoint, "url", {"apiKey": api_key, "url": images.url("/photo.jpg"), "crop": True,
                                       "crop_margin": "5px", "bg_color": "green"})
    result = from_url["result"]
    cropped = _what_it_read(from_url, (int(result["resultWidth"]), int(result["resultHeight"])))
    assert cropped.format == "JPEG" and cropped.size[0] < 90  # cropped to the subject; green where it was not

    from_b64 = _node(endpoint, "base64", {"apiKey": api_key, "base64img": base64.b64encode(PNG).decode(),
                                          "channels": "alpha", "scale": "50%", "position": "center"})
    matte = _what_it_read(from_b64, (120, 160))
    assert matte.mode == "L"


def test_npm_remove_bg_rejects_with_our_errors(api_key, endpoint):
    bad_key = _node(endpoint, "base64", {"apiKey": "imgapi_" + "x" * 43, "base64img": base64.b64encode(PNG).decode()})
    assert not bad_key["ok"] and bad_key["error"][0]["code"] == "auth_failed"
    bad_size = _node(endpoint, "url", {"apiKey": api_key, "url": "https://example.com/a.jpg", "size": "huge"})
    assert not bad_size["ok"] and bad_size["error"][0]["code"] == "invalid_size"
