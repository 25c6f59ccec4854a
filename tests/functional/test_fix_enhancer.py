"""The local fix through the API and the image worker: the job view says which enlargement made the result, the
learnt network or the classical path (asked for, or because the network's weights are missing)."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from imgapi.core.settings import get_settings
from imgapi.engine import super_resolution
from tests.support.http_server import ScriptedServer
from tests.support.images import encode
from tests.support.worker import deliver


@pytest.fixture
def photo_url(stack, monkeypatch):
    """A photo crop on a local HTTP server the worker may fetch from; no DashScope key, so fix runs locally."""
    monkeypatch.setenv("FETCH_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    get_settings.cache_clear()
    with ScriptedServer() as server:
        photo = np.ascontiguousarray(skimage.data.astronaut()[40:136, 160:288])
        server.route("/photo.png", body=encode(photo, "PNG"), content_type="image/png")
        yield server.url("/photo.png")


def _fixed(api, alice, url: str) -> dict:
    body = {"base_image_url": url, "upscale_factor": 2}
    task_id = api.call("POST", "/fix", token=alice, json_body=body).json()["task_id"]
    deliver(get_settings().image_queue_url)
    view = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert view["status"] == "completed", view
    (result,) = view["results"]
    assert (result["width"], result["height"]) == (256, 192)
    return result


def test_the_job_view_names_the_network_that_enlarged_it(api, alice, photo_url):
    assert _fixed(api, alice, photo_url)["enhancer"] == "super-resolution: REALESRGAN_ANIMAVIDEOV3_UP4X (ncnn)"


def test_without_the_weights_the_job_runs_the_classical_path_and_says_so(api, alice, photo_url, monkeypatch):
    monkeypatch.setattr(super_resolution, "_PACKAGE", "no_such_model_package")
    super_resolution.load_net.cache_clear()
    try:
        assert _fixed(api, alice, photo_url)["enhancer"] == "classical (weights missing)"
    finally:
        super_resolution.load_net.cache_clear()


def test_the_classical_setting_is_said_too(api, alice, photo_url, monkeypatch):
    monkeypatch.setenv("FIX_SR_MODEL", "classical")
    get_settings.cache_clear()
    assert _fixed(api, alice, photo_url)["enhancer"] == "classical (the deployment's FIX_SR_MODEL)"
