"""The API's contract as data: every route, its bodies and answers, gathered with the parameters each area declares.

The parsers check requests against the declarations (jobs.job_params, auth.login; path and query parameters by
api.routes before a handler runs), every function registers its routes through them (api.routes.route), and the
OpenAPI document (api.openapi, GET /api/v1/openapi.json) is written from them: one declaration for both, so the
published contract and the code cannot drift. Tests hold it to template.yaml's routes and to real answers
(tests/functional/test_openapi.py, tests/e2e/test_schemathesis.py).

Why it is long: the routes and the answer schemas are one table that reads best whole; splitting it would scatter
a route's answers away from its declaration.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from imgapi.jobs.job_params import (
    BGCOLOR, COMBO_FIELDS, CONFIG_ID_PATH, CONFIG_NAME, EDIT_FORMS, ENGINE, IDEMPOTENCY_KEY, JOB_STATUSES,
    LIST_LIMIT, LIST_NEXT_TOKEN, LIST_OPERATION, LIST_STATUS, REMOVAL_SETTINGS, TASK_ID, UPLOAD_CONTENT_TYPE,
    UPLOAD_FILENAME, UPLOAD_OPERATION, UPLOAD_PARAMS_FIELD, UPLOAD_SIZE, WAIT, WEBHOOK_URL,
)
from imgapi.core.webhook_secrets import DEFAULT_URL as DEFAULT_WEBHOOK_URL
from imgapi.auth.api_keys import KEY_ID_PATH, KEY_NAME
from imgapi.api.removebg_fields import FIELDS as REMOVEBG_FIELDS
from imgapi.auth.login import PASSWORD, USERNAME
from imgapi.auth.account import FIELDS as ACCOUNT_FIELDS
from imgapi.core.parameters import STRING, Param
from imgapi.core.vocabulary import ENGINES, IMAGE_EDIT_OPERATIONS, OPERATIONS, UPLOAD_OPERATIONS

JSON, FORM, MULTIPART = "application/json", "application/x-www-form-urlencoded", "multipart/form-data"

# -- bodies -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileField:
    name: str
    description: str
    required: bool = False


@dataclass(frozen=True)
class Body:
    """A request body: the media types it may come as and its fields (forms carry no objects; files are multipart)."""

    media_types: tuple[str, ...]
    fields: tuple[Param, ...]
    files: tuple[FileField, ...] = ()
    required: tuple[str, ...] = ()
    # At least one name of each group (a URL field or its file; one of the garments).
    needs: tuple[tuple[str, ...], ...] = ()
    closed: bool = False  # unknown fields are refused
    optional: bool = False  # the request may have no body at all
    description: str = ""


def edit_body(operation: str) -> Body:
    form = EDIT_FORMS[operation]
    files = tuple(FileField(p.name.removesuffix("_url"),
                            f"Instead of {p.name}: the image itself (JPEG, PNG, WebP, HEIC or AVIF)")
                  for p in form.image_urls)
    # A file stands for its URL field: either one meets a need.
    or_file = [p.name for p in form.image_urls]
    needs = tuple(sum(((name, name.removesuffix("_url")) if name in or_file else (name,) for name in group), ())
                  for group in form.needs)
    return Body((JSON, FORM, MULTIPART), form.all_fields, files, needs=needs,
                description="The first API's JSON body, or a form; a multipart form may carry the images themselves.")


# -- answers ------------------------------------------------------------------------------------------------------

def _nullable(schema: dict) -> dict:
    kind = schema.get("type")
    return {**schema, "type": [kind, "null"]} if isinstance(kind, str) else {"oneOf": [schema, {"type": "null"}]}


_STRING, _INTEGER, _TIMESTAMP = {"type": "string"}, {"type": "integer"}, {"type": "string", "examples": ["2026-11-21T08:15:15.730Z"]}
_UUID = {"type": "string", "format": "uuid"}

SCHEMAS: dict[str, dict] = {
    "Error": {
        "type": "object", "required": ["error", "code"],
        "properties": {"error": {"type": "string", "description": "What went wrong and what to do about it."},
                       "code": {"type": "string", "description": "A stable machine code, e.g. bad_parameter."}},
    },
    "Token": {
        "type": "object", "required": ["access_token", "token_type", "expires_in"],
        "properties": {"access_token": _STRING, "token_type": {"const": "bearer"},
                       "expires_in": {**_INTEGER, "description": "Seconds the token is valid."}},
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "ComboSubmitted": {
        "type": "object", "required": ["task_id", "status", "message"],
        "properties": {"task_id": _UUID, "status": {"enum": list(JOB_STATUSES)}, "message": _STRING},
    },
    "ComboStatus": {
        "type": "object",
        "required": ["task_id", "status", "result_path", "error", "error_code", "operation", "enhance_level",
                     "created_at", "started_at", "finished_at"],
        "properties": {
            "task_id": _UUID, "status": {"enum": list(JOB_STATUSES)}, "result_path": _nullable(_STRING),
            "error": _nullable(_STRING), "error_code": _nullable(_STRING), "operation": {"enum": list(OPERATIONS)},
            "enhance_level": _nullable(_STRING), "created_at": _TIMESTAMP, "started_at": _nullable(_STRING),
            "finished_at": _nullable(_STRING),
            "result": {"type": "object", "required": ["content_type", "size_bytes", "width", "height"],
                       "properties": {"content_type": _STRING, "size_bytes": _INTEGER, "width": _INTEGER,
                                      "height": _INTEGER}},
        },
    },
    "Result": {
        "type": "object", "required": ["url"],
        "properties": {"url": {"type": "string", "description": "A presigned URL of our copy (PRESIGN_TTL_SECONDS)."},
                       "width": _INTEGER, "height": _INTEGER, "content_type": _STRING, "size_bytes": _INTEGER,
                       "index": _INTEGER,
                       "enhancer": {"type": "string", "description": "fix on the local engine: which enlargement "
                                    "made the result, the learnt network or the classical path and why."},
                       "expander": {"type": "string", "description": "expand on the local engine: what filled "
                                    "the new border, the exemplar synthesis or the deployment's inpainting model."}},
    },
    "Job": {
        "type": "object",
        "required": ["task_id", "status", "status_url", "operation", "engine", "created_at", "started_at",
                     "finished_at", "updated_at", "params", "results", "error"],
        "properties": {
            "task_id": _UUID, "status": {"enum": list(JOB_STATUSES)}, "status_url": _STRING,
            "operation": {"enum": list(OPERATIONS)}, "engine": {"enum": [*ENGINES, None]},
            "created_at": _nullable(_STRING), "started_at": _nullable(_STRING), "finished_at": _nullable(_STRING),
            "updated_at": _nullable(_STRING),
            "params": {"type": "object", "description": "The parameters the job runs with, defaults filled in."},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
            "error": {"oneOf": [{"type": "null"}, {
                "type": "object", "required": ["message", "code"],
                "properties": {"message": _STRING, "code": _nullable(_STRING)}}]},
            "failures": {"type": "array", "description": "A partial success: the images that were not made, and why.",
                         "items": {"type": "object", "properties": {"index": _INTEGER, "code": _nullable(_STRING),
                                                                    "message": _nullable(_STRING)}}},
            "notes": {"type": "array", "items": _STRING,
                      "description": "What the local engine left out of the request."},
            "last_error": {**_STRING, "description": "Why the last attempt failed; another is coming."},
            "dashscope": {"type": "object", "description": "DashScope's task, where DashScope ran the job."},
            "webhook": {"$ref": "#/components/schemas/WebhookDelivery"},
        },
    },
    "EditJob": {"allOf": [{"$ref": "#/components/schemas/Job"}, {
        "type": "object", "required": ["task_status"],
        "properties": {"task_status": {"type": "string", "description": "DashScope's vocabulary, for the first API's "
                                       "clients: PENDING, RUNNING, SUCCEEDED, FAILED."},
                       "image_url": {"type": "string", "description": "change_cloth: the first result's URL."}}}]},
    "JobList": {
        "type": "object", "required": ["jobs", "next_token"],
        "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                       "next_token": _nullable(_STRING)},
    },
    "Config": {
        "type": "object", "required": ["config_id", "owner", "name", "created_at", "settings"],
        "properties": {
            "config_id": _UUID, "owner": _STRING, "name": _STRING, "created_at": _TIMESTAMP,
            "settings": {"type": "object", "required": [p.name for p in REMOVAL_SETTINGS], "properties": {
                **{p.name: {"type": p.type} for p in REMOVAL_SETTINGS if p is not BGCOLOR},
                "bgcolor": _nullable({"type": "array", "items": _INTEGER, "minItems": 4, "maxItems": 4})}},
        },
    },
    "ConfigList": {"type": "object", "required": ["configs"],
                   "properties": {"configs": {"type": "array", "items": {"$ref": "#/components/schemas/Config"}}}},
    "Upload": {
        "type": "object",
        "required": ["task_id", "status", "status_url", "operation", "upload", "expires_in", "expires_at", "max_bytes"],
        "properties": {
            "task_id": _UUID, "status": {"enum": list(JOB_STATUSES)}, "status_url": _STRING,
            "operation": {"enum": list(UPLOAD_OPERATIONS)},
            "upload": {"oneOf": [{"type": "null"}, {
                "type": "object", "required": ["url", "fields"],
                "description": "POST the file to url as a multipart form: every field as it is, the file last.",
                "properties": {"url": _STRING, "fields": {"type": "object", "additionalProperties": _STRING}}}]},
            "expires_in": _INTEGER, "expires_at": _nullable(_STRING), "max_bytes": _INTEGER,
        },
    },
    "OpenApi": {"type": "object", "required": ["openapi", "info", "paths"]},
    "ApiKeyCreated": {
        "type": "object", "required": ["id", "name", "key", "prefix", "created_at"],
        "properties": {"id": _UUID, "name": _STRING, "prefix": {**_STRING, "examples": ["imgapi_AbC12x"]},
                       "key": {**_STRING, "description": "The key itself, as X-Api-Key: shown only in this answer.",
                               "pattern": "^imgapi_[A-Za-z0-9_-]{43}$"},
                       "created_at": _TIMESTAMP},
    },
    "ApiKey": {
        "type": "object", "required": ["id", "name", "prefix", "created_at", "last_used_at"],
        "properties": {"id": _UUID, "name": _STRING, "prefix": _STRING, "created_at": _TIMESTAMP,
                       "last_used_at": {**_nullable(_STRING), "description": "To the minute; null if never used."}},
    },
    "RemoveBgErrors": {
        "type": "object", "required": ["errors"], "description": "remove.bg's error shape.",
        "properties": {"errors": {"type": "array", "items": {"type": "object", "required": ["title"], "properties": {
            "title": _STRING, "code": _STRING, "detail": _STRING}}}},
    },
    "RemoveBgResult": {
        "type": "object", "required": ["data"],
        "properties": {"data": {"type": "object", "required": ["result_b64", "foreground_top", "foreground_left",
                                                               "foreground_width", "foreground_height"],
                                "properties": {"result_b64": _STRING, "foreground_top": _INTEGER,
                                               "foreground_left": _INTEGER, "foreground_width": _INTEGER,
                                               "foreground_height": _INTEGER}}},
    },
    "RemoveBgAccount": {
        "type": "object", "required": ["data"],
        "properties": {"data": {"type": "object", "required": ["attributes"], "properties": {"attributes": {
            "type": "object", "required": ["credits", "api"], "properties": {
                "credits": {"type": "object", "required": ["total", "subscription", "payg", "enterprise"],
                            "properties": {k: {"type": "number"} for k in ("total", "subscription", "payg",
                                                                            "enterprise")}},
                "api": {"type": "object", "required": ["free_calls", "sizes"],
                        "properties": {"free_calls": _INTEGER, "sizes": {"const": "all"}}}}}}}},
    },
    "WebhookDelivery": {
        "type": "object", "description": "The job's webhook_url, and how its end's delivery went (docs/webhooks.md).",
        "required": ["url", "state", "attempts", "last_status", "last_error", "last_attempt_at", "next_attempt_at"],
        "properties": {"url": _STRING, "state": {"enum": ["pending", "retrying", "delivered", "failed"]},
                       "attempts": _INTEGER, "last_status": _nullable(_INTEGER), "last_error": _nullable(_STRING),
                       "last_attempt_at": _nullable(_STRING), "next_attempt_at": _nullable(_STRING)},
    },
    "WebhookSecret": {
        "type": "object", "required": ["secret", "created_at", "previous_secret_expires_at"],
        "properties": {"secret": {**_STRING, "pattern": "^whsec_[A-Za-z0-9+/=]+$",
                                  "description": "Verify deliveries with it (the standardwebhooks package)."},
                       "created_at": _nullable(_STRING),
                       "previous_secret_expires_at": {**_nullable(_STRING), "description": "After a rotation: until "
                                                      "when deliveries are also signed with the previous secret."}},
    },
    "WebhookSettings": {"type": "object", "required": ["default_url"],
                        "properties": {"default_url": _nullable(_STRING)}},
    "ApiKeyList": {"type": "object", "required": ["keys"],
                   "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}}},
}


@dataclass(frozen=True)
class Answer:
    """One response: its description, its body by media type (a schema name, a schema, or none) and headers."""

    description: str
    content: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(description: str, schema: str | dict, headers: dict[str, str] | None = None) -> Answer:
    return Answer(description, {JSON: schema}, headers or {})


RETRY_AFTER = {"Retry-After": "Seconds to wait before trying again."}
ERRORS = {
    400: Answer("A parameter or the body was refused; error says which and why (codes: bad_parameter, bad_url, "
                "missing_field, bad_engine, bad_enhance_level, bad_format, bad_task_id, unsupported_image, bad_webhook_url, "
                "webhook_url_refused, ...)."),
    401: Answer("No token, or a bad or expired one (missing_token, invalid_token, token_expired), or an unknown or "
                "revoked X-Api-Key (invalid_api_key), or a token revoked by deleting the user, a new password or logging out "
                "everywhere (token_revoked)."),
    403: Answer("It belongs to another user (task_forbidden, config_forbidden)."),
    404: Answer("Unknown, or not ready (task_not_found, config_not_found, result_not_ready)."),
    409: Answer("The request conflicts with the current state (task_finished), or the first request with this "
                "Idempotency-Key is still in progress (idempotency_key_in_progress)."),
    413: Answer("The file is over MaxUploadBytes (file_too_large)."),
    422: Answer("The Idempotency-Key was used for a different request (idempotency_key_reused)."),
    429: Answer("A usage limit: submits a minute or jobs a day (rate_limited, quota_exceeded).", headers=RETRY_AFTER),
    500: Answer("An unexpected error; it has been logged (internal_error)."),
    503: Answer("A backing service failed, or the engine is not configured (submit_failed, engine_unavailable).",
                headers=RETRY_AFTER),
}


def errors(*statuses: int, **descriptions: str) -> dict[int, Answer]:
    """Error answers, all {"error", "code"}: the standard descriptions, or route-specific ones (e.g. _404="...")."""
    answers = {}
    for status in statuses:
        standard = ERRORS[status]
        description = descriptions.get(f"_{status}", standard.description)
        answers[status] = Answer(description, {JSON: "Error"}, standard.headers)
    return answers


# -- routes -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway's form: /api/v1/jobs/{task_id}
    function: str  # template.yaml's function that serves it
    operation_id: str
    summary: str
    tag: str
    answers: dict[int, Answer]
    description: str = ""
    public: bool = False  # no token needed
    path_params: tuple[Param, ...] = ()
    query: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()
    body: Body | None = None

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def rule(self) -> str:
        """The path as Powertools' resolvers write it: /api/v1/jobs/<task_id>."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)


