"""The exact body each DashScope model family is sent for each operation (issue #20; docs/dashscope.md)."""
from __future__ import annotations

import pytest

from imgapi.core.errors import JobFailure
from imgapi.core.settings import get_settings
from imgapi.dashscope.models import (
    CHANGE_BG_WITH_REFERENCE, CHANGE_CLOTH, EXPAND, FIX, QWEN_EDIT, WAN25, WAN27, ModelChoice, build_request,
    choose_model,
)

BASE, REF = "https://x.test/subject.png", "https://x.test/background.png"
PERSON, TOP, BOTTOM = "https://x.test/person.png", "https://x.test/top.png", "https://x.test/bottom.png"
SCALES = {"top_scale": 2.0, "bottom_scale": 2.0, "left_scale": 1.5, "right_scale": 1.5}
SIDES = "top x2, bottom x2, left x1.5, right x1.5"


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch):
    for name in ("DASHSCOPE_REGION", "DASHSCOPE_WORKSPACE_ID", "DASHSCOPE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def qwen(model, images, text, n=1, size=None):
    parameters = {"n": n, "watermark": False, "prompt_extend": False, **({"size": size} if size else {})}
    if model == "qwen-image-edit":
        del parameters["prompt_extend"]
    return {"model": model, "input": {"messages": [{"role": "user", "content": [{"image": u} for u in images]
                                                    + [{"text": text}]}]}, "parameters": parameters}


def wan27(images, text, n=1, size=None):
    return {"model": "wan2.7-image", "input": {"messages": [{"role": "user", "content": [{"image": u} for u in images]
                                                             + [{"text": text}]}]},
            "parameters": {"n": n, "watermark": False, **({"size": size} if size else {})}}


def wan25(images, text, n=1, size=None):
    return {"model": "wan2.5-i2i-preview", "input": {"prompt": text, "images": images},
            "parameters": {"n": n, "watermark": False, **({"size": size} if size else {}), "prompt_extend": False}}


FAMILIES = {"qwen-image-edit-plus": (QWEN_EDIT, lambda *a, **k: qwen("qwen-image-edit-plus", *a, **k)),
            "wan2.5-i2i-preview": (WAN25, wan25), "wan2.7-image": (WAN27, wan27)}


@pytest.mark.parametrize("model", list(FAMILIES))
def test_change_bg_puts_the_subject_last_so_the_result_keeps_its_shape(model):
    family, body = FAMILIES[model]
    text = CHANGE_BG_WITH_REFERENCE.format(subject=2, background=1) + " at dusk"
    sent = build_request(ModelChoice("change_bg", model, family), {"n": 2, "ref_prompt": "at dusk"},
                         {"base_image_url": BASE, "ref_image_url": REF})
    assert sent == body([REF, BASE], text, n=2)


@pytest.mark.parametrize("model", list(FAMILIES))
def test_try_on_puts_the_person_last(model):
    family, body = FAMILIES[model]
    text = CHANGE_CLOTH.format(person=3, garments="the top of image 1 and the trousers or skirt of image 2")
    sent = build_request(ModelChoice("change_cloth", model, family), {},
                         {"person_image_url": PERSON, "top_garment_url": TOP, "bottom_garment_url": BOTTOM})
    assert sent == body([TOP, BOTTOM, PERSON], text)


@pytest.mark.parametrize("model,size,n", [("qwen-image-edit-plus", "1200*1600", 1),  # qwen: size only with n=1
                                          ("wan2.5-i2i-preview", "1108*1478", 2),  # total <= 1280*1280
                                          ("wan2.7-image", "1200*1600", 2)])
def test_expand_asks_for_the_grown_canvas_within_the_models_limits(model, size, n):
    family, body = FAMILIES[model]
    sent = build_request(ModelChoice("expand", model, family), {**SCALES, "n": 2, "prompt": "sea"},
                         {"base_image_url": BASE}, {"base_image_url": (800, 800)})
    assert sent == body([BASE], EXPAND.format(sides=SIDES) + " sea", n=n, size=size)


def test_qwen_sides_stay_within_512_and_2048():
    sent = build_request(ModelChoice("expand", "qwen-image-edit-max", QWEN_EDIT), {**SCALES, "n": 1, "prompt": ""},
                         {"base_image_url": BASE}, {"base_image_url": (2000, 2000)})
    assert sent["parameters"]["size"] == "1536*2048"


@pytest.mark.parametrize("model", ["wan2.5-i2i-preview", "wan2.7-image"])
def test_fix_on_a_prompt_driven_model_asks_for_the_enlarged_size(model):
    family, body = FAMILIES[model]
    sent = build_request(ModelChoice("fix", model, family), {"upscale_factor": 2, "prompt": "sharper"},
                         {"base_image_url": BASE}, {"base_image_url": (600, 400)})
    size = {"wan2.5-i2i-preview": "1200*800", "wan2.7-image": "1200*800"}[model]
    assert sent == body([BASE], FIX + " sharper", size=size)


def test_the_seed_models_bodies_are_unchanged():
    imageedit = choose_model("expand")
    assert build_request(imageedit, {**SCALES, "n": 2, "prompt": "p"}, {"base_image_url": BASE}) == {
        "model": "wanx2.1-imageedit", "input": {"function": "expand", "prompt": "p", "base_image_url": BASE},
        "parameters": {"n": 2, **SCALES}}
    assert build_request(choose_model("fix"), {"upscale_factor": 3, "prompt": "p"}, {"base_image_url": BASE}) == {
        "model": "wanx2.1-imageedit", "input": {"function": "super_resolution", "prompt": "p", "base_image_url": BASE},
        "parameters": {"upscale_factor": 3, "n": 1}}


@pytest.mark.parametrize("model", ["qwen-image-edit-plus-2025-10-30", "qwen-image-edit-plus-2025-12-15",
                                   "qwen-image-edit-max-2026-01-16", "qwen-image-edit-max"])
def test_qwen_snapshots_are_admitted_by_pattern(monkeypatch, model):
    monkeypatch.setenv("DASHSCOPE_MODEL_EXPAND", model)
    get_settings.cache_clear()
    assert choose_model("expand").family is QWEN_EDIT


@pytest.mark.parametrize("operation,model", [("expand", "qwen-image-edit"), ("fix", "qwen-image-edit-plus"),
                                             ("expand", "qwen-image-edit-plus-latest")])
def test_models_that_cannot_do_the_operation_are_refused(monkeypatch, operation, model):
    monkeypatch.setenv(f"DASHSCOPE_MODEL_{operation.upper()}", model)
    get_settings.cache_clear()
    with pytest.raises(JobFailure) as failure:
        choose_model(operation)
    assert failure.value.code == "model_unsupported"


@pytest.mark.parametrize("env,url", [
    ({}, "https://dashscope.aliyuncs.com/api/v1"),
    ({"DASHSCOPE_REGION": "ap-southeast-1"}, "https://dashscope-intl.aliyuncs.com/api/v1"),
    ({"DASHSCOPE_WORKSPACE_ID": "ws-1"}, "https://ws-1.cn-beijing.maas.aliyuncs.com/api/v1"),
    ({"DASHSCOPE_REGION": "ap-southeast-1", "DASHSCOPE_WORKSPACE_ID": "ws-1"},
     "https://ws-1.ap-southeast-1.maas.aliyuncs.com/api/v1"),
    ({"DASHSCOPE_REGION": "eu-central-1", "DASHSCOPE_WORKSPACE_ID": "ws-1"},
     "https://ws-1.eu-central-1.maas.aliyuncs.com/api/v1"),
    ({"DASHSCOPE_BASE_URL": "https://{WorkspaceId}.cn-beijing.maas.aliyuncs.com/api/v1/",
      "DASHSCOPE_WORKSPACE_ID": "ws-2"}, "https://ws-2.cn-beijing.maas.aliyuncs.com/api/v1"),
])
def test_the_region_and_workspace_choose_the_base_url(monkeypatch, env, url):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    assert get_settings().dashscope.base_url == url
