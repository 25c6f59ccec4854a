"""Users: who may log in, stored in the users table with only a password hash."""
from __future__ import annotations

import re
import secrets
import time

from botocore.exceptions import ClientError

from imgapi.auth import api_keys
from imgapi.core import aws
from imgapi.core.errors import BadRequest, Conflict, NotFound
from imgapi.core.records import is_condition_failure
from imgapi.auth.passwords import dummy_hash, hash_password, verify_password
from imgapi.core.settings import get_settings
from imgapi.core.vocabulary import OPERATIONS

# Usernames end up in S3 keys and logs: keep them to a safe alphabet.
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 8
# Each account instance carries a random token generation; every token embeds it and every request checks it,
# so a deleted and re-created user, a password change or "log out everywhere" revoke all earlier tokens.
TOKEN_GENERATION = "token_generation"


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


def validate_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"password must be at least {MIN_PASSWORD_LENGTH} characters", code="bad_password")
    return password


def create_user(username: str, password: str) -> None:
    validate_username(username)
    validate_password(password)
    try:
        _table().put_item(
            Item={"username": username, "password_hash": hash_password(password), "created_at": int(time.time()),
                  TOKEN_GENERATION: _new_generation()},
            ConditionExpression="attribute_not_exists(username)",
        )
    except ClientError as exc:
        if is_condition_failure(exc):
            raise Conflict(f"user {username!r} already exists") from exc
        raise


def _new_generation() -> str:
    return secrets.token_hex(16)


def revoke_tokens(username: str) -> None:
    """Log out everywhere: every token issued so far for this user stops working."""
    try:
        _table().update_item(Key={"username": username}, UpdateExpression="SET #g = :g",
                             ConditionExpression="attribute_exists(username)",
                             ExpressionAttributeNames={"#g": TOKEN_GENERATION},
                             ExpressionAttributeValues={":g": _new_generation()})
    except ClientError as exc:
        if is_condition_failure(exc):
            raise NotFound(f"user {username!r} does not exist") from exc
        raise


def set_password(username: str, password: str) -> None:
    """A new password; earlier tokens are revoked with it."""
    validate_password(password)
    try:
        _table().update_item(Key={"username": username}, UpdateExpression="SET password_hash = :h, #g = :g",
                             ConditionExpression="attribute_exists(username)",
                             ExpressionAttributeNames={"#g": TOKEN_GENERATION},
                             ExpressionAttributeValues={":h": hash_password(password), ":g": _new_generation()})
    except ClientError as exc:
        if is_condition_failure(exc):
            raise NotFound(f"user {username!r} does not exist") from exc
        raise


def delete_user(username: str) -> None:
    """Delete the account, its tokens (their generation goes with the row) and its API keys. The keys go first: if
    revoking fails partway, the account is still there and deleting it again finishes the job (the other way round,
    a retry would answer NotFound and leave keys that a new account of the same name would inherit)."""
    if token_generation(username) is None:
        raise NotFound(f"user {username!r} does not exist")
    api_keys.revoke_all(username)
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


def token_generation(username: str) -> str | None:
    """The account's current token generation: None when the user does not exist, "" for an account made
    before generations existed. Reads only the attributes the API functions may read (template.yaml)."""
    item = _table().get_item(Key={"username": username}, ProjectionExpression="username, #g",
                             ExpressionAttributeNames={"#g": TOKEN_GENERATION}).get("Item")
    return None if item is None else str(item.get(TOKEN_GENERATION, ""))


def authenticate(username: str, password: str) -> str | None:
    """The account's token generation when the password is right, else None. Always runs one hash check, so
    timing does not reveal who exists."""
    item = None
    if isinstance(username, str) and USERNAME_PATTERN.match(username):
        item = _table().get_item(Key={"username": username}).get("Item")
    encoded = item["password_hash"] if item else dummy_hash()
    ok = verify_password(password if isinstance(password, str) else "", encoded)
    return str(item.get(TOKEN_GENERATION, "")) if ok and item is not None else None
