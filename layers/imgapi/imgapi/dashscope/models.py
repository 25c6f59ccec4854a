"""Which DashScope model serves which operation, and the request each model family takes (docs/dashscope.md).

The model of an operation is configuration: DASHSCOPE_MODEL_<OPERATION> (stack parameter
DashScopeModel<Operation>), defaulting to the first API's models. A model outside the catalogue, one the
configured region does not serve, or one DashScope has retired, fails the job with a message naming the setting.

Every request follows Alibaba Cloud Model Studio's reference of its family (as of 2026-12; sources in
docs/dashscope.md). Three rules shape the prompt-driven families (qwen-image-edit, wan2.5-i2i-preview,
wan2.7-image): the output takes the aspect ratio of the LAST input image, so the image whose shape the result must
keep (the subject of change_bg, the person of change_cloth) goes last; expand and fix send an explicit `size` (the
grown canvas, the enlarged image) fitted into the model's limits; `n` is clamped to what the model makes per
request (1 when a qwen `size` is sent).

Why it is long: every model family's request builder sits beside the others, so that their differences
(where the shape-giving image goes, size, n) can be read side by side.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from imgapi.core.errors import JobFailure
from imgapi.core.settings import get_settings

BEIJING, SINGAPORE, VIRGINIA, FRANKFURT = "cn-beijing", "ap-southeast-1", "us-east-1", "eu-central-1"


@dataclass(frozen=True)
class SizeRule:
    """What `parameters.size` ("W*H") may be: each side within [min_side, max_side] and/or the total pixels within
    [min_pixels, max_pixels], the long side at most `max_ratio` times the short one."""

    min_side: int = 1
    max_side: int = 1 << 30
    min_pixels: int = 1
    max_pixels: int = 1 << 60
    max_ratio: float = 1e9

    def fit(self, width: float, height: float) -> tuple[int, int]:
        """The size nearest to width x height (its aspect kept as far as the ratio limit allows) that is allowed."""
        width, height = max(1.0, width), max(1.0, height)
        ratio = max(width, height) / min(width, height)
        if ratio > self.max_ratio:  # squeeze the long side: the aspect cannot be kept
            if width > height:
                width = height * self.max_ratio
            else:
                height = width * self.max_ratio
        scale = 1.0
        pixels = width * height
        scale = min(scale, math.sqrt(self.max_pixels / pixels), self.max_side / max(width, height))
        scale = max(scale, math.sqrt(self.min_pixels / pixels), self.min_side / min(width, height))
        w, h = int(width * scale), int(height * scale)
        # Rounding down may leave a total just under the minimum: nudge up (the other limits have room).
        while w * h < self.min_pixels or min(w, h) < self.min_side:
            w, h = w + (w <= h), h + (h < w)
        return min(w, self.max_side), min(h, self.max_side)


@dataclass(frozen=True)
class ModelFamily:
    name: str
    models: tuple[str, ...]  # the names DashScope serves; `pattern` admits dated snapshots as well
    path: str  # below the base URL
    asynchronous: bool  # a task to follow (X-DashScope-Async), or one synchronous call
    max_in_flight: int  # DashScope's concurrent-task limit per model (DASHSCOPE_MAX_IN_FLIGHT overrides)
    regions: tuple[str, ...]  # where DashScope serves it
    max_n: int = 4  # images per request
    size: SizeRule | None = None  # None: the family takes no `size`
    pattern: str | None = None

    def serves(self, model: str) -> bool:
        return model in self.models or bool(self.pattern and re.fullmatch(self.pattern, model))


BACKGROUND = ModelFamily("background generation", ("wanx-background-generation-v2",),
                         "/services/aigc/background-generation/generation/", True, 1, (BEIJING,))
TRYON = ModelFamily("virtual try-on", ("aitryon-plus", "aitryon"), "/services/aigc/image2image/image-synthesis/", True,
                    5, (BEIJING,), max_n=1)
IMAGEEDIT = ModelFamily("image edit", ("wanx2.1-imageedit",), "/services/aigc/image2image/image-synthesis", True, 2,
                        (BEIJING,))
# Synchronous: a call holds its slot until it returns. DashScope documents no concurrency limit for it.
# -plus and -max (and their dated snapshots, e.g. qwen-image-edit-plus-2025-10-30) make 1-6 images and take a size;
# plain qwen-image-edit, the same API, makes one and takes no size (so it cannot expand): a family of its own.
QWEN_EDIT = ModelFamily("prompt-driven image edit (Qwen)", ("qwen-image-edit-plus", "qwen-image-edit-max"),
                        "/services/aigc/multimodal-generation/generation", False, 2, (BEIJING, SINGAPORE), max_n=6,
                        size=SizeRule(min_side=512, max_side=2048), pattern=r"qwen-image-edit-(plus|max)(-\d{4}-\d{2}-\d{2})?")
QWEN_EDIT_BASIC = ModelFamily("prompt-driven image edit (Qwen, one image, no size)", ("qwen-image-edit",),
                              QWEN_EDIT.path, False, 2, (BEIJING, SINGAPORE), max_n=1)
QWEN_FAMILIES = (QWEN_EDIT, QWEN_EDIT_BASIC)
WAN25 = ModelFamily("prompt-driven image edit (Wan 2.5, asynchronous)", ("wan2.5-i2i-preview",),
                    "/services/aigc/image2image/image-synthesis", True, 2, (BEIJING, SINGAPORE),
                    size=SizeRule(min_pixels=768 * 768, max_pixels=1280 * 1280, max_ratio=4.0))
WAN27 = ModelFamily("prompt-driven image edit (Wan 2.7, synchronous)", ("wan2.7-image", "wan2.7-image-pro"),
                    "/services/aigc/multimodal-generation/generation", False, 2, (BEIJING, SINGAPORE),
                    size=SizeRule(min_pixels=768 * 768, max_pixels=2048 * 2048, max_ratio=8.0))

OPERATION_FAMILIES: dict[str, tuple[ModelFamily, ...]] = {
    "change_bg": (BACKGROUND, QWEN_EDIT, QWEN_EDIT_BASIC, WAN25, WAN27),
    "change_cloth": (TRYON, QWEN_EDIT, QWEN_EDIT_BASIC, WAN25, WAN27),
    "expand": (IMAGEEDIT, QWEN_EDIT, WAN25, WAN27),
    "fix": (IMAGEEDIT, WAN25, WAN27),
}
DEFAULT_MODELS = {"change_bg": "wanx-background-generation-v2", "change_cloth": "aitryon-plus",
                  "expand": "wanx2.1-imageedit", "fix": "wanx2.1-imageedit"}

# The first API's fixed choices.
BACKGROUND_MODEL_VERSION, BACKGROUND_NOISE_LEVEL = "v3", 300
TRYON_RESOLUTION, TRYON_RESTORE_FACE = -1, True


def model_setting(operation: str) -> str:
    """The environment variable and stack parameter that choose an operation's model."""
    camel = "".join(part.capitalize() for part in operation.split("_"))
    return f"DASHSCOPE_MODEL_{operation.upper()} (stack parameter DashScopeModel{camel})"


