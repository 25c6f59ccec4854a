"""Saved background-removal configurations: which rembg model and how its mask is refined, owned by a user."""
from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from . import aws
from .errors import BadRequest, Forbidden, NotFound
from .records import now_iso, plain
from .settings import get_settings

MAX_CONFIGS_PER_USER = 100
_HEX_COLOUR = re.compile(r"^#?([0-9a-fA-F]{6})([0-9a-fA-F]{2})?$")


@dataclass(frozen=True)
class RemovalConfig:
    model: str
    alpha_matting: bool = False
    alpha_matting_foreground_threshold: int = 240
    alpha_matting_background_threshold: int = 10
    alpha_matting_erode_size: int = 10
    post_process_mask: bool = False
    bgcolor: tuple[int, int, int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bgcolor"] = list(self.bgcolor) if self.bgcolor else None
        return data


def default_config() -> RemovalConfig:
    return RemovalConfig(model=get_settings().default_rembg_model)


def _bool(data: dict, name: str, default: bool) -> bool:
    value = data.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRequest(f"{name} must be true or false")


def _int(data: dict, name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    try:
        number = int(value)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer from {low} to {high}") from exc
    if number != float(value) or not low <= number <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return number


def _colour(value: Any) -> tuple[int, int, int, int] | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        match = _HEX_COLOUR.match(value)
        if not match:
            raise BadRequest("bgcolor must be '#rrggbb', '#rrggbbaa' or [r, g, b, a]")
        raw = match.group(1) + (match.group(2) or "ff")
        return tuple(int(raw[i:i + 2], 16) for i in range(0, 8, 2))  # type: ignore[return-value]
    if isinstance(value, list) and len(value) in (3, 4) and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value):
        return tuple(value) + ((255,) if len(value) == 3 else ())  # type: ignore[return-value]
    raise BadRequest("bgcolor must be '#rrggbb', '#rrggbbaa' or [r, g, b, a] with values 0-255")


def parse_config(data: dict) -> RemovalConfig:
    """A configuration from user input, refusing anything this deployment cannot run."""
    if not isinstance(data, dict):
        raise BadRequest("the configuration must be a JSON object")
    known = set(RemovalConfig.__dataclass_fields__) | {"name"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadRequest(f"unknown configuration field(s): {', '.join(unknown)}")
    settings = get_settings()
    model = data.get("model", settings.default_rembg_model)
    if model not in settings.rembg_models:
        raise BadRequest(
            f"model {model!r} is not available in this deployment; available: {', '.join(settings.rembg_models)}",
            code="model_unavailable",
        )
    return RemovalConfig(
        model=model,
        alpha_matting=_bool(data, "alpha_matting", False),
        alpha_matting_foreground_threshold=_int(data, "alpha_matting_foreground_threshold", 240, 0, 255),
        alpha_matting_background_threshold=_int(data, "alpha_matting_background_threshold", 10, 0, 255),
        alpha_matting_erode_size=_int(data, "alpha_matting_erode_size", 10, 0, 40),
        post_process_mask=_bool(data, "post_process_mask", False),
        bgcolor=_colour(data.get("bgcolor")),
    )


def config_from_dict(data: dict) -> RemovalConfig:
    """A configuration as stored on a job (already validated when it was saved)."""
    values = dict(data)
    if values.get("bgcolor"):
        values["bgcolor"] = tuple(int(c) for c in values["bgcolor"])
    fields = RemovalConfig.__dataclass_fields__
    return RemovalConfig(**{k: v for k, v in values.items() if k in fields})


def _table():
    return aws.table(get_settings().configs_table)


def _name(data: dict) -> str:
    name = data.get("name", "")
    if not isinstance(name, str) or len(name) > 100:
        raise BadRequest("name must be a string of at most 100 characters")
    return name


def save_config(owner: str, data: dict) -> dict:
    config = parse_config(data)
    name = _name(data)
    if len(list_configs(owner)) >= MAX_CONFIGS_PER_USER:
        raise BadRequest(f"at most {MAX_CONFIGS_PER_USER} configurations per user; delete some first")
    item = {"config_id": str(uuid.uuid4()), "owner": owner, "name": name, "created_at": now_iso(),
            "settings": config.to_dict()}
    _table().put_item(Item=item)
    return item


def list_configs(owner: str) -> list[dict]:
    items, kwargs = [], {"IndexName": "owner-index", "KeyConditionExpression": Key("owner").eq(owner)}
    while True:
        page = _table().query(**kwargs)
        items.extend(plain(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: i["created_at"])
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def get_config(owner: str, config_id: str) -> dict:
    item = _table().get_item(Key={"config_id": config_id}).get("Item") if config_id else None
    if item is None:
        raise NotFound(f"configuration {config_id} not found", code="config_not_found")
    if item["owner"] != owner:
        raise Forbidden(f"configuration {config_id} belongs to another user", code="config_forbidden")
    return plain(item)


def delete_config(owner: str, config_id: str) -> None:
    get_config(owner, config_id)
    _table().delete_item(Key={"config_id": config_id})


def resolve_config(owner: str, config_id: str | None) -> RemovalConfig:
    """The configuration a job runs with: the saved one named, or the deployment's default."""
    if not config_id:
        return default_config()
    return config_from_dict(get_config(owner, config_id)["settings"])
