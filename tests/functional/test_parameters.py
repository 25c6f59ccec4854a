"""Every parameter of every route, as the API contract declares it: a wrong type or an out-of-range value is a 400 that
names the parameter and says what it must be, with a stable code (the declaration's), and nothing is stored.

The cases are generated from the declarations (so a new parameter is covered the day it is declared), for each
place a parameter can come from: the path, the query string, a JSON body (typed: a string is not a number there),
a urlencoded or multipart form (text: "2" is 2, "two" is not). Cases the declarations cannot generate (JSON NaN,
forged next_tokens, an engine an operation does not have) are listed by hand below.
"""
from __future__ import annotations

import base64
import json
import re
from contextlib import contextmanager
from urllib.parse import urlencode

import boto3
import pytest

from imgapi.auth import users
from imgapi.api.contract import FORM, JSON, MULTIPART, ROUTES_BY_KEY
from imgapi.jobs.job_params import BGCOLOR, CONFIG, EDIT_FORMS, IDEMPOTENCY_KEY, UPLOAD_PARAMS
from imgapi.core.parameters import BOOLEAN, INTEGER, NUMBER, OBJECT, STRING, URL_FORMAT, UUID_FORMAT, Param
from imgapi.core.settings import get_settings
from imgapi.auth.tokens import issue_token
from imgapi_local.provision import provision, reset_caches
from imgapi_local.template import load_template
from tests.conftest import Api
from tests.support.images import portrait_png
from tests.support.worker import queue_depth
from tests.support.in_memory_aws import in_memory_aws

UUID = "00000000-0000-4000-8000-00000000f00d"
IMAGE = portrait_png(24, 32)
EDIT_BODIES = {
    "change_bg": {"base_image_url": "https://e.com/a.png", "ref_image_url": "https://e.com/b.jpg"},
    "change_cloth": {"person_image_url": "https://e.com/p.jpg", "top_garment_url": "https://e.com/t.jpg"},
    "expand": {"base_image_url": "https://e.com/a.jpg"},
    "fix": {"base_image_url": "https://e.com/a.jpg"},
    "remove_bg": {"image_url": "https://e.com/a.jpg"},
}
LOGIN = {"username": "alice", "password": "alice-password"}


# -- bad values, by what the declaration says the value is ------------------------------------------------------

def typed_bad_values(param: Param) -> list[tuple[str, object]]:
    """(what, value) pairs a JSON body may carry that the parameter must refuse."""
    if param is BGCOLOR:
        return [("a colour name", "red"), ("two channels", [1, 2]), ("a channel over 255", [256, 0, 0]),
                ("booleans as channels", [True, 0, 0]), ("a number", 5)]
    if param.type in (INTEGER, NUMBER):
        low = param.minimum if param.minimum is not None else 1
        cases = [("a string", str(low)), ("a boolean", True), ("a list", [low]), ("an object", {"value": low})]
        if param.type == INTEGER:
            cases.append(("a fraction", low + 0.5))
        if param.minimum is not None:
            cases.append(("below the minimum", param.minimum - 1))
        if param.maximum is not None:
            cases += [("above the maximum", param.maximum + 1), ("huge", 2 ** 53 if param.type == INTEGER else 1e308)]
        return cases
    if param.type == BOOLEAN:
        return [("a string", "true"), ("a number", 1), ("a list", [True])]
    if param.type == OBJECT:
        cases = [("a string", "{}"), ("a list", [{}]), ("a number", 5)]
        return cases + ([("an unknown field", {"colour": "#fff"})] if param.closed else [])
    assert param.type == STRING, param
    example = (param.allowed() or ("x",))[0]
    cases = [("a number", 5), ("a list", [example]), ("an object", {"value": example}), ("a boolean", True)]
    return cases + text_bad_values(param)


