"""The local expand through the API and the image worker: the job view says what filled the new border, the
exemplar synthesis or the deployment's inpainting model (EXPAND_MODEL, a LaMa-shaped ONNX model made here)."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from imgapi.core.settings import get_settings
from imgapi.engine.outpaint import EXEMPLAR
from tests.support.http_server import ScriptedServer
from tests.support.images import encode
from tests.support.inpaint_model import build_inpainting_model
from tests.support.worker import deliver


@pytest.fixture
def photo_url(stack, monkeypatch):
    """A photo crop on a local HTTP server the worker may fetch from; no DashScope key, so expand runs locally."""
    monkeypatch.setenv("FETCH_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    monkeypatch.delenv("EXPAND_MODEL", raising=False)
    get_settings.cache_clear()
    with ScriptedServer() as server:
        server.route("/photo.png", body=encode(np.ascontiguousarray(skimage.data.coffee()[100:196, 200:328]), "PNG"),
                     content_type="image/png")
        yield server.url("/photo.png")


def _expanded(api, alice, url: str) -> dict:
    body = {"base_image_url": url, "top_scale": 1.5, "bottom_scale": 1.0, "left_scale": 1.5, "right_scale": 1.0}
    task_id = api.call("POST", "/expand", token=alice, json_body=body).json()["task_id"]
    deliver(get_settings().image_queue_url)
    view = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert view["status"] == "completed", view
    (result,) = view["results"]
    assert (result["width"], result["height"]) == (128 + 32, 96 + 24)
    return result


def test_the_job_view_says_the_exemplar_synthesis_filled_the_border(api, alice, photo_url):
    assert _expanded(api, alice, photo_url)["expander"] == EXEMPLAR == "exemplar synthesis (local, not generative)"


def test_with_the_deployments_model_the_job_view_names_it(api, alice, photo_url, monkeypatch, tmp_path):
    model = build_inpainting_model(tmp_path / "lama_fp32.onnx", "lama", weights="random")
    monkeypatch.setenv("EXPAND_MODEL", str(model))
    get_settings.cache_clear()
    assert _expanded(api, alice, photo_url)["expander"] == "inpainting model lama_fp32.onnx (onnx, the deployment's)"
