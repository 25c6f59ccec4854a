"""Every file in events/ drives its function successfully (the same files `sam local invoke -e` uses)."""
from __future__ import annotations

import json
import time

import pytest

from imgapi.jobs import lifecycle

from imgapi.jobs import removal_configs

from imgapi.auth import users
from imgapi.core.settings import get_settings
from imgapi.auth.tokens import issue_token
from imgapi_local.events import LambdaContext
from imgapi_local.handlers import load_handler
from imgapi_local.template import ROOT, functions, http_routes, load_template
from tests.support.images import portrait_png

EVENTS = ROOT / "events"
TASK = "00000000-0000-4000-8000-000000000001"
CONFIG = "00000000-0000-4000-8000-0000000000c1"
PLACEHOLDER = "REPLACE_WITH_A_TOKEN_FROM_LOGIN"

pytestmark = pytest.mark.slow


def _function_for(event: dict) -> str:
    template = load_template()
    if event.get("detail-type") == "Scheduled Event":
        return next(s.logical_id for s in functions(template) if any(e["Type"] == "Schedule" for e in s.events.values()))
    if "Records" in event:
        record = event["Records"][0]
        if record.get("eventSource") == "aws:sqs":  # the function whose queue the record came from
            return next(s.logical_id for s in functions(template) for e in s.events.values()
                        if e["Type"] == "SQS" and record["eventSourceARN"].endswith("-" + e["Properties"]["Queue"]["Fn::GetAtt"][0]))
        return next(s.logical_id for s in functions(template) if any(e["Type"] == "S3" for e in s.events.values()))
    return next(r.function for r in http_routes(template) if f"{r.method} {r.path}" == event["routeKey"])


def _invoke(name: str, token: str) -> dict:
    event = json.loads((EVENTS / name).read_text().replace(PLACEHOLDER, token))
    function = _function_for(event)
    spec = next(s for s in functions(load_template()) if s.logical_id == function)
    return load_handler(spec)(event, LambdaContext(function, int(spec.properties.get("Timeout", 30))))


@pytest.fixture
def seeded(stack):
    """What the sample events refer to: the demo user, a queued job and a saved configuration."""
    from imgapi.core import aws
    from imgapi.core import storage

    users.create_user("test_user", "test_password")
    token = issue_token("test_user")[0]
    config = removal_configs.parse_config({}).to_dict()
    storage.put_object(f"uploads/test_user/{TASK}/input.png", portrait_png(60, 80), "image/png")
    lifecycle.create_job(task_id=TASK, owner="test_user", operation="combo", engine="local",
                    params={"enhance_level": "light", "config": config}, input_key=f"uploads/test_user/{TASK}/input.png")
    aws.table(get_settings().configs_table).put_item(Item={
        "config_id": CONFIG, "owner": "test_user", "name": "sample", "created_at": "2026-11-21T08:00:00.000Z",
        "settings": config})
    return token


def test_sample_events_in_order(seeded):
    token = seeded
    login = _invoke("login.json", token)
    assert login["statusCode"] == 200 and json.loads(login["body"])["access_token"]
    assert _invoke("jobs_health.json", token)["statusCode"] == 200
    assert json.loads(_invoke("jobs_openapi.json", token)["body"])["paths"]["/api/v1/openapi.json"]["get"]
    assert _invoke("combo_submit.json", token)["statusCode"] == 202
    assert json.loads(_invoke("jobs_combo_status.json", token)["body"])["status"] == "pending"
    assert _invoke("image_worker_sqs.json", token) == {"batchItemFailures": []}
    assert json.loads(_invoke("jobs_combo_status.json", token)["body"])["status"] == "completed"
    result = _invoke("jobs_combo_result.json", token)
    assert result["statusCode"] == 200 and result["isBase64Encoded"] and result["headers"]["Content-Type"] == "image/png"
    assert _invoke("configs_create.json", token)["statusCode"] == 201
    assert len(json.loads(_invoke("configs_list.json", token)["body"])["configs"]) == 2
    assert _invoke("configs_get.json", token)["statusCode"] == 200
    assert _invoke("configs_delete.json", token)["statusCode"] == 204
    assert _invoke("configs_get.json", token)["statusCode"] == 404


DASHSCOPE_TASK = "00000000-0000-4000-8000-000000000002"


def test_image_edit_events(seeded, dashscope):
    token = seeded
    for name in ("change_bg_submit.json", "change_cloth_submit.json", "expand_submit.json", "fix_submit.json",
                 "remove_bg_submit.json"):
        response = _invoke(name, token)
        assert response["statusCode"] == 202, (name, response["body"])
    lifecycle.create_job(task_id=DASHSCOPE_TASK, owner="test_user", operation="change_bg", engine="dashscope",
                    params={"base_image_url": "https://example.com/image.jpg", "ref_image_url": None,
                            "ref_prompt": "a beach", "n": 1}, input_key=None)
    assert _invoke("dashscope_worker_sqs.json", token) == {"batchItemFailures": []}
    job = json.loads(_invoke("jobs_get.json", token)["body"])
    assert job["status"] == "completed" and job["results"][0]["url"]
    listing = json.loads(_invoke("jobs_list.json", token)["body"])
    assert {j["operation"] for j in listing["jobs"]} == {"change_bg"} and len(listing["jobs"]) == 2


