"""Each DashScope operation with each model family configured, through the local stack against the strict fake
(issue #20): the job completes, one request reaches DashScope, and the result has the shape the real model would
give: the subject's aspect for change_bg, the person's for try-on, the canvas grown by expand's scales, the base
image's aspect for fix. A model that cannot do an operation fails its job at once, naming the setting.

The inputs are small images on a local server (the fake reads their sizes, as the model would see them; the worker
reads the base image's size for expand and fix), each within the documented input limits of every family (sides of
at least 512 px). combo runs on our own image worker, never on DashScope, so it has no case here.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import requests

from imgapi.core.settings import get_settings
from tests.e2e.conftest import login, wait_for
from tests.e2e.test_seed_image_edits import _download
from tests.support.http_server import ScriptedServer
from tests.support.images import encode, portrait_array, subject_mask

pytestmark = pytest.mark.slow

# The inputs' (width, height): each has another aspect, so a result shows which one it took its shape from.
BASE, REFERENCE, PERSON, GARMENT = (640, 480), (1024, 512), (512, 768), (512, 512)
EXPAND_SCALES = {"top_scale": 1.0, "bottom_scale": 2.0, "left_scale": 1.0, "right_scale": 1.0}  # 640x720
UPSCALE = 2

SEED_MODELS = {"change_bg": "wanx-background-generation-v2", "change_cloth": "aitryon-plus",
               "expand": "wanx2.1-imageedit", "fix": "wanx2.1-imageedit"}
QWEN = ("qwen-image-edit", "qwen-image-edit-plus", "qwen-image-edit-max", "qwen-image-edit-plus-2025-12-15",
        "qwen-image-edit-max-2026-01-16")
PROMPT_DRIVEN = (*QWEN, "wan2.5-i2i-preview", "wan2.7-image")
OPERATIONS = ("change_bg", "change_cloth", "expand", "fix")
# What a family cannot do: plain qwen-image-edit takes no size (so cannot grow a canvas); no qwen model does fix.
REFUSED = {("qwen-image-edit", "expand")} | {(model, "fix") for model in QWEN}

CASES = [pytest.param(operation, model, id=f"{operation}-{model}") for operation, model in SEED_MODELS.items()] + \
    [pytest.param(operation, model, id=f"{operation}-{model}") for model in PROMPT_DRIVEN for operation in OPERATIONS]


@pytest.fixture(scope="module")
def images():
    with ScriptedServer() as server:
        rgb = portrait_array(*BASE)
        alpha = np.where(subject_mask(*BASE), 255, 0).astype(np.uint8)[..., None]
        server.route("/subject.png", body=encode(np.concatenate([rgb, alpha], axis=2), "PNG"),
                     content_type="image/png")  # background generation takes an RGBA cut-out
        for name, size in (("base", BASE), ("reference", REFERENCE), ("person", PERSON), ("top", GARMENT),
                           ("bottom", GARMENT)):
            server.route(f"/{name}.jpg", body=encode(portrait_array(*size)), content_type="image/jpeg")
        yield server


@pytest.fixture(autouse=True)
def true_shapes(fake_dashscope):
    """The shared fake answers with the shapes the models give: no test leaves a model's size pinned."""
    assert fake_dashscope.result_sizes == {}, "a test left a result size pinned on the shared fake"
    fake_dashscope.reset_scripts()


@pytest.fixture
def configured():
    """Sets DASHSCOPE_MODEL_<OPERATION> for the stack (whose functions run in this process) and undoes it."""
    saved: dict[str, str | None] = {}

    def use(operation: str, model: str) -> None:
        name = f"DASHSCOPE_MODEL_{operation.upper()}"
        saved.setdefault(name, os.environ.get(name))
        os.environ[name] = model
        get_settings.cache_clear()

    yield use
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()


def _body(operation: str, model: str, url) -> dict:
    if operation == "change_bg":
        base = url("/subject.png") if model == SEED_MODELS["change_bg"] else url("/base.jpg")
        return {"base_image_url": base, "ref_image_url": url("/reference.jpg"), "ref_prompt": "a sunny studio", "n": 1}
    if operation == "change_cloth":
        return {"person_image_url": url("/person.jpg"), "top_garment_url": url("/top.jpg"),
                "bottom_garment_url": url("/bottom.jpg")}
    if operation == "expand":
        return {"base_image_url": url("/base.jpg"), "prompt": "continue the studio backdrop", "n": 2, **EXPAND_SCALES}
    return {"base_image_url": url("/base.jpg"), "prompt": "sharpen", "upscale_factor": UPSCALE}


def _expected(operation: str, model: str) -> tuple[tuple[int, int] | None, float]:
    """(the exact size where the model keeps or derives it, else None; the aspect the result must have)."""
    width, height = BASE
    exact = {
        "change_bg": BASE, "change_cloth": PERSON,
        "expand": (round(width * (EXPAND_SCALES["left_scale"] + EXPAND_SCALES["right_scale"]) / 2),
                   round(height * (EXPAND_SCALES["top_scale"] + EXPAND_SCALES["bottom_scale"]) / 2)),
        "fix": (width * UPSCALE, height * UPSCALE),
    }[operation]
    return (exact if model == SEED_MODELS[operation] else None), exact[0] / exact[1]


@pytest.mark.parametrize("operation,model", CASES)
def test_each_operation_on_each_family_gives_the_shape_the_model_would(base_url, fake_dashscope, images, configured,
                                                                        operation, model):
    configured(operation, model)
    token = login(base_url)
    before = len(fake_dashscope.submits)
    response = requests.post(f"{base_url}/{operation}", params={"token": token, "wait": 20},
                             json=_body(operation, model, images.url), timeout=40)
    assert response.status_code in (200, 202), response.text
    job = response.json()
    if job["status"] not in ("completed", "failed"):
        job = wait_for(base_url, token, job["task_id"])
    sent = fake_dashscope.submits[before:]

    if (model, operation) in REFUSED:
        assert job["status"] == "failed" and job["error"]["code"] == "model_unsupported", job
        assert f"DASHSCOPE_MODEL_{operation.upper()}" in job["error"]["message"] and sent == []
        return
    assert job["status"] == "completed", job
    (request,) = sent  # one request, of the configured model
    assert request.model == model
    parameters = request.body.get("parameters") or {}
    assert len(job["results"]) == int(parameters.get("n") or 1)
    exact, aspect = _expected(operation, model)
    for result in job["results"]:
        image = _download(result["url"])
        assert image.size == (result["width"], result["height"])
        if exact is not None:
            assert image.size == exact, (image.size, exact)
        assert abs(image.width / image.height - aspect) < 0.01 * aspect, (image.size, aspect)
