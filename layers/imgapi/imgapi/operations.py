"""The operations a job can run, and how each one's parameters are read and checked.

One place for it, so the API routes, S3-triggered jobs and the CLI accept exactly the same parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

from .enhance_levels import DEFAULT_LEVEL, LEVELS, OUTPUT_FORMATS
from .errors import BadRequest
from .removal_configs import parse_config, resolve_config


def _config(owner: str, fields: dict[str, Any]) -> dict:
    """A saved configuration by `config_id`, or inline settings under `config`, or the default."""
    config_id = fields.get("config_id") or None
    if config_id and fields.get("config"):
        raise BadRequest("give either config_id or config, not both")
    if fields.get("config"):
        return {"config_id": None, "config": parse_config(fields["config"]).to_dict()}
    if config_id is not None and not isinstance(config_id, str):
        raise BadRequest("config_id must be a string")
    return {"config_id": config_id, "config": resolve_config(owner, config_id).to_dict()}


def _format(fields: dict[str, Any]) -> str:
    """The result's format: PNG (default) or lossless WebP, both with transparency."""
    fmt = fields.get("format") or "png"
    if fmt not in OUTPUT_FORMATS:
        raise BadRequest(f"format must be one of {', '.join(OUTPUT_FORMATS)}; got {fmt!r}", code="bad_format")
    return fmt


def combo_params(owner: str, fields: dict[str, Any]) -> dict:
    level = fields.get("enhance_level") or DEFAULT_LEVEL
    if level not in LEVELS:
        raise BadRequest(f"enhance_level must be one of {', '.join(LEVELS)}; got {level!r}", code="bad_enhance_level")
    return {"enhance_level": level, "format": _format(fields), **_config(owner, fields)}


def remove_bg_params(owner: str, fields: dict[str, Any]) -> dict:
    return {"format": _format(fields), **_config(owner, fields)}


# Operations that run on the image worker from an uploaded image.
IMAGE_OPERATIONS: dict[str, Callable[[str, dict[str, Any]], dict]] = {
    "combo": combo_params,
    "remove_bg": remove_bg_params,
}


def image_operation_params(operation: str, owner: str, fields: dict[str, Any]) -> dict:
    parse = IMAGE_OPERATIONS.get(operation)
    if parse is None:
        raise BadRequest(f"unknown operation {operation!r}; expected one of {', '.join(IMAGE_OPERATIONS)}",
                         code="unknown_operation")
    return parse(owner, fields)


# -- the first API's image edits: images as URLs (or uploaded files), checked before anything is queued --------

MAX_URL_CHARS = 2048
MAX_PROMPT_CHARS = 800  # DashScope's limit on prompts
SCALE_RANGE = (1.0, 2.0)  # DashScope's range for each side of an expansion
N_RANGE = (1, 4)
EXPAND_DEFAULT_PROMPT = "按照原来图片背景来操作扩展"  # the first API's defaults
FIX_DEFAULT_PROMPT = "图像超分。"
EXPAND_DEFAULT_SCALE = 1.5
EXPAND_DEFAULT_N = 2


def _image_url(fields: dict[str, Any], name: str, uploaded: frozenset[str], *, required: bool) -> str | None:
    """An input image: an http(s) URL in the field, or a file uploaded under it (then None here)."""
    value = fields.get(name)
    if name in uploaded:
        if value not in (None, ""):
            raise BadRequest(f"{name}: give a URL or upload a file, not both", code="bad_parameter")
        return None
    if value in (None, ""):
        if required:
            raise BadRequest(f"{name} is required: an http(s) URL of the image, or the image uploaded as the "
                             f"multipart file field {name.removesuffix('_url')}", code="missing_field")
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        raise BadRequest(f"{name} must be an http(s) URL of at most {MAX_URL_CHARS} characters", code="bad_url")
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"{name} must be an http(s) URL; got {value[:100]!r}", code="bad_url")
    return value.strip()


def _number(fields: dict[str, Any], name: str, default: float, low: float, high: float, *, integer: bool = False) -> Any:
    value = fields.get(name)
    if value in (None, ""):
        return default
    kind = "an integer" if integer else "a number"
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        number = float(value)
        if integer and number != int(number):
            raise ValueError
    except ValueError:
        raise BadRequest(f"{name} must be {kind} from {low:g} to {high:g}; got {value!r}", code="bad_parameter") from None
    if not low <= number <= high:
        raise BadRequest(f"{name} must be {kind} from {low:g} to {high:g}; got {value!r}", code="bad_parameter")
    return int(number) if integer else number


def _text(fields: dict[str, Any], name: str, default: str) -> str:
    value = fields.get(name)
    if value in (None, ""):
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string", code="bad_parameter")
    if len(value) > MAX_PROMPT_CHARS:
        raise BadRequest(f"{name} is {len(value)} characters long; at most {MAX_PROMPT_CHARS}", code="bad_parameter")
    return value


def _one_of(params: dict, names: tuple[str, ...], uploaded: frozenset[str]) -> None:
    if not any(params.get(name) or name in uploaded for name in names):
        raise BadRequest(f"give at least one of {' and '.join(names)}", code="missing_field")


