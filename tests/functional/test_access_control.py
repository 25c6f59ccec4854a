"""Guarantee 1 of issue #8, the ownership part: another user's jobs, results, uploads and configurations are 403
on every route that reaches them, lists show only one's own, and the presigned URLs we hand out name only the
owner's keys and expire when the settings say. Also: secrets and tokens never reach the logs.

(Token checks, 401s and login lock-out are in test_login.py and tests/unit/test_auth_primitives.py.)
"""
from __future__ import annotations

import base64
import io
import json
import logging
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from imgapi.dashscope import worker as dashscope_worker

from imgapi.jobs import lifecycle

from imgapi.auth import tokens
from imgapi.core.observability import logger as powertools_logger
from imgapi.core.settings import get_settings
from imgapi_local.events import LambdaContext
from imgapi_local.s3_post_policy import PolicyError, check_policy, decode_policy
from imgapi_local.template import load_template
from tests.functional.test_ingest import ingest_handler, put, s3_event
from tests.support.images import portrait_jpeg, portrait_png
from tests.support.worker import deliver
from tests.support.aws_state import objects as _objects, job_rows as _all_jobs

pytestmark = pytest.mark.slow

UNKNOWN_TASK = "00000000-0000-4000-8000-000000000000"


def _submit_combo(api, token, **query) -> str:
    response = api.call("POST", "/api/v1/upscale/combo", token=token, query="&".join(f"{k}={v}" for k, v in query.items()),
                        files={"file": ("p.jpg", portrait_jpeg(40, 50), "image/jpeg")})
    assert response.status == 202, response.body
    return response.json()["task_id"]


def _job_of(kind: str, api, token) -> str:
    """A job of each way one is made: combo, an image edit with an uploaded file, a direct upload."""
    if kind == "combo":
        return _submit_combo(api, token)
    if kind == "image_edit":
        response = api.call("POST", "/change_cloth", token=token, form={"top_garment_url": "https://example.com/t.jpg"},
                            files={"person_image": ("me.png", portrait_png(40, 50), "image/png")})
    else:
        response = api.call("POST", "/api/v1/uploads", token=token,
                            json_body={"operation": "remove_bg", "filename": "a.png", "content_type": "image/png"})
    assert response.status == (201 if kind == "direct_upload" else 202), response.body
    return response.json()["task_id"]


JOB_ROUTES = ["/api/v1/jobs/{}", "/api/v1/upscale/status/{}", "/api/v1/upscale/result/{}"]


@pytest.mark.parametrize("route", JOB_ROUTES)
@pytest.mark.parametrize("kind", ["combo", "image_edit", "direct_upload"])
def test_another_users_job_is_403_on_every_route_and_an_unknown_one_404(api, alice, bob, keyed, kind, route):
    task_id = _job_of(kind, api, alice)
    foreign = api.call("GET", route.format(task_id), token=bob)
    assert foreign.status == 403 and foreign.json()["code"] == "task_forbidden"
    assert task_id in foreign.json()["error"] and "alice" not in foreign.body.decode()  # says nothing of the job
    unknown = api.call("GET", route.format(UNKNOWN_TASK), token=bob)
    assert unknown.status == 404 and unknown.json()["code"] == "task_not_found"
    own = api.call("GET", route.format(task_id), token=alice)
    if "/result/" in route:  # the owner is told the result is not ready yet, not that the task is unknown
        assert own.status == 404 and own.json()["code"] == "result_not_ready"
    else:
        assert own.status == 200 and own.json()["task_id"] == task_id


def _completed_combo(api, token) -> str:
    task_id = _submit_combo(api, token, enhance_level="light")
    deliver(get_settings().image_queue_url)
    assert lifecycle.get_job(task_id)["status"] == "completed"
    return task_id


def test_another_users_finished_result_is_403_and_gives_nothing_away(api, alice, bob, monkeypatch):
    task_id = _completed_combo(api, alice)
    for inline_limit, owners_status in (("4400000", 200), ("1", 307)):  # the result inline, and a redirect to S3
        monkeypatch.setenv("INLINE_RESULT_MAX_BYTES", inline_limit)
        get_settings.cache_clear()
        for route in JOB_ROUTES:
            response = api.call("GET", route.format(task_id), token=bob)
            assert response.status == 403, (route, response.status)
            assert "location" not in response.headers and b"results/" not in response.body and b"X-Amz" not in response.body
        assert api.call("GET", f"/api/v1/upscale/result/{task_id}", token=alice).status == owners_status


