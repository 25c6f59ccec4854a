"""The operations a job can run, and how each one's parameters are read and checked.

One place for it, so the API routes, S3-triggered jobs and the CLI accept exactly the same parameters. What each
parameter may be is declared in job_params.py (the OpenAPI document is written from the same declarations);
here is what the operations make of them. `text`: the values came as text (a form or query string), not JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from imgapi.core.errors import BadRequest
from imgapi.jobs.job_params import CONFIG, CONFIG_ID, EDIT_FORMS, ENHANCE_LEVEL, FORMAT, OUTPUT_OPTIONS
from imgapi.core.parameters import Param, Values
from imgapi.jobs.removal_configs import parse_config, resolve_config
# DASHSCOPE and LOCAL are read from here by the workers too.
from imgapi.core.vocabulary import DASHSCOPE, EXPAND_DEFAULT_PROMPT, FIX_DEFAULT_PROMPT, LOCAL


def _config(owner: str, values: Values) -> dict:
    """A saved configuration by `config_id`, or inline settings under `config`, or the default."""
    config_id = values.read(CONFIG_ID)
    if config_id and values.given(CONFIG.name):
        raise BadRequest("give either config_id or config, not both", code="bad_parameter")
    if values.given(CONFIG.name):
        return {"config_id": None, "config": parse_config(values.raw[CONFIG.name], text=values.text).to_dict()}
    return {"config_id": config_id, "config": resolve_config(owner, config_id).to_dict()}


def _output_options(values: Values) -> dict:
    """The output options given (crop, crop_margin, channels, bg_color): only those, so a job without them is
    stored and run as before."""
    return {param.name: values.read(param) for param in OUTPUT_OPTIONS if values.given(param.name)}


def combo_params(owner: str, fields: Mapping[str, Any], *, text: bool = False) -> dict:
    values = Values(fields, text=text)
    return {"enhance_level": values.read(ENHANCE_LEVEL), "format": values.read(FORMAT), **_config(owner, values),
            **_output_options(values)}


def remove_bg_params(owner: str, fields: Mapping[str, Any], *, text: bool = False) -> dict:
    values = Values(fields, text=text)
    return {"format": values.read(FORMAT), **_config(owner, values), **_output_options(values)}


# Operations that run on the image worker from an uploaded image.
IMAGE_OPERATIONS = {"combo": combo_params, "remove_bg": remove_bg_params}  # vocabulary.UPLOAD_OPERATIONS


def image_operation_params(operation: str, owner: str, fields: Mapping[str, Any]) -> dict:
    parse = IMAGE_OPERATIONS.get(operation)
    if parse is None:
        raise BadRequest(f"unknown operation {operation!r}; expected one of {', '.join(IMAGE_OPERATIONS)}",
                         code="unknown_operation")
    return parse(owner, fields)


# -- the first API's image edits: images as URLs (or uploaded files), checked before anything is queued --------


def _image_url(values: Values, param: Param, uploaded: frozenset[str]) -> str | None:
    """An input image: an http(s) URL in the field, or a file uploaded under it (then None here)."""
    if param.name in uploaded:
        if values.given(param.name):
            raise BadRequest(f"{param.name}: give a URL or upload a file, not both", code="bad_parameter")
        return None
    return values.read(param)


def _needed(params: dict, group: tuple[str, ...], uploaded: frozenset[str]) -> None:
    if any(params.get(name) or name in uploaded for name in group):
        return
    if len(group) == 1:
        raise BadRequest(f"{group[0]} is required: an http(s) URL of the image, or the image uploaded as the "
                         f"multipart file field {group[0].removesuffix('_url')}", code="missing_field")
    raise BadRequest(f"give at least one of {' and '.join(group)}", code="missing_field")


def edit_params(operation: str, owner: str, fields: Mapping[str, Any], uploaded: frozenset[str] = frozenset(), *,
                text: bool = False) -> dict:
    """An image edit's parameters, defaults filled in; `uploaded` names the URL fields given as files instead."""
    form = EDIT_FORMS[operation]
    values = Values(fields, text=text)
    params = {param.name: _image_url(values, param, uploaded) for param in form.image_urls}
    if operation == "remove_bg":  # the combo's settings: a saved or inline configuration, the format
        params.update(remove_bg_params(owner, fields, text=text))
    else:
        params.update({param.name: values.read(param) for param in form.fields})
    for group in form.needs:
        _needed(params, group, uploaded)
    return params


@dataclass(frozen=True)
class ImageEdit:
    """One route of the first API: which engines can run it, which fields are input images, how its body is read."""

    name: str
    engines: tuple[str, ...]  # by preference: without a request's `engine`, the first one configured runs it
    # What the local engine needs beyond the parse's own checks (one of them), and what it does not use:
    # {field: its default} (a note on the job says so when a request gives another value).
    local_needs: tuple[str, ...] = ()
    unused_locally: dict[str, Any] = field(default_factory=dict)

    @property
    def image_fields(self) -> tuple[str, ...]:
        return tuple(param.name for param in EDIT_FORMS[self.name].image_urls)

    def parse(self, owner: str, fields: Mapping[str, Any], uploaded: frozenset[str] = frozenset(), *,
              text: bool = False) -> dict:
        return edit_params(self.name, owner, fields, uploaded, text=text)


IMAGE_EDITS: dict[str, ImageEdit] = {edit.name: edit for edit in (
    ImageEdit("change_bg", (DASHSCOPE, LOCAL), local_needs=("ref_image_url",), unused_locally={"ref_prompt": ""}),
    ImageEdit("change_cloth", (DASHSCOPE,)),
    ImageEdit("expand", (DASHSCOPE, LOCAL), unused_locally={"prompt": EXPAND_DEFAULT_PROMPT}),
    ImageEdit("fix", (DASHSCOPE, LOCAL), unused_locally={"prompt": FIX_DEFAULT_PROMPT}),
    ImageEdit("remove_bg", (LOCAL,)),
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
