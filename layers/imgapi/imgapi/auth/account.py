"""A logged-in user's own account: logging out everywhere and changing the password, both revoking earlier tokens.

Both replace the account's token generation (users.revoke_tokens, users.set_password), so every token issued before
is refused from the next request on (401 token_revoked), the caller's own included. API keys are not touched: they
are revoked one by one (DELETE /api/v1/api-keys/{key_id}), or all at once by deleting the account.

A password change checks the current password the way a login does: the attempt is counted against the username's
lock-out before the password is checked (login_throttle.reserve_attempt), so a stolen token cannot be used to guess
the password faster than logging in could.
"""
from __future__ import annotations

from imgapi.auth import login_throttle, users
from imgapi.core.errors import BadRequest, Unauthorized
from imgapi.core.parameters import STRING, Param, Values
from imgapi.core.request_body import closed_object, parse_json, raw_body

CURRENT_PASSWORD = Param("current_password", STRING, "The password the account has now.", max_length=1024,
                         code="bad_credentials", secret=True, extra_schema={"format": "password"})
NEW_PASSWORD = Param("new_password", STRING, f"The new password: at least {users.MIN_PASSWORD_LENGTH} characters.",
                     max_length=1024, code="bad_password", secret=True, extra_schema={"format": "password"})
FIELDS = (CURRENT_PASSWORD, NEW_PASSWORD)


def logout_everywhere(owner: str) -> None:
    """Every token issued so far for `owner` stops working; its API keys keep working."""
    users.revoke_tokens(owner)


def change_password(owner: str, raw_event: dict) -> None:
    """The JSON body {"current_password", "new_password"}: the password is replaced and earlier tokens revoked."""
    body = closed_object(parse_json(raw_body(raw_event) or b"{}"), tuple(p.name for p in FIELDS),
                         '{"current_password": "...", "new_password": "..."}')
    values = Values(body, text=False)
    current, new = values.read(CURRENT_PASSWORD), values.read(NEW_PASSWORD)
    if not current or not new:
        raise BadRequest("current_password and new_password are required", code="missing_field")
    users.validate_password(new)  # before the attempt is counted: a too-short new password costs no attempt
    login_throttle.reserve_attempt(owner)
    if users.authenticate(owner, current) is None:
        raise Unauthorized("the current password is wrong", code="invalid_credentials")
    login_throttle.record_success(owner)
    users.set_password(owner, new)
