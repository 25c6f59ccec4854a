"""HEIC and AVIF phone photos (sideways, with EXIF orientation 6 and an ICC profile) through remove_bg and combo
over the local stack (`make dev`'s): by URL, multipart and the direct upload; results upright, with the profile,
and as AVIF where asked."""
from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from PIL import Image

from tests.e2e.conftest import login, wait_for
from tests.support.http_server import ScriptedServer
from tests.support.photo_formats import SRGB_ICC, avif, heic

pytestmark = pytest.mark.slow

PHOTOS = {"heic": (heic(120, 160), "image/heic"), "avif": (avif(120, 160), "image/avif")}


@pytest.fixture(scope="module")
def image_server():
    with ScriptedServer() as server:
        for name, (data, content_type) in PHOTOS.items():
            server.route(f"/photo.{name}", body=data, content_type=content_type)
        yield server


def fetched(url: str) -> Image.Image:
    download = requests.get(url, timeout=10)
    assert download.status_code == 200
    return Image.open(io.BytesIO(download.content))


def assert_upright_cut_out(image: Image.Image, size: tuple[int, int]) -> None:
    """Upright (portrait, as the photo is seen), transparent around the subject, opaque on it; the ICC kept."""
    assert image.size == size and image.info.get("icc_profile") == SRGB_ICC
    alpha = np.asarray(image.convert("RGBA"))[..., 3]
    height, width = alpha.shape
    assert alpha[2, 2] < 30 and alpha[height // 2, width // 2] > 220


@pytest.mark.parametrize("name", ["heic", "avif"])
@pytest.mark.parametrize("fmt", ["png", "avif"])
def test_remove_bg_of_a_photo_url(base_url, image_server, name, fmt):
    response = requests.post(f"{base_url}/remove_bg", params={"token": login(base_url), "wait": 20}, timeout=40,
                             json={"image_url": image_server.url(f"/photo.{name}"), "format": fmt})
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "completed", job
    (result,) = job["results"]
    assert result["content_type"] == f"image/{fmt}"
    image = fetched(result["url"])
    assert image.format == fmt.upper()
    assert_upright_cut_out(image, (120, 160))


@pytest.mark.parametrize("name", ["heic", "avif"])
def test_remove_bg_of_an_uploaded_photo(base_url, name):
    data, content_type = PHOTOS[name]
    response = requests.post(f"{base_url}/remove_bg", params={"token": login(base_url), "wait": 20}, timeout=40,
                             files={"image": (f"photo.{name}", data, content_type)})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert_upright_cut_out(fetched(result["url"]), (120, 160))


@pytest.mark.parametrize("name", ["heic", "avif"])
def test_combo_of_a_photo(base_url, name):
    token = login(base_url)
    data, content_type = PHOTOS[name]
    response = requests.post(f"{base_url}/api/v1/upscale/combo", params={"token": token, "enhance_level": "light"},
                             files={"file": (f"photo.{name}", data, content_type)}, timeout=30)
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    status = wait_for(base_url, token, task_id)
    assert status["status"] == "completed", status
    result = requests.get(f"{base_url}/api/v1/upscale/result/{task_id}", params={"token": token}, timeout=10)
    assert result.status_code == 200
    image = Image.open(io.BytesIO(result.content))
    assert image.height > image.width  # upright: the photo was stored sideways
    assert_upright_cut_out(image, image.size)


def test_a_heic_direct_upload_becomes_a_job_that_completes(base_url):
    token = login(base_url)
    data, _ = PHOTOS["heic"]
    created = requests.post(f"{base_url}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                            json={"operation": "remove_bg", "filename": "IMG_0001.HEIC", "size": len(data)})
    assert created.status_code == 201, created.text
    upload = created.json()
    sent = requests.post(upload["upload"]["url"], data=upload["upload"]["fields"], timeout=30,
                         files={"file": ("IMG_0001.HEIC", data, "image/heic")})
    assert sent.status_code in (200, 204), sent.text
    job = wait_for(base_url, token, upload["task_id"])
    assert job["status"] == "completed", job
