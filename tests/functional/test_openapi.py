"""The published contract: a valid OpenAPI 3.1 document, written from the code, covering exactly template.yaml's
routes and each function's registered routes, served without a token, and describing what the API really answers
(a real answer to every route is validated against the document's schema for its status)."""
from __future__ import annotations

import importlib.util
import json
import re

import jsonschema
import jsonschema_rs
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from imgapi.imagefiles import image_input

from imgapi.api import openapi

from imgapi.jobs import operations

from imgapi.core import vocabulary
from imgapi.api.contract import ROUTES
from imgapi.core.parameters import Param
from imgapi_local.template import functions, http_routes, load_template
from tests.support.images import portrait_png

TEMPLATE = load_template()
DOCUMENT = openapi.document()
UUID = "00000000-0000-4000-8000-00000000beef"


def test_the_document_is_valid_openapi_3_1():
    validate(DOCUMENT, cls=OpenAPIV31SpecValidator)
    assert DOCUMENT["openapi"] == "3.1.0"


def test_it_covers_exactly_the_routes_of_the_template_and_names_their_functions():
    template = {(r.method, r.path): r.function for r in http_routes(TEMPLATE)}
    documented = {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item}
    assert documented == set(template)
    assert {(r.method, r.path): r.function for r in ROUTES} == template


@pytest.mark.parametrize("function", sorted({r.function for r in ROUTES}))
def test_each_function_registers_exactly_its_declared_routes(function):
    """What the resolvers serve is what is declared: no route of the code is missing from the document."""
    spec = next(s for s in functions(TEMPLATE) if s.logical_id == function)
    loader = importlib.util.spec_from_file_location(f"openapi_test_{function}", spec.code_dir / (spec.handler.rpartition(".")[0] + ".py"))
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    registered = {(r.method, r.path) for r in module.app._static_routes + module.app._dynamic_routes}
    assert registered == {(r.method, r.rule) for r in ROUTES if r.function == function}


def test_the_vocabulary_is_the_codes():
    assert tuple(operations.IMAGE_OPERATIONS) == vocabulary.UPLOAD_OPERATIONS
    assert tuple(operations.IMAGE_EDITS) == vocabulary.IMAGE_EDIT_OPERATIONS
    assert vocabulary.IMAGE_CONTENT_TYPES == tuple(ctype for ctype, _ in image_input.SUPPORTED_FORMATS.values())


def test_security_is_declared_for_every_route_but_the_public_ones():
    public = {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method, op in item.items()
              if op.get("security") == []}
    assert public == {("POST", "/api/v1/login"), ("GET", "/api/v1/health"), ("GET", "/api/v1/openapi.json"),
                      ("GET", "/"), ("GET", "/playground/app.js"), ("GET", "/playground/app.css")}
    assert DOCUMENT["security"] == [{"bearer": []}, {"token": []}, {"apiKey": []}]
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if operation.get("security") != []:
                assert operation["responses"]["401"]["content"]["application/json"]["schema"] == \
                    {"$ref": "#/components/schemas/Error"}, (method, path)


def test_what_is_declared_public_is_and_the_rest_asks_for_a_token(api):
    """The security the document declares is what the routes do (api.routes authenticates every non-public one)."""
    for route in ROUTES:
        response = api.call(route.method, re.sub(r"\{\w+\}", UUID, route.path))
        if route.public:
            assert response.status != 401, route.key
        elif route.path.startswith("/v1.0/"):  # remove.bg's API answers as remove.bg does: 403 auth_failed
            assert response.status == 403 and response.json()["errors"][0]["code"] == "auth_failed", route.key
        else:
            assert response.status == 401 and response.json()["code"] == "missing_token", route.key


