"""The local engine over HTTP against the local stack: change_bg, expand and fix with engine=local finish on our own
image worker (DashScope is configured but never called) and their result URLs download the images; fix runs the
learnt super-resolution and expand the exemplar synthesis, as their job views say."""
from __future__ import annotations

import io

import numpy as np
import pytest
import requests
from PIL import Image

from tests.e2e.conftest import login
from tests.support.http_server import ScriptedServer
from tests.support.images import encode, portrait_array

pytestmark = pytest.mark.slow

GREEN = (40, 160, 60)


@pytest.fixture(scope="module")
def image_server():
    with ScriptedServer() as server:
        server.route("/portrait.png", body=encode(portrait_array(120, 160), "PNG"), content_type="image/png")
        server.route("/green.png", body=encode(np.full((90, 90, 3), GREEN, np.uint8), "PNG"), content_type="image/png")
        yield server


def test_local_change_bg_expand_and_fix_finish_with_images_that_download(base_url, image_server, fake_dashscope):
    token = login(base_url)
    submits_before = len(fake_dashscope.submits)
    portrait = image_server.url("/portrait.png")
    bodies = {
        "change_bg": {"base_image_url": portrait, "ref_image_url": image_server.url("/green.png")},
        "expand": {"base_image_url": portrait, "top_scale": 2.0, "bottom_scale": 2.0, "left_scale": 1.5,
                   "right_scale": 1.5, "n": 1},
        "fix": {"base_image_url": portrait, "upscale_factor": 2},
    }
    images, made_by = {}, {}
    for operation, body in bodies.items():
        response = requests.post(f"{base_url}/{operation}", params={"token": token, "wait": 20},
                                 json={**body, "engine": "local"}, timeout=30)
        assert response.status_code == 200, (operation, response.text)
        job = response.json()
        assert job["status"] == "completed" and job["engine"] == "local" and "dashscope" not in job, job
        (result,) = job["results"]
        made_by[operation] = (result.get("enhancer"), result.get("expander"))
        download = requests.get(result["url"], timeout=10)
        assert download.status_code == 200
        images[operation] = np.asarray(Image.open(io.BytesIO(download.content)).convert("RGB"))
        assert images[operation].shape == (result["height"], result["width"], 3)
    assert tuple(images["change_bg"][3, 3]) == GREEN and images["change_bg"].shape == (160, 120, 3)
    assert images["expand"].shape == (320, 180, 3)  # 2.0 above and below: twice the height; 1.5 at the sides
    assert np.array_equal(images["expand"][80:240, 30:150], portrait_array(120, 160))
    assert images["fix"].shape == (320, 240, 3)
    # fix ran the learnt network and expand the exemplar synthesis, and their job views say so
    assert made_by["fix"] == ("super-resolution: REALESRGAN_ANIMAVIDEOV3_UP4X (ncnn)", None)
    assert made_by["expand"] == (None, "exemplar synthesis (local, not generative)")
    assert len(fake_dashscope.submits) == submits_before  # no DashScope task was made