def test_s3_inbox_event(seeded):
    from imgapi.core import storage

    storage.put_object("inbox/combo/catalogue/model-01.jpg", portrait_png(40, 50), "image/png")
    (task_id,) = _invoke("ingest_s3_inbox.json", seeded)["tasks"]
    assert lifecycle.get_job(task_id)["status"] == "pending"


UPLOAD_TASK = "00000000-0000-4000-8000-000000000003"


def test_direct_upload_events(seeded):
    """POST /api/v1/uploads answers with a presigned POST; the upload's S3 event starts the job waiting for it."""
    import time

    from imgapi.core import storage

    created = _invoke("uploads_create.json", seeded)
    assert created["statusCode"] == 201 and json.loads(created["body"])["upload"]["fields"]["policy"]
    key = f"incoming/test_user/{UPLOAD_TASK}/catalogue-photo.png"
    lifecycle.create_job(task_id=UPLOAD_TASK, owner="test_user", operation="combo", engine="local",
                    params={"enhance_level": "light", "config": removal_configs.parse_config({}).to_dict()},
                    input_key=None, status=lifecycle.AWAITING_UPLOAD,
                    extra={"upload_key": key, "upload_expires_at": int(time.time()) + 900})
    storage.put_object(key, portrait_png(40, 50), "image/png")
    assert _invoke("ingest_s3_incoming.json", seeded)["tasks"] == [UPLOAD_TASK]
    assert lifecycle.get_job(UPLOAD_TASK)["status"] == "pending"


def test_sweeper_schedule_event(seeded):
    """The scheduled sweep fails a job whose worker died on its last delivery."""
    from imgapi.core import aws
    from imgapi.core.records import iso_at

    lifecycle.claim(TASK, 3, last_delivery=True)
    aws.table(get_settings().jobs_table).update_item(
        Key={"task_id": TASK}, UpdateExpression="SET updated_at = :old",
        ExpressionAttributeValues={":old": iso_at(time.time() - get_settings().last_delivery_grace_seconds - 60)})
    assert _invoke("sweeper_schedule.json", seeded)["failed"] == [TASK]
    assert lifecycle.get_job(TASK)["error_code"] == "worker_lost"


def test_playground_event():
    """The playground's page needs no token and no AWS."""
    page = _invoke("playground_index.json", "")
    assert page["statusCode"] == 200 and page["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>imgapi playground</title>" in page["body"]


def test_api_key_events(seeded):
    """Create a key with a login token, list the keys with the key itself, revoke it by its id."""
    created = _invoke("api_keys_create.json", seeded)
    assert created["statusCode"] == 201, created["body"]
    key = json.loads(created["body"])
    listed = _invoke_with("api_keys_list.json", {"REPLACE_WITH_AN_API_KEY": key["key"]})
    assert [k["id"] for k in json.loads(listed["body"])["keys"]] == [key["id"]]
    revoke = "api_keys_revoke.json"
    sample_id = json.loads((EVENTS / revoke).read_text())["pathParameters"]["key_id"]
    assert _invoke_with(revoke, {PLACEHOLDER: seeded, sample_id: key["id"]})["statusCode"] == 204
    assert _invoke_with("api_keys_list.json", {"REPLACE_WITH_AN_API_KEY": key["key"]})["statusCode"] == 401


def test_webhook_events(seeded, monkeypatch):
    """The secret is made on first use; the queued end of a job is POSTed to its webhook_url, signed with it."""
    from imgapi.core import aws
    from tests.support.webhook_receiver import Receiver, verified

    secret = json.loads(_invoke("webhooks_secret.json", seeded)["body"])["secret"]
    monkeypatch.setenv("FETCH_ALLOW_PRIVATE_HOSTS", "true")
    get_settings.cache_clear()
    receiver = Receiver("ok")
    try:
        aws.table(get_settings().jobs_table).update_item(Key={"task_id": TASK}, UpdateExpression="SET webhook_url = :u",
                                                         ExpressionAttributeValues={":u": receiver.url})
        assert lifecycle.complete(TASK, 0, [])
        assert _invoke("webhook_delivery_sqs.json", seeded) == {"batchItemFailures": []}
        ((headers, body),) = receiver.received
    finally:
        receiver.close()
    assert verified(secret, headers, body)["data"]["task_id"] == TASK
    assert lifecycle.get_job(TASK)["webhook"]["state"] == "delivered"


def _invoke_with(name: str, replacements: dict[str, str]) -> dict:
    text = (EVENTS / name).read_text()
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    event = json.loads(text)
    function = _function_for(event)
    spec = next(s for s in functions(load_template()) if s.logical_id == function)
    return load_handler(spec)(event, LambdaContext(function, int(spec.properties.get("Timeout", 30))))


def test_every_sample_event_is_used_above():
    source = (ROOT / "tests/functional/test_sample_events.py").read_text()
    for path in EVENTS.glob("*.json"):
        assert f'"{path.name}"' in source, path.name
