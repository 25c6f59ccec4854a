"""Saved background-removal configurations: which rembg model and how its mask is refined, owned by a user."""
from __future__ import annotations

import uuid
from typing import Any

from boto3.dynamodb.conditions import Key

from imgapi.core import aws
from imgapi.engine.cutout_settings import RemovalConfig
from imgapi.core.errors import BadRequest, Forbidden, NotFound
from imgapi.jobs.job_params import CONFIG, CONFIG_NAME, REMOVAL_SETTINGS
from imgapi.core.records import now_iso, plain
from imgapi.core.settings import get_settings

MAX_CONFIGS_PER_USER = 100


def default_config() -> RemovalConfig:
    return RemovalConfig(model=get_settings().default_rembg_model)


def parse_config(data: Any, *, text: bool = False) -> RemovalConfig:
    """A configuration from user input (a JSON object; `text`: it came in a form, which cannot carry one), refusing
    anything this deployment cannot run: each setting is checked against its declaration in job_params (the model
    against the deployment's models)."""
    values = CONFIG.read({} if data is None else data, text=text)
    return RemovalConfig(**{param.name: values[param.name] for param in REMOVAL_SETTINGS})


def config_from_dict(data: dict) -> RemovalConfig:
    """A configuration as stored on a job (already validated when it was saved)."""
    values = dict(data)
    if values.get("bgcolor"):
        values["bgcolor"] = tuple(int(c) for c in values["bgcolor"])
    fields = RemovalConfig.__dataclass_fields__
    return RemovalConfig(**{k: v for k, v in values.items() if k in fields})


def _table():
    return aws.table(get_settings().configs_table)


def save_config(owner: str, data: Any) -> dict:
    if not isinstance(data, dict):
        raise CONFIG.refuse(data, "a JSON object of settings")
    config = parse_config(data)
    name = CONFIG_NAME.read(data.get("name"))
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
    """The owner's saved configuration; every caller's config_id has been checked as a UUID (job_params.CONFIG_ID_PATH)."""
    item = _table().get_item(Key={"config_id": config_id}).get("Item")
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