def text_bad_values(param: Param) -> list[tuple[str, object]]:
    """(what, text) pairs a query string or form may carry that the parameter must refuse."""
    if param.type in (INTEGER, NUMBER):
        cases = [("words", "two"), ("NaN", "NaN"), ("Infinity", "Infinity"), ("an overflowing exponent", "1e999"),
                 ("digit grouping", "1_0"), ("non-ASCII digits", "٣"), ("hexadecimal", "0x10"),
                 ("forty digits", "9" * 40)]
        if param.type == INTEGER:
            cases.append(("a fraction", f"{(param.minimum or 1) + 0.5}"))
        if param.minimum is not None:
            cases.append(("below the minimum", f"{param.minimum - 1:g}"))
        if param.maximum is not None:
            cases.append(("above the maximum", f"{param.maximum + 0.5:g}"))
        return cases
    if param.type == BOOLEAN:
        return [("yes", "yes")]
    if param.type == OBJECT:
        return [("text", '{"model": "u2net"}')]
    if param is BGCOLOR:
        return [("a colour name", "red")]
    allowed = param.allowed()
    if allowed is not None:
        return [("an unknown value", "nope"), ("a near miss", f"{allowed[0]}s")]
    if param.format == UUID_FORMAT:
        return [("not a UUID", "not-a-uuid"), ("too short", UUID[:-1]), ("not hex", UUID[:-1] + "g"),
                ("a UUID and a newline", UUID + "\n")]
    if param.format == URL_FORMAT:
        return [("another scheme", "ftp://e.com/a.jpg"), ("a script", "javascript:alert(1)"),
                ("no host", "http://:80"), ("an unclosed IPv6 host", "http://[::1/a.jpg"),
                ("too long", "https://e.com/" + "a" * param.max_length)]
    cases = [("too long", "x" * (param.max_length + 1))] if param.max_length else []
    if param.pattern:
        outside = [v for v in ("garbage!", " ", "\t\n") if not re.search(param.pattern, v)]
        cases.append(("outside its pattern", outside[0]))
    return cases


# -- how each route is called with one value changed ---------------------------------------------------------------

def _request(key: str, where: str, name: str, value, token: str) -> dict:
    """api.call's arguments: the route's valid request with `name` set to `value` in `where`."""
    method, path = key.split(" ", 1)
    call: dict = {"method": method, "path": path, "token": token}
    operation = path.lstrip("/")
    if where == "path":
        call["path"] = path.replace(f"{{{name}}}", str(value))
    elif key == "POST /api/v1/login":
        call.pop("token")
        base = {k: v for k, v in LOGIN.items() if k != name}
        if where == "query":
            call["query"] = urlencode({**base, name: value})
        elif where == "json":
            call["json_body"] = {**base, name: value}
        else:
            call["form"] = {**base, name: value}
    elif key == "POST /api/v1/upscale/combo":
        call["files"] = {"file": ("a.png", IMAGE, "image/png")}
        if where == "query":
            call["query"] = urlencode({name: value})
        else:
            call["form"] = {name: value}
    elif _removebg(key):  # a valid image (unless the image's URL is the value), the value in the body
        body = {} if name in ("image_url", "image_file_b64", "image_base64") else {
            "image_file_b64": base64.b64encode(IMAGE).decode()}
        call["json_body" if where == "json" else "form"] = {**body, name: value}
    elif key in ("POST /api/v1/configs", "POST /api/v1/api-keys", "PUT /api/v1/webhook-settings"):
        call["json_body"] = {name: value}
    elif key == "POST /api/v1/auth/password":
        call["json_body"] = {"current_password": "a-password", "new_password": "a-new-password", name: value}
    elif key == "POST /api/v1/uploads":
        body = {"operation": "combo", "filename": "a.jpg"}
        if where == "json:params":
            body["params"] = {name: value}
        elif where == "json:params.config":
            body["params"] = {"config": {name: value}}
        else:
            body[name] = value
        call["json_body"] = body
    elif key == "GET /api/v1/jobs":
        call["query"] = urlencode({name: value})
    elif operation in EDIT_FORMS:
        body = dict(EDIT_BODIES[operation])
        if where == "query":
            call["query"] = urlencode({name: value})
            call["json_body"] = body
        elif where == "json":
            call["json_body"] = {**body, name: value}
        elif where == "json:config":
            call["json_body"] = {**body, "config": {name: value}}
        elif where == "header":
            call["json_body"] = body
            call["headers"] = {name: value}
        else:
            call["form"] = {**body, name: value}
    else:
        raise AssertionError(f"no request written for {key} {where}")
    return call


