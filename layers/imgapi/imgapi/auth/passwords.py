"""Salted, deliberately slow password hashes (scrypt from the standard library)."""
from __future__ import annotations

import functools

import base64
import hashlib
import hmac
import os

# scrypt cost: ~50 ms and 16 MB per check on one Lambda vCPU, which makes offline guessing expensive.
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_KEY_BYTES = 32


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=_KEY_BYTES)


def hash_password(password: str) -> str:
    salt = os.urandom(_SALT_BYTES)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(_derive(password, salt, _N, _R, _P))}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """Checked against when the user does not exist, so a failed login costs the same either way. Made on first
    use: an scrypt hash at import would slow every HTTP function's cold start, most of which never log anyone in."""
    return hash_password("imgapi-dummy-password")
