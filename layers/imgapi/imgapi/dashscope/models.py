"""Which DashScope model serves which operation, and the request each model family takes (shared/dashscope.md).

The model of an operation is configuration: DASHSCOPE_MODEL_<OPERATION> (stack parameter
DashScopeModel<Operation>), defaulting to the first API's models. A model outside the catalogue, or one
DashScope has retired, fails the job with a message naming that setting.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from imgapi.core.errors import JobFailure
from imgapi.core.settings import get_settings


@dataclass(frozen=True)
class ModelFamily:
    name: str
    models: tuple[str, ...]
    path: str  # below DASHSCOPE_BASE_URL
    asynchronous: bool  # a task to follow (X-DashScope-Async), or one synchronous call
    max_in_flight: int  # DashScope's concurrent-task limit per model (DASHSCOPE_MAX_IN_FLIGHT overrides)


BACKGROUND = ModelFamily("background generation", ("wanx-background-generation-v2",),
                         "/services/aigc/background-generation/generation/", True, 1)
TRYON = ModelFamily("virtual try-on", ("aitryon-plus", "aitryon"), "/services/aigc/image2image/image-synthesis/", True, 5)
IMAGEEDIT = ModelFamily("image edit", ("wanx2.1-imageedit",), "/services/aigc/image2image/image-synthesis", True, 2)
# Synchronous: a call holds its slot until it returns. DashScope documents no concurrency limit for it.
QWEN_EDIT = ModelFamily("prompt-driven image edit", ("qwen-image-edit-plus", "qwen-image-edit-max", "qwen-image-edit"),
                        "/services/aigc/multimodal-generation/generation", False, 2)

OPERATION_FAMILIES: dict[str, tuple[ModelFamily, ...]] = {
    "change_bg": (BACKGROUND, QWEN_EDIT),
    "change_cloth": (TRYON, QWEN_EDIT),
    "expand": (IMAGEEDIT, QWEN_EDIT),
    "fix": (IMAGEEDIT,),
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


def model_choices(operation: str) -> list[str]:
    return [model for family in OPERATION_FAMILIES[operation] for model in family.models]


@dataclass(frozen=True)
class ModelChoice:
    operation: str
    model: str
    family: ModelFamily

    @property
    def max_in_flight(self) -> int:
        return max(1, get_settings().dashscope.max_in_flight.get(self.model, self.family.max_in_flight))

    def retired(self, detail: str) -> JobFailure:
        return JobFailure(f"DashScope does not serve model {self.model!r} any more ({detail}); set "
                          f"{model_setting(self.operation)} to a current model, e.g. "
                          f"{', '.join(m for m in model_choices(self.operation) if m != self.model)}",
                          code="model_unavailable")


def choose_model(operation: str) -> ModelChoice:
    """The configured model of an operation; JobFailure naming the setting when it cannot do the operation."""
    if operation not in OPERATION_FAMILIES:
        raise JobFailure(f"operation {operation!r} does not run on DashScope", code="bad_operation")
    model = get_settings().dashscope.models.get(operation) or DEFAULT_MODELS[operation]
    for family in OPERATION_FAMILIES[operation]:
        if model in family.models:
            return ModelChoice(operation, model, family)
    raise JobFailure(f"model {model!r} cannot do {operation} here; set {model_setting(operation)} to one of "
                     f"{', '.join(model_choices(operation))}", code="model_unsupported")


# -- request bodies ------------------------------------------------------------------------------------------

def _present(**values: Any) -> dict:
    return {k: v for k, v in values.items() if v not in (None, "")}


def _qwen(choice: ModelChoice, images: list[str], text: str, n: int = 1) -> dict:
    if n > 1 and choice.model == "qwen-image-edit":
        raise JobFailure(f"qwen-image-edit makes one image per request and {n} were asked for; ask for n=1 or set "
                         f"{model_setting(choice.operation)} to qwen-image-edit-plus", code="bad_parameter")
    content = [{"image": url} for url in images] + [{"text": text}]
    return {"model": choice.model, "input": {"messages": [{"role": "user", "content": content}]},
            "parameters": {"n": n, "watermark": False}}


def _change_bg(choice: ModelChoice, p: dict, urls: dict) -> dict:
    base, ref = urls["base_image_url"], urls.get("ref_image_url")
    if choice.family is BACKGROUND:
        return {"model": choice.model,
                "input": _present(base_image_url=base, ref_image_url=ref, ref_prompt=p.get("ref_prompt")),
                "parameters": {"n": p["n"], "model_version": BACKGROUND_MODEL_VERSION,
                               "noise_level": BACKGROUND_NOISE_LEVEL}}
    text = "Put the subject of image 1 in front of the background of image 2." if ref else \
        "Keep the subject of the image and replace its background."
    if p.get("ref_prompt"):
        text += f" {p['ref_prompt']}"
    return _qwen(choice, [base] + ([ref] if ref else []), text, p["n"])


def _change_cloth(choice: ModelChoice, p: dict, urls: dict) -> dict:
    person, top, bottom = urls["person_image_url"], urls.get("top_garment_url"), urls.get("bottom_garment_url")
    if choice.family is TRYON:
        return {"model": choice.model,
                "input": _present(person_image_url=person, top_garment_url=top, bottom_garment_url=bottom),
                "parameters": {"resolution": TRYON_RESOLUTION, "restore_face": TRYON_RESTORE_FACE}}
    images, garments = [person], []
    for url, what in ((top, "the top"), (bottom, "the trousers or skirt")):
        if url:
            images.append(url)
            garments.append(f"{what} of image {len(images)}")
    text = (f"Dress the person of image 1 in {' and '.join(garments)}; keep the person's face, pose and the "
            "background unchanged.")
    return _qwen(choice, images, text)


SIDES = ("top", "bottom", "left", "right")


def _expand(choice: ModelChoice, p: dict, urls: dict) -> dict:
    scales = {f"{side}_scale": p[f"{side}_scale"] for side in SIDES}
    if choice.family is IMAGEEDIT:
        return {"model": choice.model,
                "input": {"function": "expand", "prompt": p["prompt"], "base_image_url": urls["base_image_url"]},
                "parameters": {"n": p["n"], **scales}}
    sides = ", ".join(f"{side} x{p[f'{side}_scale']:g}" for side in SIDES)
    text = f"Extend the canvas of the image outward ({sides}) and fill the new area seamlessly. {p['prompt']}"
    return _qwen(choice, [urls["base_image_url"]], text, p["n"])


def _fix(choice: ModelChoice, p: dict, urls: dict) -> dict:
    return {"model": choice.model,
            "input": {"function": "super_resolution", "prompt": p["prompt"], "base_image_url": urls["base_image_url"]},
            "parameters": {"upscale_factor": p["upscale_factor"], "n": 1}}


BUILDERS: dict[str, Callable[[ModelChoice, dict, dict], dict]] = {
    "change_bg": _change_bg, "change_cloth": _change_cloth, "expand": _expand, "fix": _fix,
}


def build_request(choice: ModelChoice, params: dict, urls: dict[str, str]) -> dict:
    """The JSON body for the model; `urls` are the input images as URLs DashScope can download."""
    return BUILDERS[choice.operation](choice, params, urls)


# -- answers ----------------------------------------------------------------------------------------------

def result_entries(choice: ModelChoice, answer: dict) -> list[dict]:
    """The images of a successful answer, in order: {"url"} or, for one that failed, {"code", "message"}."""
    output = answer.get("output") or {}
    if not choice.family.asynchronous:
        choices = output.get("choices") or [{}]
        content = ((choices[0] or {}).get("message") or {}).get("content") or []
        return [{"url": item["image"]} for item in content if isinstance(item, dict) and item.get("image")]
    if output.get("image_url"):  # try-on answers with one URL, not a list
        return [{"url": output["image_url"]}]
    entries = []
    for item in output.get("results") or []:
        if isinstance(item, dict) and item.get("url"):
            entries.append({"url": item["url"]})
        elif isinstance(item, dict):
            entries.append({"code": str(item.get("code") or "Failed"), "message": str(item.get("message") or "")})
    return entries