def _removebg(key: str) -> bool:
    """remove.bg's routes answer in its shape ({"errors": [{"title", "code", "detail"}]}) with the codes their
    declarations carry (invalid_size, ...), and read JSON as leniently as text ("true" is a boolean there too)."""
    return " /v1.0/" in key


def _typed_bad_values(key: str, param: Param) -> list[tuple[str, object]]:
    cases = typed_bad_values(param)
    return [(w, v) for w, v in cases if not (param.type == BOOLEAN and isinstance(v, str))] if _removebg(key) else cases


def _cases() -> list:
    cases = []

    def add(key: str, where: str, param: Param, values: list[tuple[str, object]], code: str | None = None) -> None:
        for what, value in values:
            cases.append(pytest.param(key, where, param, value, code or param.code,
                                      id=f"{key} {where} {param.name}: {what}"))

    for key, route in ROUTES_BY_KEY.items():
        for param in route.path_params:  # a raw newline cannot be in a path; its encoding can
            add(key, "path", param, [(w, v) for w, v in text_bad_values(param) if not v.endswith("\n")]
                + [("an encoded newline", UUID + "%0A"), ("3000 characters", "a" * 3000)])
        for param in route.query:
            add(key, "query", param, text_bad_values(param))
        if route.body is None:
            continue
        operation = key.split(" /", 1)[1]
        if operation in EDIT_FORMS:
            for param in EDIT_FORMS[operation].all_fields:
                add(key, "json", param, typed_bad_values(param))
                add(key, "form", param, text_bad_values(param))
            if operation == "remove_bg":
                for param in CONFIG.fields:
                    add(key, "json:config", param, typed_bad_values(param))
            add(key, "header", IDEMPOTENCY_KEY, [("256 characters", "k" * 256), ("a control character", "\x07")])
            continue
        for param in route.body.fields:
            if JSON in route.body.media_types:
                add(key, "json", param, _typed_bad_values(key, param))
            if FORM in route.body.media_types or MULTIPART in route.body.media_types:
                add(key, "form", param, text_bad_values(param))
        if key == "POST /api/v1/uploads":
            for param in UPLOAD_PARAMS["combo"]:
                add(key, "json:params", param, typed_bad_values(param))
            for param in CONFIG.fields:
                add(key, "json:params.config", param, typed_bad_values(param))
    return cases


