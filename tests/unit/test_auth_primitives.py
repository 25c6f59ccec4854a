"""Password hashing and token verification on their own."""
from __future__ import annotations

import time

import jwt
import pytest

from imgapi.core.errors import Unauthorized
from imgapi.auth.passwords import hash_password, verify_password
from imgapi.auth.tokens import ALGORITHM, ISSUER, issue_token, verify_token

KEY = "k" * 64


def test_password_round_trip_and_salting():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("wrong horse", first)


@pytest.mark.parametrize("encoded", ["", "plain", "md5$abc", "scrypt$x$8$1$AA==$AA=="])
def test_malformed_stored_hashes_never_verify(encoded):
    assert not verify_password("anything", encoded)


def test_issued_token_verifies_with_its_claims():
    token, ttl = issue_token("alice", ttl_seconds=120, key=KEY)
    claims = verify_token(token, key=KEY)
    assert claims["sub"] == "alice" and claims["iss"] == ISSUER and claims["exp"] - claims["iat"] == 120 == ttl


def _token(**overrides):
    now = int(time.time())
    claims = {"sub": "alice", "iat": now, "nbf": now, "exp": now + 60, "iss": ISSUER, **overrides}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, KEY, algorithm=ALGORITHM)


@pytest.mark.parametrize("token", [
    _token(exp=int(time.time()) - 60),
    _token(nbf=int(time.time()) + 600),
    _token(sub=None),
    _token(sub=""),
    _token(iss="someone-else"),
    _token(exp=None),
    jwt.encode({"sub": "alice", "exp": int(time.time()) + 60, "iat": 0, "iss": ISSUER}, "other-key" * 8, algorithm=ALGORITHM),
    jwt.encode({"sub": "alice", "exp": int(time.time()) + 60, "iat": 0, "iss": ISSUER}, None, algorithm="none"),
    "not-a-token",
])
def test_invalid_tokens_are_refused(token):
    with pytest.raises(Unauthorized):
        verify_token(token, key=KEY)


@pytest.mark.parametrize("name", [".", "..", "combo", "remove_bg", "change_cloth", "", "a/b", "x" * 65, "name with space"])
def test_unsafe_or_reserved_usernames_are_refused(name):
    from imgapi.core.errors import BadRequest
    from imgapi.auth.users import validate_username

    with pytest.raises(BadRequest):
        validate_username(name)


@pytest.mark.parametrize("name", ["alice", "a.b", "ops@example.com", "combo2", "...a"])
def test_ordinary_usernames_are_accepted(name):
    from imgapi.auth.users import validate_username

    assert validate_username(name) == name
