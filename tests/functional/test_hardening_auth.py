"""Issue #22, points 1 and 3: the login lock-out holds under a concurrent burst; a token is bound to its account."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from imgapi.auth import users
from imgapi.auth.tokens import issue_token
from imgapi_local.moto_atomic import is_atomic

BURST = 60
STATUS = "/api/v1/upscale/status/123e4567-e89b-42d3-a456-426614174000"  # 404 with a valid token


@pytest.fixture
def atomic_moto(stack):
    """The threads below need DynamoDB's per-item atomicity, as AWS gives it: the test stack has it
    (tests/support/in_memory_aws.py); moto alone is not thread-safe."""
    assert is_atomic()


def _login(api, username, password):
    return api.call("POST", "/api/v1/login", query=f"username={username}&password={password}")


def _burst(api, passwords, monkeypatch) -> tuple[list[int], list[str]]:
    """Every password tried for alice at the same moment; the statuses and the passwords actually checked."""
    checked, lock = [], threading.Lock()
    real_verify = users.verify_password

    def counting_verify(password, encoded):
        with lock:
            checked.append(password)
        return real_verify(password, encoded)

    monkeypatch.setattr(users, "verify_password", counting_verify)
    start = threading.Barrier(len(passwords))

    def attempt(password):
        start.wait()
        return _login(api, "alice", password).status

    with ThreadPoolExecutor(len(passwords)) as pool:
        return list(pool.map(attempt, passwords)), checked


@pytest.mark.parametrize("round_", range(5))
def test_a_concurrent_burst_of_wrong_passwords_checks_at_most_the_limit(api, alice, atomic_moto, monkeypatch, round_):
    statuses, checked = _burst(api, ["wrong-password"] * BURST, monkeypatch)
    assert len(checked) == 5, f"{len(checked)} passwords checked in one burst; the limit is 5"
    assert statuses.count(401) == 5 and statuses.count(429) == BURST - 5
    assert _login(api, "alice", "alice-password").status == 429  # locked, even for the right password


@pytest.mark.parametrize("round_", range(3))
def test_a_burst_with_the_right_password_in_it_checks_at_most_the_limit_on_each_side_of_the_success(
        api, alice, atomic_moto, monkeypatch, round_):
    # A success resets the count (documented), so at most 5 wrong passwords before it and 5 after it.
    passwords = ["wrong-password"] * BURST
    passwords[BURST // 2 + round_] = "alice-password"
    statuses, checked = _burst(api, passwords, monkeypatch)
    # Attempts reserved before the reset may be checked after it (checks overlap), so the bound is on the total.
    wrong = len(checked) - checked.count("alice-password")
    if "alice-password" in checked:
        assert wrong <= 10 and statuses.count(200) == 1, checked
    else:  # five wrong ones came first and locked the name, the right one included
        assert wrong == 5 and statuses.count(200) == 0, checked
    assert len(checked) == statuses.count(401) + statuses.count(200)
    assert statuses.count(429) == BURST - len(checked)


def test_a_token_does_not_work_for_a_re_created_user_of_the_same_name(api, stack):
    users.create_user("erin", "erin-password")
    token, _ = issue_token("erin")
    assert api.call("GET", STATUS, token=token).status == 404
    users.delete_user("erin")
    users.create_user("erin", "another-password")
    response = api.call("GET", STATUS, token=token)
    assert response.status == 401 and response.json()["code"] == "token_revoked"
    fresh = api.call("POST", "/api/v1/login", query="username=erin&password=another-password").json()["access_token"]
    assert api.call("GET", STATUS, token=fresh).status == 404


@pytest.mark.parametrize("revoke", ["password_change", "logout_everywhere"])
def test_a_password_change_or_logging_out_everywhere_revokes_earlier_tokens(api, stack, revoke):
    users.create_user("erin", "erin-password")
    token = api.call("POST", "/api/v1/login", query="username=erin&password=erin-password").json()["access_token"]
    assert api.call("GET", STATUS, token=token).status == 404
    if revoke == "password_change":
        users.set_password("erin", "a-new-password")
    else:
        users.revoke_tokens("erin")
    response = api.call("GET", STATUS, token=token)
    assert response.status == 401 and response.json()["code"] == "token_revoked"
