"""The OpenAPI 3.1 document, written from the contract's declarations (api/contract.py), served at
GET /api/v1/openapi.json. Nothing in it is written by hand apart from the words."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from imgapi.api.contract import JSON, MULTIPART, ROUTES, SCHEMAS, Answer, Body, Route, errors
from imgapi.core.parameters import OBJECT, Param
from imgapi.core.settings import get_settings
from imgapi.core.vocabulary import IMAGE_CONTENT_TYPES

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
DESCRIPTION = (
    "Serverless image processing: background removal and enhancement (combo), background replacement, virtual "
    "try-on, outpainting and repair. Every submit is a job: answered at once with a task id, followed with "
    "GET /api/v1/jobs/{task_id}. Every route but login, health, this document and the playground needs a token: "
    "`Authorization: Bearer <token>` or `?token=<token>`, or an API key: `X-Api-Key: imgapi_...`. Errors are `{\"error\", \"code\"}`."
)
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": "A token from POST /api/v1/login, as `Authorization: Bearer <token>`."},
    "token": {"type": "apiKey", "in": "query", "name": "token",
              "description": "The same token as a query parameter, as the combo API's clients send it."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
               "description": "An API key from POST /api/v1/api-keys: acts as its owner, no login needed."},
}


def _ref(schema: str | dict) -> dict:
    return {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema


def _parameter(param: Param, where: str, *, required: bool) -> dict:
    schema = param.schema()
    return {"name": param.name, "in": where, "required": required, "description": schema.pop("description"),
            "schema": schema}


def body_schema(body: Body, media_type: str) -> dict:
    """The body's fields as they can come in one media type: objects only in JSON, files only in multipart."""
    fields = [f for f in body.fields if media_type == JSON or f.type != OBJECT]
    files = body.files if media_type == MULTIPART else ()
    properties = {f.name: f.schema() for f in fields}
    properties.update({f.name: {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream",
                                "description": f.description} for f in files})
    required = [n for n in body.required if n in properties] + [f.name for f in files if f.required]
    alternatives = []
    for group in body.needs:
        present = [name for name in group if name in properties]
        if len(present) == 1:
            required.append(present[0])
        elif present:
            alternatives.append({"anyOf": [{"required": [name]} for name in present]})
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(dict.fromkeys(required))
    if alternatives:
        schema["allOf"] = alternatives
    if body.closed:
        schema["additionalProperties"] = False
    return schema


def _request_body(body: Body) -> dict:
    content = {}
    for media_type in body.media_types:
        content[media_type] = {"schema": body_schema(body, media_type)}
        if media_type == MULTIPART and body.files:
            content[media_type]["encoding"] = {f.name: {"contentType": ", ".join(IMAGE_CONTENT_TYPES)} for f in body.files}
    answer = {"required": not body.optional, "content": content}
    if body.description:
        answer["description"] = body.description
    return answer


def _response(answer: Answer) -> dict:
    response: dict[str, Any] = {"description": answer.description}
    if answer.content:
        response["content"] = {media: {"schema": _ref(schema)} for media, schema in answer.content.items()}
    if answer.headers:
        response["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                               for name, text in answer.headers.items()}
    return response


def _operation(route: Route) -> dict:
    parameters = ([_parameter(p, "path", required=True) for p in route.path_params]
                  + [_parameter(p, "query", required=False) for p in route.query]
                  + [_parameter(p, "header", required=False) for p in route.headers])
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": [route.tag]}
    if route.description:
        operation["description"] = route.description
    if route.public:
        operation["security"] = []
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = _request_body(route.body)
    # Every route may answer 500; an authenticated one 401.
    answers = {**errors(*((500,) if route.public else (401, 500))), **route.answers}
    operation["responses"] = {str(status): _response(answers[status]) for status in sorted(answers)}
    return operation


def document() -> dict:
    """The whole document (a fresh copy: callers may change it)."""
    settings = get_settings()
    return json.loads(_document_json(settings.rembg_models, settings.default_rembg_model))


def document_json() -> str:
    settings = get_settings()
    return _document_json(settings.rembg_models, settings.default_rembg_model)


@lru_cache(maxsize=4)
def _document_json(_models: tuple[str, ...], _default_model: str) -> str:
    """Written once per process (per deployment setting it reads: the rembg models it names)."""
    paths: dict[str, dict] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    tags = list(dict.fromkeys(route.tag for route in ROUTES))
    return json.dumps({
        "openapi": OPENAPI_VERSION,
        "info": {"title": "imgapi", "version": API_VERSION, "description": DESCRIPTION},
        "tags": [{"name": tag} for tag in tags],
        "security": [{"bearer": []}, {"token": []}, {"apiKey": []}],
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
    }, ensure_ascii=False)