_SUBMIT_ERRORS = errors(400, 403, 404, 409, 413, 422, 429, 503, _409="The first request with this Idempotency-Key "
                        "is still in progress (idempotency_key_in_progress).", _403="The configuration named belongs to another user.",
                        _404="The configuration named does not exist (config_not_found).")
_TASK_ERRORS = errors(400, 403, 404, _400="task_id is not a UUID (bad_task_id).")
_CONFIG_ERRORS = errors(400, 403, 404, _400="config_id is not a UUID (bad_config_id).")
_EDIT_SUMMARY = {
    "change_bg": "Put the subject in front of a new background",
    "change_cloth": "Dress the person in the given garments (virtual try-on; DashScope only)",
    "expand": "Extend the canvas on each side (outpainting)",
    "fix": "Repair and sharpen the image (super-resolution)",
    "remove_bg": "Remove the background (our own image worker)",
}


_EDIT_FUNCTIONS = {"change_bg": "ChangeBgFunction", "change_cloth": "ChangeClothFunction", "expand": "ExpandFunction",
                   "fix": "FixFunction", "remove_bg": "RemoveBgFunction"}


def _edit_route(operation: str) -> Route:
    return Route(
        "POST", f"/{operation}", _EDIT_FUNCTIONS[operation], operation,
        _EDIT_SUMMARY[operation], "Image edits",
        {202: json_answer("Submitted: the job, pending (or still running after `wait`).", "EditJob"),
         200: json_answer("The job, finished within `wait`.", "EditJob"),
         **errors(400, 403, 404, 409, 413, 422, 429, 503,
                  _403="The configuration named belongs to another user (remove_bg).",
                  _409="The first request with this Idempotency-Key is still in progress (idempotency_key_in_progress).",
                  _404="The configuration named does not exist (remove_bg).",
                  _503="The engine is not configured (engine_unavailable: set DASHSCOPE_API_KEY, or use engine=local), "
                       "or a backing service failed (submit_failed).")},
        description="The first API's route, as a job. `wait` and `engine` may also be given in the query string.",
        query=(WAIT, ENGINE), headers=(IDEMPOTENCY_KEY,), body=edit_body(operation))


ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/v1/login", "LoginFunction", "login", "Log in: a bearer token for the other routes", "Auth",
          {200: json_answer("The token.", "Token"),
           **errors(400, 429, _400="username or password missing or not strings (missing_credentials, bad_credentials).",
                    _429="Too many failed logins for this username: locked for a while (login_locked)."),
           401: Answer("Wrong username or password (invalid_credentials).", {JSON: "Error"})},
          description="Credentials in the query string (as the combo API's clients send them), a form or JSON.",
          public=True, query=(USERNAME, PASSWORD),
          body=Body((JSON, FORM, MULTIPART), (USERNAME, PASSWORD), optional=True)),
    Route("POST", "/api/v1/upscale/combo", "ComboSubmitFunction", "submit_combo",
          "Remove the background, then enhance (a job)", "Combo",
          {202: json_answer("Submitted; follow it at /api/v1/upscale/status/{task_id}.", "ComboSubmitted"),
           **_SUBMIT_ERRORS},
          description="The options may be query parameters (as the combo API's clients send them) or form fields.",
          query=COMBO_FIELDS, headers=(IDEMPOTENCY_KEY,),
          body=Body((MULTIPART,), COMBO_FIELDS, (FileField("file", "The image: JPEG, PNG, WebP, HEIC/HEIF or AVIF.", required=True),))),
    Route("GET", "/api/v1/upscale/status/{task_id}", "JobsFunction", "combo_status", "A task's status (combo API shape)",
          "Combo", {200: json_answer("The task.", "ComboStatus"), **_TASK_ERRORS}, path_params=(TASK_ID,)),
    Route("GET", "/api/v1/upscale/result/{task_id}", "JobsFunction", "combo_result", "A finished task's image",
          "Combo",
          {200: Answer("The image (PNG, WebP or AVIF, with transparency).",
                       {"image/png": {"type": "string", "format": "binary"},
                        "image/webp": {"type": "string", "format": "binary"},
                        "image/avif": {"type": "string", "format": "binary"}},
                       {"Content-Disposition": "attachment; filename=<task_id>.<png|webp|avif>"}),
           307: Answer("Too large for a Lambda response: a presigned S3 URL, valid 15 minutes.",
                       headers={"Location": "The presigned URL."}),
           **errors(400, 403, 404, _400="task_id is not a UUID (bad_task_id).",
                    _404="Unknown task, or no result: not finished or failed (task_not_found, result_not_ready).")},
          path_params=(TASK_ID,)),
    Route("GET", "/api/v1/jobs", "JobsFunction", "list_jobs", "Your jobs, newest first", "Jobs",
          {200: json_answer("A page of jobs; next_token is null on the last.", "JobList"), **errors(400)},
          query=(LIST_LIMIT, LIST_STATUS, LIST_OPERATION, LIST_NEXT_TOKEN)),
    Route("GET", "/api/v1/jobs/{task_id}", "JobsFunction", "get_job", "A job of any operation", "Jobs",
          {200: json_answer("The job.", "Job"), **_TASK_ERRORS}, path_params=(TASK_ID,)),
    Route("DELETE", "/api/v1/jobs/{task_id}", "JobsFunction", "cancel_job", "Cancel a pending or processing job",
          "Jobs",
          {202: json_answer("Cancelled: the job, now `cancelled`. A worker that picks it up does nothing; a running "
                            "DashScope task is cancelled upstream where DashScope allows it, else its result is "
                            "discarded.", "Job"),
           **errors(400, 404, 409, _400="task_id is not a UUID (bad_task_id).",
                    _404="No such job of yours (task_not_found): another user's job is not found either.",
                    _409="The job has finished already: completed, failed or cancelled (task_finished).")},
          path_params=(TASK_ID,)),
    Route("GET", "/api/v1/health", "JobsFunction", "health", "Health check", "Service",
          {200: json_answer("Up.", "Health")}, public=True),
    Route("GET", "/api/v1/openapi.json", "JobsFunction", "openapi", "This document", "Service",
          {200: json_answer("The API's OpenAPI 3.1 document, generated from its code.", "OpenApi")}, public=True),
    Route("GET", "/", "PlaygroundFunction", "playground", "The web playground: a page that calls this API", "Service",
          {200: Answer("The page.", {"text/html": {"type": "string"}})}, public=True),
    *(Route("GET", f"/playground/{name}", "PlaygroundFunction", f"playground_{kind}", f"The playground's {kind}",
            "Service", {200: Answer(f"The {kind}.", {media: {"type": "string"}})}, public=True,
            query=(Param("v", STRING, "The asset's content hash, as the page names it: cached for a year under it; "
                          "another value gets the file revalidated."),))
      for name, kind, media in (("app.js", "script", "text/javascript"), ("app.css", "stylesheet", "text/css"))),
    Route("POST", "/api/v1/configs", "ConfigsFunction", "create_config", "Save a background-removal configuration",
          "Configurations", {201: json_answer("Saved.", "Config"), **errors(400)},
          body=Body((JSON,), REMOVAL_SETTINGS + (CONFIG_NAME,), closed=True, optional=True)),
    Route("GET", "/api/v1/configs", "ConfigsFunction", "list_configs", "Your configurations", "Configurations",
          {200: json_answer("Oldest first.", "ConfigList")}),
    Route("GET", "/api/v1/configs/{config_id}", "ConfigsFunction", "get_config", "One configuration", "Configurations",
          {200: json_answer("The configuration.", "Config"), **_CONFIG_ERRORS}, path_params=(CONFIG_ID_PATH,)),
    Route("DELETE", "/api/v1/configs/{config_id}", "ConfigsFunction", "delete_config", "Delete a configuration",
          "Configurations", {204: Answer("Deleted."), **_CONFIG_ERRORS}, path_params=(CONFIG_ID_PATH,)),
    Route("POST", "/api/v1/uploads", "UploadsFunction", "create_upload",
          "Upload a large image straight to S3: the upload starts the job", "Uploads",
          {201: json_answer("The job, awaiting its upload, and the presigned POST.", "Upload"),
           200: json_answer("The same Idempotency-Key again: the first request's job (a fresh POST while it waits).",
                            "Upload"),
           **_SUBMIT_ERRORS},
          headers=(IDEMPOTENCY_KEY,),
          body=Body((JSON,), (UPLOAD_OPERATION, UPLOAD_PARAMS_FIELD, UPLOAD_FILENAME, UPLOAD_CONTENT_TYPE, UPLOAD_SIZE,
                              WEBHOOK_URL),
                    required=("operation",))),
    *(_edit_route(operation) for operation in IMAGE_EDIT_OPERATIONS),
    Route("POST", "/api/v1/api-keys", "ApiKeysFunction", "create_api_key", "Create an API key (shown once)",
          "API keys", {201: json_answer("The key: keep it, it is not shown again.", "ApiKeyCreated"),
                       **errors(400, _400="name missing or not a string of at most 100 characters (missing_field, "
                                     "bad_parameter), or the user has 25 keys already (too_many_keys).")},
          description="Send the key as `X-Api-Key: <key>` on any route instead of `Authorization: Bearer`; it acts as "
                      "you, with your quotas. Only its SHA-256 is stored.",
          body=Body((JSON,), (KEY_NAME,), required=("name",), closed=True)),
    Route("GET", "/api/v1/api-keys", "ApiKeysFunction", "list_api_keys", "Your API keys (never the keys themselves)",
          "API keys", {200: json_answer("Oldest first.", "ApiKeyList")}),
    Route("DELETE", "/api/v1/api-keys/{key_id}", "ApiKeysFunction", "revoke_api_key", "Revoke an API key at once",
          "API keys", {204: Answer("Revoked: the key is refused from the next request on."),
                       **errors(400, 404, _400="key_id is not a UUID (bad_key_id).",
                                _404="No such key of yours (key_not_found): another user's key is not found either.")},
          path_params=(KEY_ID_PATH,)),
)