def model_choices(operation: str, region: str | None = None) -> list[str]:
    return [model for family in OPERATION_FAMILIES[operation] if region is None or region in family.regions
            for model in family.models]


@dataclass(frozen=True)
class ModelChoice:
    operation: str
    model: str
    family: ModelFamily

    @property
    def max_in_flight(self) -> int:
        return max(1, get_settings().dashscope.max_in_flight.get(self.model, self.family.max_in_flight))

    @property
    def max_n(self) -> int:
        return self.family.max_n

    @property
    def takes_size(self) -> bool:
        return self.family.size is not None

    @property
    def needs_input_size(self) -> bool:
        """Whether the request's `size` is worked out from the input image's own size (expand and fix)."""
        return self.takes_size and self.operation in ("expand", "fix")

    def retired(self, detail: str) -> JobFailure:
        return JobFailure(f"DashScope does not serve model {self.model!r} any more ({detail}); set "
                          f"{model_setting(self.operation)} to a current model, e.g. "
                          f"{', '.join(m for m in model_choices(self.operation) if m != self.model)}",
                          code="model_unavailable")


def choose_model(operation: str) -> ModelChoice:
    """The configured model of an operation; JobFailure naming the setting when it cannot do the operation here."""
    if operation not in OPERATION_FAMILIES:
        raise JobFailure(f"operation {operation!r} does not run on DashScope", code="bad_operation")
    settings = get_settings().dashscope
    model = settings.models.get(operation) or DEFAULT_MODELS[operation]
    region = settings.region
    for family in OPERATION_FAMILIES[operation]:
        if not family.serves(model):
            continue
        if region not in family.regions:
            raise JobFailure(f"model {model!r} is not served in DashScope's region {region} (DASHSCOPE_REGION; it is "
                             f"served in {', '.join(family.regions)}); set {model_setting(operation)} to one of "
                             f"{', '.join(model_choices(operation, region)) or 'none'}", code="model_unsupported")
        return ModelChoice(operation, model, family)
    raise JobFailure(f"model {model!r} cannot do {operation} here; set {model_setting(operation)} to one of "
                     f"{', '.join(model_choices(operation, region))}", code="model_unsupported")


