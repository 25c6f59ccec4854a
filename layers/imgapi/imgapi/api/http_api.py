"""What every API function shares: the Powertools resolver with our error shape, auth, and the Lambda entry point."""
from __future__ import annotations

import json
from typing import Any, Callable

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from botocore.exceptions import BotoCoreError, ClientError

from imgapi.auth import api_keys, users
from imgapi.core.errors import ApiError, NotFound, ServiceUnavailable, Unauthorized
from imgapi.core.observability import logger, metrics, tracer
from imgapi.auth.tokens import GENERATION_CLAIM, verify_token


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body, default=str), headers=headers)


def error_response(exc: ApiError) -> Response:
    """An error in our shape: {"error", "code"}, with its status and headers."""
    return json_response(exc.status, exc.body(), exc.headers)


def create_resolver(render: Callable[[ApiError], Response] = error_response) -> APIGatewayHttpResolver:
    """The resolver with every error answered by `render` (our shape; api/removebg passes remove.bg's)."""
    app = APIGatewayHttpResolver()

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        if exc.status >= 500:
            logger.error("request failed", extra={"code": exc.code, "error": exc.message})
        else:
            logger.info("request refused", extra={"status": exc.status, "code": exc.code, "error": exc.message})
        return render(exc)

    @app.not_found
    def _not_found(_exc: Exception) -> Response:
        return render(NotFound("no such route"))

    @app.exception_handler([ClientError, BotoCoreError])
    def _backing_service(exc: Exception) -> Response:
        # S3/DynamoDB/SQS/Secrets Manager failing (throttled, unreachable) outside a submit's own handling, e.g.
        # while checking the token: the request may well succeed if tried again, so 503, not 500.
        logger.exception("a backing service failed")
        return render(ServiceUnavailable("a storage service failed; try again", headers={"Retry-After": "1"}))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return render(ApiError("internal error; it has been logged"))

    return app


def bearer_token(event) -> str | None:
    """The token from `Authorization: Bearer ...` or, as the seed clients send it, `?token=...`."""
    header = (event.headers or {}).get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = (event.query_string_parameters or {}).get("token")
    return token or None


def api_key(event) -> str | None:
    """The key from `X-Api-Key: imgapi_...` (API keys: auth/api_keys.py), if the request sends one."""
    return ((event.headers or {}).get("x-api-key") or "").strip() or None


def key_owner(key: str) -> str:
    """The user an API key acts as (with that user's quotas and isolation), or Unauthorized."""
    owner = api_keys.owner_of(key)
    if owner is None or users.token_generation(owner) is None:
        raise Unauthorized("unknown or revoked API key", code="invalid_api_key")
    return owner


def authenticate(event) -> str:
    """The username a request acts as, or Unauthorized. An X-Api-Key stands in for the bearer token."""
    key = api_key(event)
    if key is not None:
        return key_owner(key)
    token = bearer_token(event)
    if not token:
        raise Unauthorized("a token is required: send 'Authorization: Bearer <token>' or '?token=<token>'", code="missing_token")
    claims = verify_token(token)
    username = claims["sub"]
    generation = users.token_generation(username)
    if generation is None:
        raise Unauthorized("the token's user no longer exists", code="invalid_token")
    # Bound to the account instance: a re-created user, a new password or "log out everywhere" revoke it.
    if claims.get(GENERATION_CLAIM, "") != generation:
        raise Unauthorized("the token has been revoked; log in again", code="token_revoked")
    return username


def lambda_entry(app: APIGatewayHttpResolver) -> Callable[[dict, Any], dict]:
    """The function's handler: Powertools logging (request id as correlation id), tracing and metrics around the resolver."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict, context: Any) -> dict:
        return app.resolve(event, context)

    return handler