def change_bg_params(owner: str, fields: dict[str, Any], uploaded: frozenset[str] = frozenset()) -> dict:
    params = {
        "base_image_url": _image_url(fields, "base_image_url", uploaded, required=True),
        "ref_image_url": _image_url(fields, "ref_image_url", uploaded, required=False),
        "ref_prompt": _text(fields, "ref_prompt", ""),
        "n": _number(fields, "n", 1, *N_RANGE, integer=True),
    }
    _one_of(params, ("ref_image_url", "ref_prompt"), uploaded)
    return params


def change_cloth_params(owner: str, fields: dict[str, Any], uploaded: frozenset[str] = frozenset()) -> dict:
    params = {
        "person_image_url": _image_url(fields, "person_image_url", uploaded, required=True),
        "top_garment_url": _image_url(fields, "top_garment_url", uploaded, required=False),
        "bottom_garment_url": _image_url(fields, "bottom_garment_url", uploaded, required=False),
    }
    _one_of(params, ("top_garment_url", "bottom_garment_url"), uploaded)  # a dress goes in top
    return params


def expand_params(owner: str, fields: dict[str, Any], uploaded: frozenset[str] = frozenset()) -> dict:
    scales = {f"{side}_scale": _number(fields, f"{side}_scale", EXPAND_DEFAULT_SCALE, *SCALE_RANGE)
              for side in ("top", "bottom", "left", "right")}
    return {"base_image_url": _image_url(fields, "base_image_url", uploaded, required=True), **scales,
            "prompt": _text(fields, "prompt", EXPAND_DEFAULT_PROMPT),
            "n": _number(fields, "n", EXPAND_DEFAULT_N, *N_RANGE, integer=True)}


def fix_params(owner: str, fields: dict[str, Any], uploaded: frozenset[str] = frozenset()) -> dict:
    return {"base_image_url": _image_url(fields, "base_image_url", uploaded, required=True),
            "prompt": _text(fields, "prompt", FIX_DEFAULT_PROMPT),
            "upscale_factor": _number(fields, "upscale_factor", 1, 1, 4, integer=True)}


def remove_bg_url_params(owner: str, fields: dict[str, Any], uploaded: frozenset[str] = frozenset()) -> dict:
    return {"image_url": _image_url(fields, "image_url", uploaded, required=True), **remove_bg_params(owner, fields)}


LOCAL, DASHSCOPE = "local", "dashscope"
ENGINES = (LOCAL, DASHSCOPE)  # "local": our image worker; "dashscope": its own queue and worker, DashScope's models


@dataclass(frozen=True)
class ImageEdit:
    """One route of the first API: which engines can run it, which fields are input images, how its body is read."""

    name: str
    engines: tuple[str, ...]  # by preference: without a request's `engine`, the first one configured runs it
    image_fields: tuple[str, ...]
    parse: Callable[[str, dict[str, Any], frozenset[str]], dict]
    # What the local engine needs beyond the parse's own checks (one of them), and what it does not use:
    # {field: its default} (a note on the job says so when a request gives another value).
    local_needs: tuple[str, ...] = ()
    unused_locally: dict[str, Any] = field(default_factory=dict)


IMAGE_EDITS: dict[str, ImageEdit] = {edit.name: edit for edit in (
    ImageEdit("change_bg", (DASHSCOPE, LOCAL), ("base_image_url", "ref_image_url"), change_bg_params,
              local_needs=("ref_image_url",), unused_locally={"ref_prompt": ""}),
    ImageEdit("change_cloth", (DASHSCOPE,), ("person_image_url", "top_garment_url", "bottom_garment_url"),
              change_cloth_params),
    ImageEdit("expand", (DASHSCOPE, LOCAL), ("base_image_url",), expand_params,
              unused_locally={"prompt": EXPAND_DEFAULT_PROMPT}),
    ImageEdit("fix", (DASHSCOPE, LOCAL), ("base_image_url",), fix_params,
              unused_locally={"prompt": FIX_DEFAULT_PROMPT}),
    ImageEdit("remove_bg", (LOCAL,), ("image_url",), remove_bg_url_params),
)}


def check_local_params(edit: ImageEdit, params: dict, uploaded: frozenset[str]) -> None:
    """400 when the local engine cannot do what the request asks (change_bg without a reference image)."""
    if edit.local_needs and not any(params.get(name) or name in uploaded for name in edit.local_needs):
        needed = " or ".join(edit.local_needs)
        raise BadRequest(f"{edit.name} on the local engine needs {needed} (a URL, or the image uploaded as "
                         f"{' or '.join(n.removesuffix('_url') for n in edit.local_needs)}): it cannot generate an "
                         "image from a prompt. For that, use engine=dashscope", code="missing_field")


def local_engine_notes(operation: str, params: dict) -> list[str]:
    """What the local engine leaves out of a request, to be said on its job: prompts it cannot read, images it does
    not make (it is deterministic: n copies would be the same image, so it makes one)."""
    edit = IMAGE_EDITS.get(operation)
    if edit is None or LOCAL not in edit.engines:
        return []
    notes = [f"{name} is recorded but not used: the local engine does not read prompts"
             for name, default in edit.unused_locally.items() if params.get(name) not in (None, default)]
    if (params.get("n") or 1) > 1:
        notes.append(f"n={params['n']} was asked for; the local engine is deterministic and makes one image")
    return notes


# Every operation a job can have (for filters and checks).
ALL_OPERATIONS = tuple(dict.fromkeys([*IMAGE_OPERATIONS, *IMAGE_EDITS]))
