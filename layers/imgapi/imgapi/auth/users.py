"""Users: who may log in, stored in the users table with only a password hash."""
from __future__ import annotations

import re
import time

from botocore.exceptions import ClientError

from imgapi.core import aws
from imgapi.core.errors import BadRequest, Conflict, NotFound
from imgapi.core.records import is_condition_failure
from imgapi.auth.passwords import DUMMY_HASH, hash_password, verify_password
from imgapi.core.settings import get_settings
from imgapi.core.vocabulary import OPERATIONS

# Usernames end up in S3 keys and logs: keep them to a safe alphabet.
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 8


def _table():
    return aws.table(get_settings().users_table)


def validate_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_PATTERN.match(username):
        raise BadRequest("username must be 1-64 characters of letters, digits, '_', '.', '@' or '-'")
    # A user's keys are <prefix>/<username>/...: "." and ".." would be path segments a browser rewrites, and
    # results/<operation>/ is where the batch inbox mirrors its results.
    if set(username) == {"."} or username in OPERATIONS:
        raise BadRequest(f"username {username!r} is reserved; choose another")
    return username


def create_user(username: str, password: str) -> None:
    validate_username(username)
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    try:
        _table().put_item(
            Item={"username": username, "password_hash": hash_password(password), "created_at": int(time.time())},
            ConditionExpression="attribute_not_exists(username)",
        )
    except ClientError as exc:
        if is_condition_failure(exc):
            raise Conflict(f"user {username!r} already exists") from exc
        raise


def delete_user(username: str) -> None:
    try:
        _table().delete_item(Key={"username": username}, ConditionExpression="attribute_exists(username)")
    except ClientError as exc:
        if is_condition_failure(exc):
            raise NotFound(f"user {username!r} does not exist") from exc
        raise


def list_usernames() -> list[str]:
    table, names, kwargs = _table(), [], {"ProjectionExpression": "username"}
    while True:
        page = table.scan(**kwargs)
        names.extend(item["username"] for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return sorted(names)
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def user_exists(username: str) -> bool:
    return "Item" in _table().get_item(Key={"username": username}, ProjectionExpression="username")


def authenticate(username: str, password: str) -> bool:
    """True when the password is right. Always runs one hash check, so timing does not reveal who exists."""
    item = None
    if isinstance(username, str) and USERNAME_PATTERN.match(username):
        item = _table().get_item(Key={"username": username}).get("Item")
    encoded = item["password_hash"] if item else DUMMY_HASH
    ok = verify_password(password if isinstance(password, str) else "", encoded)
    return ok and item is not None