def test_parameters_carry_type_range_enum_and_default():
    expand = DOCUMENT["paths"]["/expand"]["post"]
    body = expand["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["top_scale"] == {**body["properties"]["top_scale"], "type": "number", "minimum": 1.0,
                                               "maximum": 2.0, "default": 1.5}
    assert body["properties"]["n"]["default"] == 2 and body["required"] == ["base_image_url"]
    multipart = expand["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert multipart["properties"]["base_image"]["format"] == "binary"
    assert multipart["allOf"] == [{"anyOf": [{"required": ["base_image_url"]}, {"required": ["base_image"]}]}]
    listing = {p["name"]: p for p in DOCUMENT["paths"]["/api/v1/jobs"]["get"]["parameters"]}
    assert listing["limit"]["schema"] == {**listing["limit"]["schema"], "type": "integer", "minimum": 1,
                                          "maximum": 100, "default": 20}
    assert listing["status"]["schema"]["enum"] == ["awaiting_upload", "pending", "processing", "completed", "failed",
                                                 "cancelled"]
    (task_id,) = DOCUMENT["paths"]["/api/v1/jobs/{task_id}"]["get"]["parameters"]
    assert task_id["in"] == "path" and task_id["required"] and task_id["schema"]["format"] == "uuid"
    combo = DOCUMENT["paths"]["/api/v1/upscale/combo"]["post"]
    assert combo["requestBody"]["content"]["multipart/form-data"]["schema"]["required"] == ["file"]
    config = DOCUMENT["paths"]["/api/v1/configs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert config["additionalProperties"] is False and config["properties"]["model"]["enum"] == ["u2net"]


# -- the declaration's schema and its reader agree: what one accepts, the other does ----------------------------

PROBES = [None, True, False, 0, 1, -1, 1.5, 2, 4, 5, 25, 26, 100, 101, 255, 256, 2.0, 1e300, "", "x", "2", "true",
          "medium", "extreme", "webp", "local", "dashscope", "pending", "combo", "u2net", "#ffffff", "#fff",
          [255, 255, 255], [1, 2], [256, 0, 0], [True, 0, 0], {}, {"a": 1}, ["x"],
          "https://example.com/a.jpg", "HTTP://e.com", "ftp://e.com/a", "http://:80", "http://", "x" * 2049,
          "https://e.com/" + "a" * 2040, UUID, UUID.upper(), UUID + "\n", "not-a-uuid", "image/png", "text/plain",
          "abc_-", "abc!", "a" * 1025]


def _all_params() -> dict[str, Param]:
    found: dict[str, Param] = {}

    def add(param: Param, where: str) -> None:
        found.setdefault(f"{where}:{param.name}", param)
        for inner in param.fields:
            add(inner, f"{where}:{param.name}")

    for route in ROUTES:
        for param in route.path_params + route.query + route.headers + (route.body.fields if route.body else ()):
            add(param, route.key)
    return found


@pytest.mark.parametrize("name,param", sorted(_all_params().items()), ids=sorted(_all_params()))
def test_a_declarations_schema_and_reader_agree(name, param):
    """Typed (JSON) values: the schema published for a parameter accepts exactly what its reader accepts (absent
    values aside: null and "" mean "not given", the default)."""
    checker = jsonschema_rs.validator_for(param.schema())  # ECMA-262 patterns, as clients' validators read them
    for value in PROBES:
        if value is None or value == "":
            continue
        try:
            param.read(value)
            accepted = True
        except Exception as exc:  # noqa: BLE001 - only a 400 may come out of a reader
            assert getattr(exc, "status", None) == 400, (value, exc)
            accepted = False
        assert accepted == checker.is_valid(value), (name, value, accepted)


# -- real answers match the document --------------------------------------------------------------------------

def _validator(schema: dict) -> jsonschema.Draft202012Validator:
    registry = Registry().with_resource("urn:imgapi", Resource.from_contents(DOCUMENT, default_specification=DRAFT202012))
    resolved = json.loads(json.dumps(schema).replace('"#/components/', '"urn:imgapi#/components/'))
    return jsonschema.Draft202012Validator(resolved, registry=registry)


def _route_of(method: str, path: str) -> str:
    """The declared path a request's path falls under (/api/v1/jobs/abc -> /api/v1/jobs/{task_id})."""
    return next(r.path for r in ROUTES if r.method == method and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", r.path), path))


def _check(method: str, path: str, response) -> None:
    """The answer's status is documented for the route, and its JSON body matches the documented schema."""
    answers = DOCUMENT["paths"][_route_of(method, path)][method.lower()]["responses"]
    assert str(response.status) in answers, (method, path, response.status, response.body[:300])
    content = answers[str(response.status)].get("content", {})
    media = response.headers.get("content-type", "").split(";")[0]
    if not content:
        assert not response.body, (method, path)
        return
    assert media in content, (method, path, media)
    if media == "application/json":
        errors = sorted(_validator(content[media]["schema"]).iter_errors(response.json()), key=str)
        assert not errors, (method, path, [e.message for e in errors[:3]])


def test_every_routes_answers_match_the_document(api, alice, bob, keyed):
    calls = []

    def call(method, path, **kwargs):
        response = api.call(method, path, **kwargs)
        _check(method, path, response)
        calls.append((method, path, response.status))
        return response

    login = call("POST", "/api/v1/login", query="username=alice&password=alice-password")
    call("POST", "/api/v1/login", json_body={"username": "alice", "password": "wrong-password"})
    call("POST", "/api/v1/login", json_body={"username": 5, "password": "x"})
    token = login.json()["access_token"]
    call("GET", "/api/v1/health")
    assert call("GET", "/api/v1/openapi.json").json() == DOCUMENT
    for path in ("/", "/playground/app.js", "/playground/app.css"):
        call("GET", path)
    config = call("POST", "/api/v1/configs", token=token, json_body={"name": "white", "bgcolor": "#ffffff"}).json()
    call("POST", "/api/v1/configs", token=token, json_body={"alpha_matting": "yes"})
    call("GET", "/api/v1/configs", token=token)
    call("GET", f"/api/v1/configs/{config['config_id']}", token=token)
    call("GET", f"/api/v1/configs/{config['config_id']}", token=bob)
    call("GET", f"/api/v1/configs/{UUID}", token=token)
    call("GET", "/api/v1/configs/not-a-uuid", token=token)
    combo = call("POST", "/api/v1/upscale/combo", token=token, query=f"config_id={config['config_id']}",
                 files={"file": ("a.png", portrait_png(40, 50), "image/png")}).json()
    call("POST", "/api/v1/upscale/combo", token=token, query="enhance_level=extreme",
         files={"file": ("a.png", portrait_png(40, 50), "image/png")})
    call("GET", f"/api/v1/upscale/status/{combo['task_id']}", token=token)
    call("GET", f"/api/v1/upscale/result/{combo['task_id']}", token=token)
    call("GET", f"/api/v1/upscale/status/{combo['task_id']}", token=bob)
    call("GET", f"/api/v1/jobs/{combo['task_id']}", token=token)
    bodies = {"change_bg": {"base_image_url": "https://e.com/a.png", "ref_image_url": "https://e.com/b.jpg"},
              "change_cloth": {"person_image_url": "https://e.com/p.jpg", "top_garment_url": "https://e.com/t.jpg"},
              "expand": {"base_image_url": "https://e.com/a.jpg", "n": 1}, "fix": {"base_image_url": "https://e.com/a.jpg"},
              "remove_bg": {"image_url": "https://e.com/a.jpg", "config_id": config["config_id"]}}
    for operation, body in bodies.items():
        job = call("POST", f"/{operation}", token=token, json_body=body).json()
        call("GET", f"/api/v1/jobs/{job['task_id']}", token=token)
        call("POST", f"/{operation}", token=token, json_body={**body, "engine": "nowhere"})
    call("POST", "/fix", token=token, form={"upscale_factor": "2"},
         files={"base_image": ("a.png", portrait_png(40, 50), "image/png")})
    page = call("GET", "/api/v1/jobs", token=token, query="limit=2").json()
    call("GET", "/api/v1/jobs", token=token, query=f"limit=2&next_token={page['next_token']}")
    call("GET", "/api/v1/jobs", token=token, query="limit=0")
    call("GET", "/api/v1/jobs", token=token)
    upload = call("POST", "/api/v1/uploads", token=token, json_body={"operation": "combo", "filename": "a.jpg"},
                  headers={"idempotency-key": "k1"})
    assert upload.status == 201
    assert call("POST", "/api/v1/uploads", token=token, json_body={"operation": "combo", "filename": "a.jpg"},
                headers={"idempotency-key": "k1"}).status == 200
    call("POST", "/api/v1/uploads", token=token, json_body={"operation": "combo", "filename": "a.jpg", "size": 10**9})
    call("DELETE", f"/api/v1/configs/{config['config_id']}", token=token)
    call("GET", "/api/v1/jobs")
    assert call("DELETE", f"/api/v1/jobs/{combo['task_id']}", token=token).status == 202
    assert call("DELETE", f"/api/v1/jobs/{combo['task_id']}", token=token).status == 409
    call("DELETE", f"/api/v1/jobs/{combo['task_id']}", token=bob)
    key = call("POST", "/api/v1/api-keys", token=token, json_body={"name": "document"}).json()
    call("POST", "/api/v1/api-keys", token=token, json_body={"name": ""})
    call("GET", "/api/v1/api-keys", token=token)
    call("DELETE", "/api/v1/api-keys/not-a-uuid", token=token)
    call("DELETE", f"/api/v1/api-keys/{key['id']}", token=bob)
    assert call("DELETE", f"/api/v1/api-keys/{key['id']}", token=token).status == 204
    call("POST", "/v1.0/removebg", token=token, form={"size": "preview"},
         files={"image_file": ("a.png", portrait_png(40, 50), "image/png")})
    call("POST", "/v1.0/removebg", token=token, json_body={"format": "gif"})
    call("GET", "/v1.0/account", token=token)
    call("GET", "/v1.0/account")
    call("GET", "/api/v1/webhook-secret", token=token)
    call("POST", "/api/v1/webhook-secret/rotate", token=token)
    call("PUT", "/api/v1/webhook-settings", token=token, json_body={"default_url": "https://example.com/hooks"})
    call("PUT", "/api/v1/webhook-settings", token=token, json_body={"default_url": "http://169.254.169.254/x"})
    call("GET", "/api/v1/webhook-settings", token=token)
    # The account's routes last: each revokes the token.
    password = {"current_password": "alice-password", "new_password": "a-new-password"}
    call("POST", "/api/v1/auth/password", token=token, json_body={**password, "current_password": "wrong-password"})
    call("POST", "/api/v1/auth/password", token=token, json_body={**password, "new_password": "short"})
    assert call("POST", "/api/v1/auth/password", token=token, json_body=password).status == 204
    call("POST", "/api/v1/auth/logout-all", token=token)
    assert call("POST", "/api/v1/auth/logout-all", token=bob).status == 204
    statuses = {status for *_, status in calls}
    assert {200, 201, 202, 204, 400, 401, 403, 404, 413} <= statuses, statuses
    assert {(method, _route_of(method, path)) for method, path, _ in calls} == {(r.method, r.path) for r in ROUTES}