# -- request bodies ------------------------------------------------------------------------------------------

# The instruction each prompt-driven family gets. "image N" numbers the images in the order they are sent; the
# request's own prompt (ref_prompt, prompt) is added after it.
CHANGE_BG_WITH_REFERENCE = "Put the subject of image {subject} in front of the background of image {background}; " \
                           "keep the subject unchanged."
CHANGE_BG_BY_PROMPT = "Keep the subject of the image unchanged and replace its background."
CHANGE_CLOTH = "Dress the person of image {person} in {garments}; keep the person's face, pose and the background " \
               "unchanged."
EXPAND = "Extend the canvas of the image outward ({sides}) and fill the new area seamlessly, keeping the original " \
         "image unchanged in the middle."
FIX = "Restore this image at a higher resolution: sharpen details and remove noise and artefacts without changing " \
      "its content."
SIDES = ("top", "bottom", "left", "right")


def _present(**values: Any) -> dict:
    return {k: v for k, v in values.items() if v not in (None, "")}


def clamp_n(choice: ModelChoice, n: int) -> int:
    return max(1, min(int(n or 1), choice.max_n))


def expanded_canvas(size: tuple[int, int], p: dict) -> tuple[float, float]:
    """The canvas expand asks for: each scale multiplies the extent from the centre to that side."""
    width, height = size
    return width * (p["left_scale"] + p["right_scale"]) / 2, height * (p["top_scale"] + p["bottom_scale"]) / 2


def _with_prompt(text: str, extra: str | None) -> str:
    return f"{text} {extra}".strip() if extra else text


def _prompt_driven(choice: ModelChoice, images: list[str], text: str, n: int,
                   size: tuple[int, int] | None = None) -> dict:
    """A request of the qwen-image-edit, wan2.5-i2i-preview or wan2.7-image family."""
    n = clamp_n(choice, n)
    parameters: dict[str, Any] = {"n": n, "watermark": False}
    if size is not None and choice.takes_size:
        parameters["size"] = "{}*{}".format(*size)
        if choice.family is QWEN_EDIT:
            parameters["n"] = 1  # the reference: size is accepted only with n = 1
    if choice.family is WAN25:
        return {"model": choice.model, "input": {"prompt": text[:2000], "images": images},
                "parameters": {**parameters, "prompt_extend": False}}
    qwen = choice.family in QWEN_FAMILIES
    content = [{"image": url} for url in images] + [{"text": text[:800] if qwen else text[:5000]}]
    if choice.family is QWEN_EDIT:
        parameters["prompt_extend"] = False  # else an LLM rewrites the prompt
    return {"model": choice.model, "input": {"messages": [{"role": "user", "content": content}]},
            "parameters": parameters}


def _change_bg(choice: ModelChoice, p: dict, urls: dict, sizes: dict) -> dict:
    base, ref = urls["base_image_url"], urls.get("ref_image_url")
    if choice.family is BACKGROUND:
        return {"model": choice.model,
                "input": _present(base_image_url=base, ref_image_url=ref, ref_prompt=p.get("ref_prompt")),
                "parameters": {"n": clamp_n(choice, p["n"]), "model_version": BACKGROUND_MODEL_VERSION,
                               "noise_level": BACKGROUND_NOISE_LEVEL}}
    # The subject goes last: the result takes the shape of the last image.
    if ref:
        return _prompt_driven(choice, [ref, base], _with_prompt(CHANGE_BG_WITH_REFERENCE.format(
            subject=2, background=1), p.get("ref_prompt")), p["n"])
    return _prompt_driven(choice, [base], _with_prompt(CHANGE_BG_BY_PROMPT, p.get("ref_prompt")), p["n"])