_REMOVEBG_HEADERS = {name: "remove.bg's answer header (docs/api.md, Coming from remove.bg)." for name in (
    "X-Type", "X-Width", "X-Height", "X-Credits-Charged", "X-Foreground-Top", "X-Foreground-Left",
    "X-Foreground-Width", "X-Foreground-Height", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")}
_REMOVEBG_ERRORS = {
    400: Answer("Bad input, with remove.bg's codes: a parameter's own (" + ", ".join(sorted({
        p.code for p in REMOVEBG_FIELDS})) + "), or missing_source, multiple_sources, multiple_bg_sources, "
        "failed_image_download, failed_bg_download, file_too_large, resolution_too_high, roi_exceeds_bounds, "
        "roi_region_empty, unknown_foreground.", {JSON: "RemoveBgErrors"}),
    402: Answer("Today's quota is spent (JobsPerDay): insufficient_credits.", {JSON: "RemoveBgErrors"}),
    403: Answer("Missing, unknown or revoked key or token: auth_failed.", {JSON: "RemoveBgErrors"}),
    429: Answer("Rate limited (SubmitsPerMinute).", {JSON: "RemoveBgErrors"}, RETRY_AFTER),
    503: Answer("A backing service failed.", {JSON: "RemoveBgErrors"}, RETRY_AFTER),
}
ROUTES = ROUTES + (
    Route("POST", "/v1.0/removebg", "RemoveBgCompatFunction", "removebg", "Remove the background (remove.bg's API)",
          "remove.bg compatible",
          {200: Answer("The image (or, with Accept: application/json, its base64 in data.result_b64).",
                       {"image/png": {"type": "string", "format": "binary"},
                        "image/jpeg": {"type": "string", "format": "binary"},
                        "image/webp": {"type": "string", "format": "binary"},
                        "application/zip": {"type": "string", "format": "binary"},
                        JSON: "RemoveBgResult"}, _REMOVEBG_HEADERS),
           **_REMOVEBG_ERRORS},
          description="remove.bg's POST /v1.0/removebg, synchronous: authenticate with X-Api-Key (or Authorization: "
                      "Bearer). Exactly one of image_file (multipart), image_file_b64 or image_url.",
          body=Body((JSON, FORM, MULTIPART), REMOVEBG_FIELDS,
                    (FileField("image_file", "The image (multipart only)."),
                     FileField("bg_image_file", "A background image (multipart only).")))),
    Route("GET", "/v1.0/account", "RemoveBgCompatFunction", "removebg_account", "Credits left (remove.bg's shape)",
          "remove.bg compatible",
          {200: Answer("What is left of today's quota, as remove.bg's credits.", {"application/json": "RemoveBgAccount"}),
           403: _REMOVEBG_ERRORS[403], 503: _REMOVEBG_ERRORS[503]}),
)

_WEBHOOK_URL_400 = ("default_url is not an http(s) URL (bad_webhook_url), or its host is private, loopback, link-local "
                    "or a metadata address (webhook_url_refused).")
ROUTES = ROUTES + (
    Route("GET", "/api/v1/webhook-secret", "WebhooksFunction", "get_webhook_secret",
          "Your webhook signing secret (made on first use)", "Webhooks",
          {200: json_answer("The secret: verify deliveries with it.", "WebhookSecret")}),
    Route("POST", "/api/v1/webhook-secret/rotate", "WebhooksFunction", "rotate_webhook_secret",
          "A new webhook signing secret", "Webhooks",
          {200: json_answer("The new secret. For WEBHOOK_ROTATION_GRACE_SECONDS (24 h) deliveries are signed with both "
                            "it and the previous one, space-separated in webhook-signature.", "WebhookSecret")}),
    Route("GET", "/api/v1/webhook-settings", "WebhooksFunction", "get_webhook_settings", "Your webhook settings",
          "Webhooks", {200: json_answer("The default webhook URL (null: none).", "WebhookSettings")}),
    Route("PUT", "/api/v1/webhook-settings", "WebhooksFunction", "put_webhook_settings",
          "Set the default webhook URL of the jobs S3 starts (uploads, the batch folder) that name none", "Webhooks",
          {200: json_answer("Saved.", "WebhookSettings"), **errors(400, _400=_WEBHOOK_URL_400)},
          body=Body((JSON,), (DEFAULT_WEBHOOK_URL,), required=("default_url",), closed=True)),
)

# The account's own routes (issue #22): both revoke every token issued before, the caller's own included.
_NOT_API_KEYS = "API keys are not revoked (revoke them with DELETE /api/v1/api-keys/{key_id})."
ROUTES = ROUTES + (
    Route("POST", "/api/v1/auth/logout-all", "LoginFunction", "logout_all",
          "Log out everywhere: every token issued so far stops working", "Auth",
          {204: Answer("Logged out everywhere: earlier tokens, this one included, are refused (401 token_revoked).")},
          description="Log in again for a new token. " + _NOT_API_KEYS),
    Route("POST", "/api/v1/auth/password", "LoginFunction", "change_password",
          "Change your password; every token issued so far stops working", "Auth",
          {204: Answer("Changed: earlier tokens, this one included, are refused (401 token_revoked); log in with the "
                       "new password."),
           **errors(400, 401, 429, _401="The current password is wrong (invalid_credentials), or no token, or a bad, "
                                        "expired or revoked one (as on every route).",
                    _400="A field missing or not a string (missing_field, bad_credentials, bad_parameter, bad_body, "
                         "bad_json), or the new password too short (bad_password).",
                    _429="Too many wrong passwords for this username, here or at login: locked for a while "
                         "(login_locked)."),
           **errors(503, _503="Too many attempts at the same moment (login_busy), or a backing service failed.")},
          description="The current password is checked as a login checks it, and counts towards the same lock-out: "
                      "a wrong one is 401 invalid_credentials. " + _NOT_API_KEYS,
          body=Body((JSON,), ACCOUNT_FIELDS, required=tuple(p.name for p in ACCOUNT_FIELDS), closed=True)),
)

ROUTES_BY_KEY: dict[str, Route] = {route.key: route for route in ROUTES}


def route_for(key: str) -> Route:
    """The declaration of "METHOD /path"; a route that is not declared is a programming error."""
    try:
        return ROUTES_BY_KEY[key]
    except KeyError:
        raise LookupError(f"{key} is not declared in contract.ROUTES") from None

