"""Logging in: credentials from the query string (as the seed client sends them), a form or JSON."""
from __future__ import annotations

from . import login_throttle, users
from .errors import BadRequest, Unauthorized
from .request_body import parse_form
from .tokens import issue_token


def credentials(raw_event: dict) -> tuple[str, str]:
    query = raw_event.get("queryStringParameters") or {}
    fields = parse_form(raw_event).fields
    username = query.get("username") or fields.get("username")
    password = query.get("password") or fields.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise BadRequest("username and password are required (query parameters, a form or a JSON body)",
                         code="missing_credentials")
    return username, password


def login(raw_event: dict) -> dict:
    username, password = credentials(raw_event)
    login_throttle.check_not_locked(username)
    if not users.authenticate(username, password):
        login_throttle.record_failure(username)
        raise Unauthorized("invalid username or password", code="invalid_credentials")
    login_throttle.record_success(username)
    token, ttl = issue_token(username)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}