def _token_for(owner: str, task_id: str, created_at: str = "2026-11-21T08:00:00.000Z") -> str:
    key = {"task_id": task_id, "owner": owner, "created_at": created_at}
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _raw_token(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# Cases the declarations do not generate: what the JSON layer refuses before any parameter is read, next_tokens
# that decode but are not ours, valid values the operation cannot take.
BY_HAND = [
    pytest.param("POST", "/expand", {"json_raw": b'{"base_image_url": "https://e.com/a.jpg", "n": NaN}'}, "bad_json",
                 id="POST /expand json n: NaN"),
    pytest.param("POST", "/expand", {"json_raw": b'{"base_image_url": "https://e.com/a.jpg", "top_scale": Infinity}'},
                 "bad_json", id="POST /expand json top_scale: Infinity"),
    pytest.param("POST", "/fix", {"json_raw": b'{"base_image_url": "https://e.com/a.jpg", "upscale_factor": 1e999}'},
                 "bad_json", id="POST /fix json upscale_factor: 1e999"),
    pytest.param("POST", "/fix", {"json_raw": b'{"base_image_url": "https://e.com/a.jpg", "upscale_factor": '
                                  + b"9" * 40 + b"}"}, "bad_json", id="POST /fix json upscale_factor: forty digits"),
    pytest.param("POST", "/api/v1/configs", {"json_raw": b'{"alpha_matting_erode_size": -Infinity}'}, "bad_json",
                 id="POST /api/v1/configs json alpha_matting_erode_size: -Infinity"),
    pytest.param("POST", "/api/v1/configs", {"json_body": {"colour": "#ffffff"}}, "bad_parameter",
                 id="POST /api/v1/configs json: an unknown setting"),
    pytest.param("POST", "/api/v1/configs", {"json_body": ["u2net"]}, "bad_parameter",
                 id="POST /api/v1/configs json: a list, not an object"),
    pytest.param("POST", "/api/v1/configs", {"json_raw": b"null"}, "bad_parameter",
                 id="POST /api/v1/configs json: null"),
    pytest.param("POST", "/expand", {"json_raw": b"\xff\xfe{"}, "bad_json", id="POST /expand json: not UTF-8"),
    pytest.param("POST", "/api/v1/login", {"query": "username=%0A&password=p"}, "bad_credentials",
                 id="POST /api/v1/login query username: a newline (blank)"),
    pytest.param("POST", "/api/v1/login", {"json_body": {"username": " ", "password": "p"}}, "bad_credentials",
                 id="POST /api/v1/login json username: a space (blank)"),
    pytest.param("POST", "/change_cloth", {"json_body": {**EDIT_BODIES["change_cloth"], "engine": "local"}},
                 "bad_engine", id="POST /change_cloth json engine: local (try-on has no local engine)"),
    pytest.param("POST", "/remove_bg", {"json_body": {**EDIT_BODIES["remove_bg"], "engine": "dashscope"}},
                 "bad_engine", id="POST /remove_bg json engine: dashscope (cut-outs are local only)"),
    pytest.param("POST", "/remove_bg", {"json_body": {**EDIT_BODIES["remove_bg"], "config_id": UUID, "config": {}}},
                 "bad_parameter", id="POST /remove_bg json config_id and config both"),
    pytest.param("GET", "/api/v1/jobs", {"query": "limit=5&limit=6"}, "bad_parameter",
                 id="GET /api/v1/jobs query limit: given twice"),
    pytest.param("GET", "/api/v1/jobs", {"query": "next_token=" + _token_for("bob", UUID)}, "bad_next_token",
                 id="GET /api/v1/jobs query next_token: another user's"),
    pytest.param("GET", "/api/v1/jobs", {"query": "next_token=" + _token_for("alice", "a" * 3000)},
                 "bad_next_token", id="GET /api/v1/jobs query next_token: a 3000-character task id"),
    pytest.param("GET", "/api/v1/jobs", {"query": "next_token=" + _token_for("alice", UUID, "yesterday")},
                 "bad_next_token", id="GET /api/v1/jobs query next_token: not a timestamp"),
    pytest.param("GET", "/api/v1/jobs", {"query": "next_token=" + _raw_token(b"[1, 2]")}, "bad_next_token",
                 id="GET /api/v1/jobs query next_token: a JSON list"),
    pytest.param("GET", "/api/v1/jobs", {"query": "next_token=" + _raw_token(b"\xff\xfe")}, "bad_next_token",
                 id="GET /api/v1/jobs query next_token: not UTF-8"),
    pytest.param("GET", "/api/v1/jobs", {"query": "next_token=" + _raw_token(b"[" * 5000)}, "bad_next_token",
                 id="GET /api/v1/jobs query next_token: deep nesting"),
    pytest.param("GET", "/api/v1/jobs", {"query": "next_token=abc"}, "bad_next_token",
                 id="GET /api/v1/jobs query next_token: not base64 of anything"),
]


@contextmanager
def _module_stack():
    """One in-memory stack for a module's cases: the API, and alice's token."""
    with pytest.MonkeyPatch.context() as patch, in_memory_aws():
        reset_caches()
        created = provision(load_template())
        for key, value in {**created.environment(), "DASHSCOPE_API_KEY": "sk-configured"}.items():
            patch.setenv(key, value)
        reset_caches()
        users.create_user("alice", "alice-password")
        yield Api(), issue_token("alice")[0]
    reset_caches()


@pytest.fixture(scope="module")
def module_api():
    """The stack every refusal below runs on; when they are done, none of them may have stored anything (checked
    once for all of them: a scan per case would take most of the module's time)."""
    with _module_stack() as api_token:
        yield api_token
        assert _stored() == {"jobs": 0, "configs": 0, "objects": 0, "messages": 0}


def _stored() -> dict[str, int]:
    settings = get_settings()
    dynamodb = boto3.resource("dynamodb")
    return {"jobs": dynamodb.Table(settings.jobs_table).scan(Select="COUNT")["Count"],
            "configs": dynamodb.Table(settings.configs_table).scan(Select="COUNT")["Count"],
            "objects": boto3.client("s3").list_objects_v2(Bucket=settings.bucket).get("KeyCount", 0),
            "messages": queue_depth(settings.image_queue_url) + queue_depth(settings.dashscope.queue_url)}


def _assert_refused(response, code: str, name: str | None = None, value=None, secret: bool = False) -> None:
    assert response.status == 400, response.body[:300]
    body = response.json()
    if "errors" in body:  # remove.bg's shape: the title (and the detail) name the parameter
        [error] = body["errors"]
        body = {"code": error["code"], "error": error["title"] + " " + error.get("detail", "")}
    assert body["code"] == code, body
    if name is not None:
        assert name in body["error"], body  # it names the parameter
    if secret:
        assert str(value) not in body["error"], body  # and never echoes a password


@pytest.mark.parametrize("key,where,param,value,code", _cases())
def test_a_bad_value_is_a_400_naming_the_parameter(module_api, key, where, param, value, code):
    api, token = module_api
    response = api.call(**_request(key, where, param.name, value, token))
    name = None if where == "header" else param.name
    _assert_refused(response, code, name, value, param.secret)


@pytest.mark.parametrize("method,path,request_args,code", BY_HAND)
def test_what_the_declarations_cannot_generate_is_refused_too(module_api, method, path, request_args, code):
    api, token = module_api
    if "json_raw" in request_args:
        request_args = {"body": request_args["json_raw"], "headers": {"content-type": "application/json"}}
    _assert_refused(api.call(method, path, token=token, **request_args), code)


def test_every_route_with_parameters_has_cases():
    covered = {case.values[0] for case in _cases()} | {f"{case.values[0]} {case.values[1]}" for case in BY_HAND}
    with_parameters = {key for key, route in ROUTES_BY_KEY.items()  # that can refuse a value (not the playground's v)
                       if any(text_bad_values(p) for p in route.path_params + route.query)
                       or route.body and any(typed_bad_values(p) for p in route.body.fields)}
    assert with_parameters <= covered, with_parameters - covered


CLOSED_BODIES = sorted(key for key, route in ROUTES_BY_KEY.items()
                       if route.body and route.body.closed and JSON in route.body.media_types)


@pytest.mark.parametrize("key", CLOSED_BODIES)
def test_a_closed_body_refuses_a_field_it_does_not_declare(module_api, key):
    # The contract (and the OpenAPI document: additionalProperties false) says these bodies are closed: a misspelt
    # field is a 400 naming it, never silently dropped.
    api, token = module_api
    _assert_refused(api.call(**_request(key, "json", "colour_scheme", "dark", token)), "bad_parameter", "colour_scheme")


def test_the_closed_bodies_are_the_contracts():
    assert {"PUT /api/v1/webhook-settings", "POST /api/v1/api-keys", "POST /api/v1/auth/password",
            "POST /api/v1/configs"} <= set(CLOSED_BODIES)