def test_listing_shows_only_ones_own_jobs_whatever_the_filter(api, alice, bob, keyed):
    mine = {_job_of(kind, api, alice) for kind in ("combo", "image_edit", "direct_upload")}
    theirs = {_job_of(kind, api, bob) for kind in ("combo", "image_edit", "direct_upload")}
    for query in ("", "limit=100", "status=pending", "status=awaiting_upload", "operation=combo",
                  "operation=change_cloth", "operation=remove_bg"):
        listed = {j["task_id"] for j in api.call("GET", "/api/v1/jobs", token=bob, query=query).json()["jobs"]}
        assert listed <= theirs and not listed & mine, query
    assert {j["task_id"] for j in api.call("GET", "/api/v1/jobs", token=bob).json()["jobs"]} == theirs


def test_a_forged_next_token_naming_another_owner_lists_nothing_of_theirs(api, alice, bob, keyed):
    _job_of("combo", api, alice)
    alice_job = lifecycle.get_job(_job_of("combo", api, alice))
    forged = base64.urlsafe_b64encode(json.dumps(
        {"task_id": alice_job["task_id"], "owner": "alice", "created_at": alice_job["created_at"]}).encode()).decode()
    response = api.call("GET", "/api/v1/jobs", token=bob, query=f"next_token={forged.rstrip('=')}")
    assert response.status == 400 and response.json()["code"] == "bad_next_token"


# -- configurations -----------------------------------------------------------------------------------------------

@pytest.fixture
def alices_config(api, alice) -> str:
    response = api.call("POST", "/api/v1/configs", token=alice, json_body={"name": "alice's", "bgcolor": "#ffffff"})
    assert response.status == 201, response.body
    return response.json()["config_id"]


def test_another_users_configuration_is_403_to_read_and_to_delete_and_stays(api, alice, bob, alices_config):
    for method in ("GET", "DELETE"):
        response = api.call(method, f"/api/v1/configs/{alices_config}", token=bob)
        assert response.status == 403 and response.json()["code"] == "config_forbidden"
        assert b"#ffffff" not in response.body and b"255" not in response.body
    assert api.call("GET", f"/api/v1/configs/{alices_config}", token=alice).status == 200
    assert api.call("GET", "/api/v1/configs", token=bob).json()["configs"] == []
    bobs = api.call("POST", "/api/v1/configs", token=bob, json_body={"name": "bob's"}).json()["config_id"]
    assert [c["config_id"] for c in api.call("GET", "/api/v1/configs", token=alice).json()["configs"]] == [alices_config]
    assert [c["config_id"] for c in api.call("GET", "/api/v1/configs", token=bob).json()["configs"]] == [bobs]


def _submit_with_config(api, token, how: str, config_id: str):
    jpeg = ("p.jpg", portrait_jpeg(40, 50), "image/jpeg")
    if how == "combo_query":
        return api.call("POST", "/api/v1/upscale/combo", token=token, query=f"config_id={config_id}", files={"file": jpeg})
    if how == "combo_form":
        return api.call("POST", "/api/v1/upscale/combo", token=token, form={"config_id": config_id}, files={"file": jpeg})
    if how == "remove_bg_json":
        return api.call("POST", "/remove_bg", token=token,
                        json_body={"image_url": "https://example.com/a.png", "config_id": config_id})
    if how == "remove_bg_upload":
        return api.call("POST", "/remove_bg", token=token, form={"config_id": config_id}, files={"image": jpeg})
    return api.call("POST", "/api/v1/uploads", token=token, json_body={
        "operation": "combo", "filename": "a.jpg", "content_type": "image/jpeg", "params": {"config_id": config_id}})


@pytest.mark.parametrize("how", ["combo_query", "combo_form", "remove_bg_json", "remove_bg_upload", "direct_upload"])
def test_another_users_config_id_in_a_submit_is_403_and_stores_nothing(api, alice, bob, alices_config, how):
    response = _submit_with_config(api, bob, how, alices_config)
    assert response.status == 403 and response.json()["code"] == "config_forbidden", response.body
    assert _all_jobs() == [] and _objects() == []
    assert _submit_with_config(api, alice, how, alices_config).status == (201 if how == "direct_upload" else 202)