def _change_cloth(choice: ModelChoice, p: dict, urls: dict, sizes: dict) -> dict:
    person, top, bottom = urls["person_image_url"], urls.get("top_garment_url"), urls.get("bottom_garment_url")
    if choice.family is TRYON:
        return {"model": choice.model,
                "input": _present(person_image_url=person, top_garment_url=top, bottom_garment_url=bottom),
                "parameters": {"resolution": TRYON_RESOLUTION, "restore_face": TRYON_RESTORE_FACE}}
    images, garments = [], []
    for url, what in ((top, "the top"), (bottom, "the trousers or skirt")):
        if url:
            images.append(url)
            garments.append(f"{what} of image {len(images)}")
    images.append(person)  # last: the result keeps the person's shape
    return _prompt_driven(choice, images, CHANGE_CLOTH.format(person=len(images), garments=" and ".join(garments)),
                          p.get("n") or 1)


def _expand(choice: ModelChoice, p: dict, urls: dict, sizes: dict) -> dict:
    scales = {f"{side}_scale": p[f"{side}_scale"] for side in SIDES}
    if choice.family is IMAGEEDIT:
        return {"model": choice.model,
                "input": {"function": "expand", "prompt": p["prompt"], "base_image_url": urls["base_image_url"]},
                "parameters": {"n": clamp_n(choice, p["n"]), **scales}}
    sides = ", ".join(f"{side} x{p[f'{side}_scale']:g}" for side in SIDES)
    size = choice.family.size.fit(*expanded_canvas(sizes["base_image_url"], p))  # type: ignore[union-attr]
    return _prompt_driven(choice, [urls["base_image_url"]], _with_prompt(EXPAND.format(sides=sides), p.get("prompt")),
                          p["n"], size)


def _fix(choice: ModelChoice, p: dict, urls: dict, sizes: dict) -> dict:
    if choice.family is IMAGEEDIT:
        return {"model": choice.model,
                "input": {"function": "super_resolution", "prompt": p["prompt"],
                          "base_image_url": urls["base_image_url"]},
                "parameters": {"upscale_factor": p["upscale_factor"], "n": 1}}
    width, height = sizes["base_image_url"]
    factor = p.get("upscale_factor") or 1
    size = choice.family.size.fit(width * factor, height * factor)  # type: ignore[union-attr]
    return _prompt_driven(choice, [urls["base_image_url"]], _with_prompt(FIX, p.get("prompt")), 1, size)


BUILDERS: dict[str, Callable[[ModelChoice, dict, dict, dict], dict]] = {
    "change_bg": _change_bg, "change_cloth": _change_cloth, "expand": _expand, "fix": _fix,
}


def build_request(choice: ModelChoice, params: dict, urls: dict[str, str],
                  sizes: dict[str, tuple[int, int]] | None = None) -> dict:
    """The JSON body for the model; `urls` are the input images as URLs DashScope can download, `sizes` their
    (width, height) where the request needs them (ModelChoice.needs_input_size: the base image)."""
    return BUILDERS[choice.operation](choice, params, urls, sizes or {})


def requested_n(body: dict) -> int:
    """How many images a request body asks for."""
    return int((body.get("parameters") or {}).get("n") or 1)


# -- answers ----------------------------------------------------------------------------------------------

def result_entries(choice: ModelChoice, answer: dict) -> list[dict]:
    """The images of a successful answer, in order: {"url"} or, for one that failed, {"code", "message"}."""
    output = answer.get("output") or {}
    if output.get("choices"):  # the multimodal answer (qwen-image-edit, wan2.7-image; also wan2.7's async query)
        content = ((output["choices"][0] or {}).get("message") or {}).get("content") or []
        return [{"url": item["image"]} for item in content if isinstance(item, dict) and item.get("image")]
    if output.get("image_url"):  # try-on answers with one URL, not a list
        return [{"url": output["image_url"]}]
    if output.get("output_image_url"):  # image-out-painting
        return [{"url": output["output_image_url"]}]
    entries = []
    for item in output.get("results") or []:
        if isinstance(item, dict) and item.get("url"):
            entries.append({"url": item["url"]})
        elif isinstance(item, dict):
            entries.append({"code": str(item.get("code") or "Failed"), "message": str(item.get("message") or "")})
    return entries
