"""Issue #22, point 3: logging out everywhere and changing the password revoke every earlier token, through the API
(POST /api/v1/auth/logout-all, POST /api/v1/auth/password); API keys and other users' tokens are not touched."""
from __future__ import annotations

import pytest

from imgapi.auth import api_keys, users

STATUS = "/api/v1/upscale/status/123e4567-e89b-42d3-a456-426614174000"  # 404 with a valid token
LOGOUT_ALL, PASSWORD = "/api/v1/auth/logout-all", "/api/v1/auth/password"


def _login(api, username, password):
    return api.call("POST", "/api/v1/login", json_body={"username": username, "password": password})


def _token(api, username, password) -> str:
    response = _login(api, username, password)
    assert response.status == 200, response.body
    return response.json()["access_token"]


def _works(api, token) -> bool:
    response = api.call("GET", STATUS, token=token)
    assert response.status in (404, 401), response.body
    return response.status == 404


def _revoked(api, token) -> bool:
    response = api.call("GET", STATUS, token=token)
    return response.status == 401 and response.json()["code"] == "token_revoked"


def _change(api, token, current, new):
    return api.call("POST", PASSWORD, token=token, json_body={"current_password": current, "new_password": new})


def test_logging_out_everywhere_revokes_every_earlier_token_of_the_caller_only(api, alice, bob):
    other_session = _token(api, "alice", "alice-password")
    key = api_keys.create_key("alice", {"name": "server"})["key"]
    assert _works(api, alice) and _works(api, other_session) and _works(api, bob)
    answer = api.call("POST", LOGOUT_ALL, token=alice)
    assert answer.status == 204 and not answer.body
    assert _revoked(api, alice) and _revoked(api, other_session)
    assert api.call("POST", LOGOUT_ALL, token=alice).status == 401  # the caller's own token went too
    assert _works(api, bob)  # another user's tokens are not touched
    assert api.call("GET", STATUS, headers={"x-api-key": key}).status == 404  # API keys are not revoked (documented)
    assert _works(api, _token(api, "alice", "alice-password"))  # a new login works


def test_an_api_key_may_log_its_user_out_everywhere(api, alice):
    key = api_keys.create_key("alice", {"name": "ops"})["key"]
    assert api.call("POST", LOGOUT_ALL, headers={"x-api-key": key}).status == 204
    assert _revoked(api, alice)


def test_a_password_change_revokes_earlier_tokens_and_only_the_new_password_logs_in(api, alice, bob):
    other_session = _token(api, "alice", "alice-password")
    key = api_keys.create_key("alice", {"name": "server"})["key"]
    assert _change(api, alice, "alice-password", "a-brand-new-password").status == 204
    assert _revoked(api, alice) and _revoked(api, other_session)
    assert _login(api, "alice", "alice-password").status == 401
    assert _works(api, _token(api, "alice", "a-brand-new-password"))
    assert _works(api, bob)
    assert api.call("GET", STATUS, headers={"x-api-key": key}).status == 404


@pytest.mark.parametrize("body,status,code", [
    ({"current_password": "wrong-password", "new_password": "a-brand-new-password"}, 401, "invalid_credentials"),
    ({"current_password": "alice-password", "new_password": "short"}, 400, "bad_password"),
    ({"current_password": "alice-password"}, 400, "missing_field"),
    ({"current_password": "alice-password", "new_password": 12345678}, 400, "bad_password"),
    ({"current_password": "alice-password", "new_password": "a-brand-new-password", "username": "bob"}, 400,
     "bad_parameter"),
])
def test_a_refused_password_change_changes_nothing(api, alice, body, status, code):
    answer = api.call("POST", PASSWORD, token=alice, json_body=body)
    assert answer.status == status and answer.json()["code"] == code, answer.body
    assert b"alice-password" not in answer.body and b"a-brand-new-password" not in answer.body
    assert _works(api, alice)
    assert users.authenticate("alice", "alice-password") is not None


def test_wrong_current_passwords_count_towards_the_login_lock_out(api, alice):
    for _ in range(5):
        assert _change(api, alice, "wrong-password", "a-brand-new-password").status == 401
    locked = _change(api, alice, "alice-password", "a-brand-new-password")
    assert locked.status == 429 and locked.json()["code"] == "login_locked" and int(locked.headers["retry-after"]) > 0
    assert _login(api, "alice", "alice-password").status == 429  # the same lock-out as logging in
    assert users.authenticate("alice", "alice-password") is not None and _works(api, alice)


def test_a_right_current_password_resets_the_count(api, alice):
    for _ in range(4):
        assert _change(api, alice, "wrong-password", "a-brand-new-password").status == 401
    assert _change(api, alice, "alice-password", "a-brand-new-password").status == 204
    fresh = _token(api, "alice", "a-brand-new-password")
    for _ in range(4):
        assert _change(api, fresh, "wrong-password", "another-new-password").status == 401
    assert _change(api, fresh, "a-brand-new-password", "another-new-password").status == 204


@pytest.mark.parametrize("path", [LOGOUT_ALL, PASSWORD])
def test_the_account_routes_need_a_token(api, alice, path):
    answer = api.call("POST", path, json_body={"current_password": "alice-password", "new_password": "x" * 12})
    assert answer.status == 401 and answer.json()["code"] == "missing_token"
    assert _works(api, alice)
