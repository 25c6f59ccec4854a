"""API keys: how servers call the API (no password, no token refresh). `X-Api-Key: imgapi_...` acts as its owner.

A key is `imgapi_` and 43 URL-safe characters (256 random bits). Only its SHA-256 is stored (ApiKeysTable's hash
key), so a key is shown once, when it is created, and a copy of the table does not let anyone call the API; a
lookup is one GetItem of the hash, so a revoked (deleted) key stops working at once. The owner-index (owner, key_id)
lists a user's keys and finds one of them by id, so another user's key id is simply not found.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta, timezone

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from imgapi.core import aws
from imgapi.core.errors import BadRequest, NotFound
from imgapi.core.parameters import STRING, UUID_FORMAT, Param
from imgapi.core.records import is_condition_failure, now_iso
from imgapi.core.request_body import closed_object
from imgapi.core.settings import get_settings

KEY_PREFIX = "imgapi_"
KEY_RANDOM_BYTES = 32  # 256 bits
SHOWN_PREFIX_CHARS = len(KEY_PREFIX) + 6  # what a listing shows to tell keys apart: imgapi_AbC12x
MAX_KEYS_PER_USER = 25
# last_used_at is written at most this often per key, so a busy key does not cost a write per request.
LAST_USED_GRANULARITY = timedelta(seconds=60)
OWNER_INDEX = "owner-index"

KEY_NAME = Param("name", STRING, "A name to recognise the key by (where it is used).", max_length=100,
                 pattern="\\S", expects="a name: a string of at most 100 characters, not blank", example="shop-backend")
KEY_ID_PATH = Param("key_id", STRING, "The key's id, as its creation or the listing answered it.",
                    format=UUID_FORMAT, code="bad_key_id")


def _table():
    return aws.table(get_settings().api_keys_table)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def looks_like_key(value: str) -> bool:
    return isinstance(value, str) and value.startswith(KEY_PREFIX) and len(value) <= 200


def _view(item: dict) -> dict:
    return {"id": item["key_id"], "name": item["name"], "prefix": item["prefix"], "created_at": item["created_at"],
            "last_used_at": item.get("last_used_at")}


def create_key(owner: str, body) -> dict:
    """A new key for `owner` from the request's JSON body {"name": ...}: the only answer that carries the key."""
    body = closed_object(body, (KEY_NAME.name,), '{"name": "..."}')
    name = KEY_NAME.read(body.get(KEY_NAME.name))
    if not name:
        raise BadRequest("name is required: a name to recognise the key by", code="missing_field")
    if len(list_keys(owner)) >= MAX_KEYS_PER_USER:
        raise BadRequest(f"at most {MAX_KEYS_PER_USER} API keys per user; revoke some first", code="too_many_keys")
    key = KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)
    item = {"key_hash": key_hash(key), "key_id": str(uuid.uuid4()), "owner": owner, "name": name,
            "prefix": key[:SHOWN_PREFIX_CHARS], "created_at": now_iso()}
    _table().put_item(Item=item, ConditionExpression="attribute_not_exists(key_hash)")
    return {"id": item["key_id"], "name": name, "key": key, "prefix": item["prefix"], "created_at": item["created_at"]}


def _owned(owner: str, key_id: str | None = None) -> list[dict]:
    condition = Key("owner").eq(owner)
    if key_id is not None:
        condition = condition & Key("key_id").eq(key_id)
    items, kwargs = [], {"IndexName": OWNER_INDEX, "KeyConditionExpression": condition}
    while True:
        page = _table().query(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def list_keys(owner: str) -> list[dict]:
    """The owner's keys, oldest first, never the key itself (it is not stored)."""
    return sorted((_view(item) for item in _owned(owner)), key=lambda view: (view["created_at"], view["id"]))


def revoke_key(owner: str, key_id: str) -> None:
    """Delete the owner's key: the next request with it is refused. Another user's key id is not found."""
    for item in _owned(owner, key_id):
        try:
            _table().delete_item(Key={"key_hash": item["key_hash"]}, ConditionExpression="#o = :o",
                                 ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":o": owner})
            return
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
    raise NotFound(f"no API key {key_id} of yours", code="key_not_found")


def revoke_all(owner: str) -> int:
    """Delete every key of `owner` (the account is being deleted: a new account of the same name must not inherit
    them); returns how many there were."""
    items = _owned(owner)
    for item in items:
        _table().delete_item(Key={"key_hash": item["key_hash"]})
    return len(items)


def owner_of(key: str) -> str | None:
    """The user a key acts as, or None for an unknown or revoked key. Notes when it was used (once a minute)."""
    if not looks_like_key(key):
        return None
    digest = key_hash(key)
    item = _table().get_item(Key={"key_hash": digest}, ConsistentRead=True).get("Item")
    if item is None:
        return None
    _note_use(digest, item.get("last_used_at"))
    return str(item["owner"])


def _note_use(digest: str, last_used_at: str | None) -> None:
    now = datetime.now(timezone.utc)
    if last_used_at:
        try:
            if now - datetime.fromisoformat(last_used_at.replace("Z", "+00:00")) < LAST_USED_GRANULARITY:
                return
        except ValueError:
            pass
    try:  # only while the key exists: a use racing its revocation must not bring it back
        _table().update_item(Key={"key_hash": digest}, UpdateExpression="SET last_used_at = :t",
                             ConditionExpression="attribute_exists(key_hash)",
                             ExpressionAttributeValues={":t": now_iso()})
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
