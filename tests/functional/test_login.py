"""POST /api/v1/login, and how every other route treats tokens."""
from __future__ import annotations

import time

import jwt
import pytest

from imgapi.auth import users
from imgapi.auth.tokens import ALGORITHM, ISSUER, issue_token, signing_key, verify_token


def test_login_with_query_parameters_as_the_seed_client_does(api, alice):
    response = api.call("POST", "/api/v1/login", query="username=alice&password=alice-password")
    assert response.status == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert verify_token(body["access_token"])["sub"] == "alice"


@pytest.mark.parametrize("how", ["json", "form", "urlencoded"])
def test_login_with_a_body(api, alice, how):
    creds = {"username": "alice", "password": "alice-password"}
    if how == "json":
        response = api.call("POST", "/api/v1/login", json_body=creds)
    elif how == "form":
        response = api.call("POST", "/api/v1/login", form=creds)
    else:
        response = api.call("POST", "/api/v1/login", body=b"username=alice&password=alice-password",
                            headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status == 200, response.body
    assert response.json()["access_token"]


@pytest.mark.parametrize("query", ["username=alice&password=wrong-password", "username=nobody&password=whatever-pw"])
def test_wrong_password_or_unknown_user_is_401_with_the_same_message(api, alice, query):
    response = api.call("POST", "/api/v1/login", query=query)
    assert response.status == 401
    assert response.json() == {"error": "invalid username or password", "code": "invalid_credentials"}


def test_missing_credentials_is_400(api, stack):
    response = api.call("POST", "/api/v1/login")
    assert response.status == 400
    assert response.json()["code"] == "missing_credentials"


def test_passwords_are_stored_as_salted_scrypt_hashes(stack):
    users.create_user("carol", "carol-password")
    users.create_user("dave", "carol-password")
    from imgapi.core import aws
    from imgapi.core.settings import get_settings

    table = aws.table(get_settings().users_table)
    carol = table.get_item(Key={"username": "carol"})["Item"]["password_hash"]
    dave = table.get_item(Key={"username": "dave"})["Item"]["password_hash"]
    assert carol.startswith("scrypt$") and "carol-password" not in carol
    assert carol != dave  # same password, different salt


def _status(api, **kwargs):
    return api.call("GET", "/api/v1/upscale/status/00000000-0000-4000-8000-00000000abcd", **kwargs).status


def test_protected_route_without_a_token_is_401(api, alice):
    response = api.call("GET", "/api/v1/upscale/status/00000000-0000-4000-8000-00000000abcd")
    assert response.status == 401
    assert response.json()["code"] == "missing_token"


def test_token_accepted_as_bearer_header_and_as_query_parameter(api, alice):
    assert _status(api, token=alice) == 404  # authenticated; the task just does not exist
    assert _status(api, query=f"token={alice}") == 404


@pytest.mark.parametrize("bad", ["garbage", "a.b.c", "Bearer", ""])
def test_malformed_tokens_are_401(api, alice, bad):
    assert _status(api, headers={"authorization": f"Bearer {bad}"}) == 401


def test_expired_forged_and_unsigned_tokens_are_401(api, alice):
    now = int(time.time())
    claims = {"sub": "alice", "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600, "iss": ISSUER}
    expired = jwt.encode(claims, signing_key(), algorithm=ALGORITHM)
    forged = jwt.encode({**claims, "exp": now + 3600}, "another-key-entirely-another-key", algorithm=ALGORITHM)
    unsigned = jwt.encode({**claims, "exp": now + 3600}, None, algorithm="none")
    for token in (expired, forged, unsigned):
        assert _status(api, token=token) == 401
    response = api.call("GET", "/api/v1/upscale/status/x", token=expired)
    assert response.json()["code"] == "token_expired"


def test_token_of_a_deleted_user_is_401(api, stack):
    users.create_user("erin", "erin-password")
    token, _ = issue_token("erin")
    assert _status(api, token=token) == 404
    users.delete_user("erin")
    assert _status(api, token=token) == 401


def test_health_needs_no_token(api, stack):
    response = api.call("GET", "/api/v1/health")
    assert response.status == 200 and response.json() == {"status": "ok"}


def _login(api, username, password):
    return api.call("POST", "/api/v1/login", query=f"username={username}&password={password}")


@pytest.mark.parametrize("username", ["alice", "nobody-at-all"])
def test_repeated_failures_lock_the_username_for_a_while_whether_or_not_it_exists(api, alice, username, monkeypatch):
    from imgapi.auth import login_throttle

    for _ in range(4):
        assert _login(api, username, "wrong-password").status == 401
    assert _login(api, username, "wrong-password").status == 401  # the fifth failure locks it
    locked = _login(api, username, "alice-password")
    assert locked.status == 429 and locked.json()["code"] == "login_locked"
    assert 1 <= int(locked.headers["retry-after"]) <= 301
    # Another username is not affected, and the lock ends by itself.
    assert _login(api, "bob", "whatever-pw").status == 401
    later = time.time() + 301
    monkeypatch.setattr(login_throttle.time, "time", lambda: later)
    if username == "alice":
        assert _login(api, "alice", "alice-password").status == 200
    else:
        assert _login(api, username, "wrong-password").status == 401


def test_a_success_resets_the_count(api, alice):
    for _ in range(4):
        _login(api, "alice", "wrong-password")
    assert _login(api, "alice", "alice-password").status == 200
    for _ in range(4):
        assert _login(api, "alice", "wrong-password").status == 401
    assert _login(api, "alice", "alice-password").status == 200


def test_a_failed_login_does_the_same_work_for_known_and_unknown_users(api, alice, monkeypatch):
    """One scrypt check either way, so the response time does not reveal which usernames exist."""
    from imgapi.auth import passwords
    from imgapi.auth import users as users_module

    checks = []
    real = passwords.verify_password
    monkeypatch.setattr(users_module, "verify_password", lambda p, e: checks.append(e) or real(p, e))
    _login(api, "alice", "wrong-password")
    _login(api, "nobody-at-all", "wrong-password")
    assert len(checks) == 2 and checks[1] == passwords.dummy_hash() and checks[0] != passwords.dummy_hash()
