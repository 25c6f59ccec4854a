"""JWT access tokens: HS256, signed with the secret kept in Secrets Manager."""
from __future__ import annotations

import time
import uuid

import jwt
from aws_lambda_powertools.utilities import parameters

from imgapi.core.errors import Unauthorized
from imgapi.core.settings import get_settings

ALGORITHM = "HS256"
ISSUER = "imgapi"
_SECRET_CACHE_SECONDS = 300
GENERATION_CLAIM = "gen"  # the account's token generation (users.TOKEN_GENERATION) when the token was issued


def signing_key() -> str:
    settings = get_settings()
    if not settings.jwt_secret_id:
        raise RuntimeError("JWT_SECRET_ARN is not set")
    # Powertools caches the value, so a warm container does not call Secrets Manager per request.
    return parameters.get_secret(settings.jwt_secret_id, max_age=_SECRET_CACHE_SECONDS)


def issue_token(username: str, *, ttl_seconds: int | None = None, key: str | None = None,
                generation: str | None = None) -> tuple[str, int]:
    """A token for `username`, bound to the account's token generation (read from the users table unless
    given), so that deleting the user, changing its password or logging out everywhere revokes it."""
    ttl = ttl_seconds if ttl_seconds is not None else get_settings().token_ttl_seconds
    if generation is None:
        from imgapi.auth.users import token_generation

        generation = (token_generation(username) or "") if get_settings().users_table else ""
    now = int(time.time())
    claims = {"sub": username, "iat": now, "nbf": now, "exp": now + ttl, "iss": ISSUER, "jti": uuid.uuid4().hex,
              GENERATION_CLAIM: generation}
    return jwt.encode(claims, key or signing_key(), algorithm=ALGORITHM), ttl


def verify_token(token: str, *, key: str | None = None) -> dict:
    """Return the claims of a valid token, or raise Unauthorized saying what is wrong with it."""
    try:
        claims = jwt.decode(
            token,
            key or signing_key(),
            algorithms=[ALGORITHM],  # pinned: rejects alg=none and algorithm confusion
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired; log in again", code="token_expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise Unauthorized("the token is not valid yet", code="invalid_token") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("the token is invalid", code="invalid_token") from exc
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Unauthorized("the token has no subject", code="invalid_token")
    return claims
