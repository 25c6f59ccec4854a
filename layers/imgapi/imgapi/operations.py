"""The operations a job can run, and how each one's parameters are read and checked.

One place for it, so the API routes, S3-triggered jobs and the CLI accept exactly the same parameters.
"""
from __future__ import annotations

from typing import Any, Callable

from .enhance import DEFAULT_LEVEL, LEVELS
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


def combo_params(owner: str, fields: dict[str, Any]) -> dict:
    level = fields.get("enhance_level") or DEFAULT_LEVEL
    if level not in LEVELS:
        raise BadRequest(f"enhance_level must be one of {', '.join(LEVELS)}; got {level!r}", code="bad_enhance_level")
    return {"enhance_level": level, **_config(owner, fields)}


def remove_bg_params(owner: str, fields: dict[str, Any]) -> dict:
    return _config(owner, fields)


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
