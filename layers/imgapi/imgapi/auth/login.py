"""Logging in: credentials from the query string (as the seed client sends them), a form or JSON."""
from __future__ import annotations

from imgapi.auth import login_throttle

from imgapi.auth import users
from imgapi.core.errors import BadRequest, Unauthorized
from imgapi.core.parameters import STRING, Param, Values
from imgapi.core.request_body import parse_form
from imgapi.auth.tokens import issue_token

# Not blank: the lock-out counts failures per username with surrounding spaces stripped.
USERNAME = Param("username", STRING, "The user's name.", max_length=128, pattern="\\S", code="bad_credentials",
                 expects="a user name: a string of at most 128 characters, not blank", example="alice")
PASSWORD = Param("password", STRING, "The user's password.", max_length=1024, code="bad_credentials", secret=True,
                 extra_schema={"format": "password"})


def credentials(raw_event: dict) -> tuple[str, str]:
    # Each value checked as declared above (a string, bounded): the query's, else the body's.
    query = Values(raw_event.get("queryStringParameters"), text=True)
    body = Values(parse_form(raw_event).fields, text=False)
    username = query.read(USERNAME) or body.read(USERNAME)
    password = query.read(PASSWORD) or body.read(PASSWORD)
    if not username or not password:
        raise BadRequest("username and password are required (query parameters, a form or a JSON body)",
                         code="missing_credentials")
    return username, password


def login(raw_event: dict) -> dict:
    username, password = credentials(raw_event)
    # Counted as a failure before the (slow) password check, atomically: a burst cannot check more passwords
    # than the limit; a success gives the attempt back.
    login_throttle.reserve_attempt(username)
    generation = users.authenticate(username, password)
    if generation is None:
        raise Unauthorized("invalid username or password", code="invalid_credentials")
    login_throttle.record_success(username)
    token, ttl = issue_token(username, generation=generation)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}
