"""Each user's webhook settings, in a table of their own (WebhookSecretsTable, one item per username): the signing
secret, made on first use; the previous secret and until when it still signs after a rotation; the default URL of
the jobs S3 starts (direct uploads, the batch folder's) that name none.

Its own table, so that the users table (password hashes) stays readable by the login alone, and only the functions
that sign or show secrets may read them (the ingest and uploads functions read the default URL alone). Secrets are
never logged.
"""
from __future__ import annotations

import time

from botocore.exceptions import ClientError

from imgapi.core import aws
from imgapi.core.errors import BadRequest
from imgapi.core.parameters import STRING, URL_FORMAT, Param
from imgapi.core.records import is_condition_failure, iso_at, now_iso
from imgapi.core.request_body import closed_object
from imgapi.core.settings import get_webhook_settings
from imgapi.core.vocabulary import MAX_URL_CHARS
from imgapi.core.webhooks import check_target, new_secret

DEFAULT_URL = Param("default_url", STRING, "The webhook URL of the jobs S3 starts that name none: direct uploads, and "
                    "the batch folder's when you are its owner; null removes it. Only public http(s) hosts.", format=URL_FORMAT,
                    max_length=MAX_URL_CHARS, code="bad_webhook_url", example="https://example.com/hooks/imgapi")


def _table():
    return aws.table(get_webhook_settings().secrets_table)


def _ensure(username: str) -> dict:
    """The user's item with a secret in it, making the secret on first use (concurrent first uses get the same)."""
    item = _table().get_item(Key={"username": username}, ConsistentRead=True).get("Item")
    if item and item.get("secret"):
        return item
    return _table().update_item(
        Key={"username": username},
        UpdateExpression="SET secret = if_not_exists(secret, :s), created_at = if_not_exists(created_at, :now)",
        ExpressionAttributeValues={":s": new_secret(), ":now": now_iso()}, ReturnValues="ALL_NEW")["Attributes"]


def view(item: dict, now: float | None = None) -> dict:
    """What GET /api/v1/webhook-secret and its rotation answer: the secret, and until when the previous one still
    signs deliveries (null once it no longer does)."""
    until = int(item.get("previous_until") or 0)
    now = time.time() if now is None else now
    return {"secret": item["secret"], "created_at": item.get("created_at"),
            "previous_secret_expires_at": iso_at(until) if until > now else None}


def current(username: str) -> dict:
    return view(_ensure(username))


def rotate(username: str, now: float | None = None) -> dict:
    """A new secret; the previous one keeps signing (beside it) for WEBHOOK_ROTATION_GRACE_SECONDS."""
    now = time.time() if now is None else now
    for _ in range(3):
        old = _ensure(username)["secret"]
        try:
            item = _table().update_item(
                Key={"username": username},
                UpdateExpression="SET secret = :new, previous_secret = :old, previous_until = :until, created_at = :now",
                ConditionExpression="secret = :old",
                ExpressionAttributeValues={":new": new_secret(), ":old": old, ":now": now_iso(),
                                           ":until": int(now) + get_webhook_settings().rotation_grace_seconds},
                ReturnValues="ALL_NEW")["Attributes"]
        except ClientError as exc:
            if is_condition_failure(exc):
                continue  # rotated meanwhile by another request: rotate what is there now
            raise
        return view(item, now)
    raise RuntimeError("the webhook secret kept changing while it was rotated")


def signing_secrets(username: str, now: float | None = None) -> list[str]:
    """The secrets a delivery is signed with: the current one, and the previous one during its grace period."""
    item = _ensure(username)
    now = time.time() if now is None else now
    previous = item.get("previous_secret")
    return [item["secret"]] + ([previous] if previous and int(item.get("previous_until") or 0) > now else [])


def default_url(username: str) -> str | None:
    """The user's default webhook URL (that attribute alone is read: the ingest function may not read secrets)."""
    item = _table().get_item(Key={"username": username}, ProjectionExpression="username, default_url").get("Item")
    return (item or {}).get("default_url") or None


def set_default_url(username: str, body: object) -> dict:
    """PUT /api/v1/webhook-settings {"default_url": "https://..." | null}: checked as a submit's webhook_url is."""
    if DEFAULT_URL.name not in closed_object(body, (DEFAULT_URL.name,), '{"default_url": "https://..."}'):
        raise BadRequest('send {"default_url": "https://..."}, or null to remove it', code="missing_field")
    url = DEFAULT_URL.read(body[DEFAULT_URL.name])
    if url:
        check_target(url)
        _table().update_item(Key={"username": username}, UpdateExpression="SET default_url = :u",
                             ExpressionAttributeValues={":u": url})
    else:
        _table().update_item(Key={"username": username}, UpdateExpression="REMOVE default_url")
    return {"default_url": url or None}


def settings_view(username: str) -> dict:
    return {"default_url": default_url(username)}