def test_a_sidecar_naming_another_users_config_fails_the_batch_job(api, alice, alices_config):
    put("inbox/combo/a.json", json.dumps({"config_id": alices_config}).encode(), "application/json")
    put("inbox/combo/a.jpg", portrait_jpeg(40, 50))
    (task_id,) = ingest_handler()(s3_event("inbox/combo/a.jpg"), LambdaContext("ingest"))["tasks"]
    job = lifecycle.get_job(task_id)
    assert job["owner"] == "batch" and job["status"] == "failed" and job["error_code"] == "config_forbidden"
    assert _objects("results/") == []


# -- presigned URLs: the owner's keys only, short-lived --------------------------------------------------------------

def _key_and_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    bucket = get_settings().bucket
    if path.startswith(bucket + "/"):  # path-style; virtual-hosted style has the bucket in the host
        path = path[len(bucket) + 1:]
    return path, {k: v[0] for k, v in parse_qs(parts.query).items()}


@pytest.mark.parametrize("ttl", [900, 120])
def test_result_urls_name_only_the_owners_result_and_expire_as_configured(api, alice, monkeypatch, ttl):
    monkeypatch.setenv("PRESIGN_TTL_SECONDS", str(ttl))
    get_settings.cache_clear()
    task_id = _completed_combo(api, alice)
    prefix = f"results/alice/{task_id}/"
    (result,) = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()["results"]
    key, query = _key_and_query(result["url"])
    assert key.startswith(prefix) and "/" not in key[len(prefix):]
    assert int(query["X-Amz-Expires"]) == ttl
    signed_at = time.mktime(time.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")) - time.timezone
    assert abs(signed_at - time.time()) < 60
    monkeypatch.setenv("INLINE_RESULT_MAX_BYTES", "1")  # too large to answer inline: a redirect
    get_settings.cache_clear()
    redirect = api.call("GET", f"/api/v1/upscale/result/{task_id}", token=alice)
    assert redirect.status == 307
    key, query = _key_and_query(redirect.headers["location"])
    assert key.startswith(prefix) and int(query["X-Amz-Expires"]) == ttl


@pytest.mark.parametrize("ttl", [900, 120])
def test_the_upload_post_pins_the_owners_exact_key_a_size_range_and_a_type_and_expires_as_configured(api, alice, monkeypatch, ttl):
    monkeypatch.setenv("UPLOAD_URL_TTL_SECONDS", str(ttl))
    get_settings.cache_clear()
    started = time.time()
    answer = api.call("POST", "/api/v1/uploads", token=alice, json_body={
        "operation": "combo", "filename": "../../x.jpg", "content_type": "image/jpeg"}).json()
    fields = answer["upload"]["fields"]
    key = f"incoming/alice/{answer['task_id']}/x.jpg"
    policy = decode_policy(fields["policy"])
    conditions = policy["conditions"]
    assert fields["key"] == key and {"key": key} in conditions  # exactly this key: no starts-with on it
    assert not any(isinstance(c, list) and c[1:2] == ["$key"] for c in conditions)
    assert {"bucket": get_settings().bucket} in conditions
    assert ["content-length-range", 1, get_settings().max_upload_bytes] in conditions
    assert fields["Content-Type"] == "image/jpeg" and ["starts-with", "$Content-Type", "image/"] in conditions
    expires = time.mktime(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert started + ttl - 5 <= expires <= time.time() + ttl + 1
    assert answer["expires_in"] <= ttl


def test_an_upload_post_cannot_be_pointed_at_another_users_key(api, alice, bob):
    alices = api.call("POST", "/api/v1/uploads", token=alice, json_body={
        "operation": "combo", "filename": "a.jpg", "content_type": "image/jpeg"}).json()
    bobs = api.call("POST", "/api/v1/uploads", token=bob, json_body={
        "operation": "combo", "filename": "a.jpg", "content_type": "image/jpeg"}).json()
    fields = {k.lower(): v for k, v in bobs["upload"]["fields"].items()}
    policy = decode_policy(fields["policy"])
    check_policy(policy, {**fields, "bucket": get_settings().bucket}, 1000, now=time.time())  # his own key: allowed
    for other in (alices["upload"]["fields"]["key"], f"incoming/alice/{bobs['task_id']}/a.jpg",
                  f"incoming/bob/{bobs['task_id']}/../../alice/x.jpg"):
        with pytest.raises(PolicyError) as refused:
            check_policy(policy, {**fields, "key": other, "bucket": get_settings().bucket}, 1000, now=time.time())
        assert refused.value.status == 403
    with pytest.raises(PolicyError):  # nor used once expired
        check_policy(policy, {**fields, "bucket": get_settings().bucket}, 1000, now=time.time() + 901)


def test_a_retried_upload_request_with_another_users_idempotency_key_gets_its_own_job(api, alice, bob):
    body = {"operation": "combo", "filename": "a.jpg", "content_type": "image/jpeg"}
    headers = {"Idempotency-Key": "shared-key"}
    alices = api.call("POST", "/api/v1/uploads", token=alice, json_body=body, headers=headers).json()
    bobs = api.call("POST", "/api/v1/uploads", token=bob, json_body=body, headers=headers)
    assert bobs.status == 201 and bobs.json()["task_id"] != alices["task_id"]
    assert bobs.json()["upload"]["fields"]["key"].startswith(f"incoming/bob/{bobs.json()['task_id']}/")


def test_inputs_handed_to_dashscope_are_the_owners_uploads_for_an_hour(api, alice, keyed):
    task_id = _job_of("image_edit", api, alice)
    urls = dashscope_worker.input_urls(lifecycle.get_job(task_id))
    key, query = _key_and_query(urls["person_image_url"])
    assert key == f"uploads/alice/{task_id}/person_image_url.png"
    assert int(query["X-Amz-Expires"]) == dashscope_worker.INPUT_URL_TTL_SECONDS == 3600
    assert urls["top_garment_url"] == "https://example.com/t.jpg"  # a given URL is passed on as it is


# -- logs: no password, token or signing key, at any level ----------------------------------------------------------

@pytest.fixture
def captured_logs():
    """Everything the functions' Powertools logger writes (to stdout in Lambda), at DEBUG, for the test."""
    handler = powertools_logger.registered_handler
    buffer = io.StringIO()
    previous_stream, previous_level = handler.setStream(buffer), powertools_logger.log_level
    powertools_logger.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        handler.setStream(previous_stream)
        powertools_logger.setLevel(previous_level)


def test_passwords_tokens_and_the_signing_key_never_reach_the_logs(api, stack, captured_logs):
    from imgapi.auth import users

    password, wrong = "correct horse battery staple", "Tr0ub4dor&3-wrong"
    users.create_user("carol", password)
    logins = [
        api.call("POST", "/api/v1/login", query=f"username=carol&password={password.replace(' ', '+')}"),
        api.call("POST", "/api/v1/login", json_body={"username": "carol", "password": password}),
        api.call("POST", "/api/v1/login", form={"username": "carol", "password": password}),
    ]
    assert [r.status for r in logins] == [200, 200, 200]
    token = logins[0].json()["access_token"]
    assert api.call("POST", "/api/v1/login", json_body={"username": "carol", "password": wrong}).status == 401
    assert api.call("POST", "/api/v1/login", query=f"username=nobody&password={wrong}").status == 401
    assert api.call("GET", "/api/v1/jobs", token=token).status == 200
    assert api.call("GET", "/api/v1/jobs", query=f"token={token}").status == 200
    assert api.call("GET", f"/api/v1/jobs/{UNKNOWN_TASK}", token=token).status == 404
    assert api.call("POST", "/api/v1/upscale/combo", token=token,
                    files={"file": ("p.jpg", portrait_jpeg(40, 50), "image/jpeg")}).status == 202
    forged = tokens.issue_token("carol", key="not-the-real-signing-key-of-this-stack")[0]
    assert api.call("GET", "/api/v1/jobs", token=forged).status == 401
    assert api.call("GET", "/api/v1/jobs", token=token[:-4] + "AAAA").status == 401

    logged = captured_logs.getvalue()
    lines = [json.loads(line) for line in logged.splitlines() if line.strip()]
    assert len(lines) >= 5 and any(line.get("message") == "job submitted" for line in lines)  # it did log
    secret = tokens.signing_key()
    for leaked in (password, password.replace(" ", "+"), wrong, token, token.split(".")[2], forged, secret):
        assert leaked not in logged


def test_no_function_is_configured_to_log_its_whole_event():
    """Powertools' POWERTOOLS_LOGGER_LOG_EVENT would log every request as it came: headers, query string, body."""
    template = load_template()
    resources = template["Resources"]
    environments = [template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})]
    environments += [r.get("Properties", {}).get("Environment", {}).get("Variables", {}) for r in resources.values()
                     if r.get("Type") == "AWS::Serverless::Function"]
    assert len(environments) > 10
    for variables in environments:
        assert str(variables.get("POWERTOOLS_LOGGER_LOG_EVENT", "false")).lower() in ("false", "0", "")
