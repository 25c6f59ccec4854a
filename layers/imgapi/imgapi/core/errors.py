"""Errors a person can act on, with the HTTP status and machine code the API answers with."""
from __future__ import annotations


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.message, "code": self.code}


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"


class JobFailure(Exception):
    """A job cannot succeed, whatever the number of retries: fail it now with this reason."""

    def __init__(self, reason: str, *, code: str = "job_failed"):
        super().__init__(reason)
        self.reason = reason
        self.code = code
