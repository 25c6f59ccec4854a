"""Webhooks over moto: webhook_url on every submit, the per-user secret and its rotation, the event queued when a job
ends (completed, failed, cancelled), the delivery function's attempts, retries, dead-letter queue and refusals, the
batch folder's default URL. A receiver on 127.0.0.1 verifies every delivery with the PyPI `standardwebhooks` package.
Retries are driven by pumping the webhook queue with the delivery function's handler (the schedule set to 0 s, or the
clock and the re-queue observed), never by sleeping."""
from __future__ import annotations

import json
import time

import boto3
import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from imgapi.core.settings import get_settings, get_webhook_settings
from imgapi.jobs import lifecycle, webhook_delivery
from imgapi_local.events import LambdaContext
from tests.functional.test_ingest import ingest_handler, put, s3_event
from tests.support.images import portrait_jpeg, portrait_png
from tests.support.seed_api import SEED_BODIES
from tests.support.webhook_receiver import receiver, verified  # noqa: F401 - receiver is a fixture
from tests.support.worker import deliver, drain, queue_depth, worker_handler

pytestmark = pytest.mark.slow


@pytest.fixture
def local_targets(stack, monkeypatch):
    """The documented local-testing switch: webhooks may go to 127.0.0.1 (the receiver); retries come at once. The
    default 5 s timeout, so that a loaded machine never turns an answer into a timeout (the timeout test shortens it)."""
    monkeypatch.setenv("FETCH_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "0,0")
    get_settings.cache_clear()


def secret_of(api, token) -> str:
    response = api.call("GET", "/api/v1/webhook-secret", token=token)
    assert response.status == 200, response.body
    return response.json()["secret"]


def submit_combo(api, token, webhook_url: str | None, **extra) -> dict:
    form = {"webhook_url": webhook_url} if webhook_url else {}
    return api.call("POST", "/api/v1/upscale/combo", token=token, form=form, **extra,
                    files={"file": ("a.png", portrait_png(40, 40), "image/png")})


def pump() -> list[dict]:
    """The webhook queue delivered to the delivery function until it is empty (retries included)."""
    return drain(get_webhook_settings().queue_url, worker_handler("WebhookDeliveryFunction"))


def dead_letters() -> list[dict]:
    messages = boto3.client("sqs").receive_message(QueueUrl=get_webhook_settings().dead_letter_queue_url,
                                                   MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def run_image_worker() -> None:
    drain(get_settings().image_queue_url, worker_handler())


# -- submit ---------------------------------------------------------------------------------------------------


def test_every_submit_route_takes_a_webhook_url_and_keeps_it_on_the_job(api, alice, keyed, local_targets):
    url = "http://127.0.0.1:9/hooks"
    tasks = [submit_combo(api, alice, url).json()["task_id"]]
    for operation, body in SEED_BODIES.items():
        response = api.call("POST", f"/{operation}", token=alice, json_body={**body, "webhook_url": url})
        assert response.status == 202, response.body
        tasks.append(response.json()["task_id"])
        assert response.json()["webhook"] == {"url": url, "state": "pending", "attempts": 0, "last_status": None,
                                              "last_error": None, "last_attempt_at": None, "next_attempt_at": None}
    upload = api.call("POST", "/api/v1/uploads", token=alice,
                      json_body={"operation": "combo", "filename": "a.jpg", "webhook_url": url})
    assert upload.status == 201, upload.body
    tasks.append(upload.json()["task_id"])
    assert [lifecycle.get_job(t)["webhook_url"] for t in tasks] == [url] * len(tasks)
    assert api.call("GET", f"/api/v1/jobs/{tasks[0]}", token=alice).json()["webhook"]["url"] == url


@pytest.mark.parametrize("url, code", [("ftp://example.com/h", "bad_webhook_url"),
                                       ("http://169.254.169.254/latest/meta-data/", "webhook_url_refused"),
                                       ("http://127.0.0.1:8000/hooks", "webhook_url_refused"),
                                       ("http://10.0.0.7/hooks", "webhook_url_refused")])
def test_a_bad_or_private_webhook_url_is_refused_at_submit_and_nothing_is_stored(api, alice, keyed, url, code):
    for response in (submit_combo(api, alice, url),
                     api.call("POST", "/fix", token=alice, json_body={**SEED_BODIES["fix"], "webhook_url": url}),
                     api.call("POST", "/api/v1/uploads", token=alice,
                              json_body={"operation": "combo", "filename": "a.jpg", "webhook_url": url})):
        assert response.status == 400 and response.json()["code"] == code, response.body
    assert api.call("GET", "/api/v1/jobs", token=alice).json()["jobs"] == []


def test_the_same_idempotency_key_with_another_webhook_url_is_another_request(api, alice, local_targets):
    first = submit_combo(api, alice, "http://127.0.0.1:9/a", headers={"idempotency-key": "k"})
    assert first.status == 202
    assert submit_combo(api, alice, "http://127.0.0.1:9/a", headers={"idempotency-key": "k"}).status == 202
    assert submit_combo(api, alice, "http://127.0.0.1:9/b", headers={"idempotency-key": "k"}).status == 422


# -- delivery -------------------------------------------------------------------------------------------------


def test_a_completed_job_is_delivered_on_the_first_try_signed_and_with_the_job_view(api, alice, local_targets,
                                                                                    receiver):
    server = receiver("ok")
    task_id = submit_combo(api, alice, server.url).json()["task_id"]
    assert queue_depth(get_webhook_settings().queue_url) == 0  # nothing until the job ends
    run_image_worker()
    assert pump() == [{"batchItemFailures": []}]
    ((headers, body),) = server.received
    event = verified(secret_of(api, alice), headers, body)
    job = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert event["type"] == "job.completed" and event["timestamp"] == job["finished_at"]
    assert headers["webhook-id"].startswith("msg_") and headers["content-type"] == "application/json"
    # The data is the job view as GET answers it (its delivery state as it was before this attempt).
    assert {k: v for k, v in event["data"].items() if k not in ("results", "webhook")} == \
           {k: v for k, v in job.items() if k not in ("results", "webhook")}
    assert event["data"]["results"][0]["width"] == job["results"][0]["width"] and event["data"]["webhook"]["attempts"] == 0
    assert job["webhook"]["state"] == "delivered" and job["webhook"]["attempts"] == 1 and job["webhook"]["last_status"] == 204


def test_a_500_and_a_timeout_are_retried_with_the_same_id_and_body_until_delivered(api, alice, local_targets,
                                                                                   receiver, monkeypatch):
    server = receiver("500", "slow", "ok")
    task_id = submit_combo(api, alice, server.url).json()["task_id"]
    assert api.call("DELETE", f"/api/v1/jobs/{task_id}", token=alice).status == 202
    queue, delivery = get_webhook_settings().queue_url, worker_handler("WebhookDeliveryFunction")
    deliver(queue, delivery)  # the 500, at once
    # Only the "slow" attempt (its answer is held for 30 s) gets a short timeout: the other two keep the default,
    # which a loaded machine never turns into a timeout.
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "0.5")
    deliver(queue, delivery)
    monkeypatch.delenv("WEBHOOK_TIMEOUT_SECONDS")
    pump()
    secret = secret_of(api, alice)
    received = server.received
    assert len(received) == 3 and len({h["webhook-id"] for h, _ in received}) == 1
    assert len({b for _, b in received}) == 1  # every retry sends the same event
    assert all(verified(secret, h, b)["type"] == "job.cancelled" for h, b in received)
    state = lifecycle.get_job(task_id)["webhook"]
    assert state["state"] == "delivered" and state["attempts"] == 3 and state["last_status"] == 204
    assert queue_depth(get_webhook_settings().queue_url) == 0 and dead_letters() == []


def test_a_spent_schedule_ends_in_the_dead_letter_queue_and_the_job_stays_completed(api, alice, local_targets,
                                                                                  receiver):
    server = receiver("500", "500", "500", "ok")
    task_id = submit_combo(api, alice, server.url).json()["task_id"]
    run_image_worker()
    pump()
    assert len(server.received) == 3  # the first attempt and the schedule's two retries
    job = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert job["status"] == "completed"
    assert job["webhook"]["state"] == "failed" and job["webhook"]["attempts"] == 3
    assert job["webhook"]["last_status"] == 500 and job["webhook"]["last_error"] == "answered HTTP 500"
    (dead,) = dead_letters()
    assert dead["task_id"] == task_id and dead["attempts"] == 3 and dead["event"]["type"] == "job.completed"


def test_a_target_that_became_private_is_refused_at_delivery(api, alice, local_targets, receiver, monkeypatch):
    """Checked at submit, and again at each attempt: a host whose DNS now points inside is not called."""
    server = receiver("ok")
    task_id = submit_combo(api, alice, server.url).json()["task_id"]
    monkeypatch.delenv("FETCH_ALLOW_PRIVATE_HOSTS")
    get_settings.cache_clear()
    assert api.call("DELETE", f"/api/v1/jobs/{task_id}", token=alice).status == 202
    pump()
    assert server.received == []
    state = lifecycle.get_job(task_id)["webhook"]
    assert state["state"] == "failed" and state["last_status"] is None and "loopback" in state["last_error"]


def test_the_job_ends_even_when_its_event_cannot_be_queued(api, alice, local_targets, monkeypatch, caplog):
    webhook_queue = get_webhook_settings().queue_url
    task_id = submit_combo(api, alice, "http://127.0.0.1:9/hooks").json()["task_id"]
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", webhook_queue + "-gone")
    # The job's end is written before its event is queued: what this checks is that the failure to queue stays the
    # event's (logged), and is neither the job's message failing (a redelivery) nor an event sent anywhere.
    assert drain(get_settings().image_queue_url, worker_handler()) == [{"batchItemFailures": []}]
    assert lifecycle.get_job(task_id)["status"] == "completed"
    assert any("could not be queued" in record.getMessage() for record in caplog.records)
    assert queue_depth(webhook_queue) == 0
    assert api.call("DELETE", f"/api/v1/jobs/{submit_combo(api, alice, 'http://127.0.0.1:9/h').json()['task_id']}",
                    token=alice).status == 202


def test_a_failed_job_sends_job_failed(api, alice, local_targets, receiver):
    server = receiver("ok")
    task_id = submit_combo(api, alice, server.url).json()["task_id"]
    assert lifecycle.fail(task_id, "it broke", code="broken")
    pump()
    event = verified(secret_of(api, alice), *server.received[0])
    assert event["type"] == "job.failed" and event["data"]["error"] == {"message": "it broke", "code": "broken"}


# -- secrets --------------------------------------------------------------------------------------------------


def test_the_secret_is_made_once_and_each_user_has_their_own(api, alice, bob, local_targets, receiver):
    secret = secret_of(api, alice)
    assert secret.startswith("whsec_") and secret_of(api, alice) == secret and secret_of(api, bob) != secret
    server = receiver("ok", "ok")
    for token in (alice, bob):
        task_id = submit_combo(api, token, server.url).json()["task_id"]
        assert api.call("DELETE", f"/api/v1/jobs/{task_id}", token=token).status == 202
    pump()
    by_owner = {json.loads(b)["data"]["task_id"]: (h, b) for h, b in server.received}
    assert len(by_owner) == 2
    for (headers, body) in by_owner.values():
        mine = lifecycle.get_job(json.loads(body)["data"]["task_id"])["owner"]
        other = secret_of(api, bob if mine == "alice" else alice)
        assert verified(secret_of(api, alice if mine == "alice" else bob), headers, body)
        with pytest.raises(WebhookVerificationError):
            verified(other, headers, body)  # another user's event is never signed with your secret


def test_a_rotation_signs_with_both_secrets_during_the_grace_period_then_the_new_one_alone(
        api, alice, local_targets, receiver, monkeypatch):
    monkeypatch.setenv("WEBHOOK_ROTATION_GRACE_SECONDS", "60")
    old = secret_of(api, alice)
    rotated = api.call("POST", "/api/v1/webhook-secret/rotate", token=alice)
    assert rotated.status == 200
    new = rotated.json()["secret"]
    assert new != old and secret_of(api, alice) == new and rotated.json()["previous_secret_expires_at"]
    server = receiver("ok", "ok")
    for _ in range(2):
        task_id = submit_combo(api, alice, server.url).json()["task_id"]
        assert api.call("DELETE", f"/api/v1/jobs/{task_id}", token=alice).status == 202
    start = time.time()
    monkeypatch.setattr(webhook_delivery, "clock", lambda: start)
    drain(get_webhook_settings().queue_url, worker_handler("WebhookDeliveryFunction"), rounds=1)
    monkeypatch.setattr(webhook_delivery, "clock", lambda: start + 61)  # the grace period is over
    pump()
    (during, during_body), (after, after_body) = server.received
    assert len(during["webhook-signature"].split(" ")) == 2
    assert verified(old, during, during_body) and verified(new, during, during_body)
    assert len(after["webhook-signature"].split(" ")) == 1 and verified(new, after, after_body)
    with pytest.raises(WebhookVerificationError):
        verified(old, after, after_body)


def test_secrets_never_reach_the_logs(api, alice, local_targets, receiver, caplog):
    caplog.set_level("DEBUG")
    server = receiver("500", "ok")
    old = secret_of(api, alice)
    new = api.call("POST", "/api/v1/webhook-secret/rotate", token=alice).json()["secret"]
    task_id = submit_combo(api, alice, server.url).json()["task_id"]
    assert api.call("DELETE", f"/api/v1/jobs/{task_id}", token=alice).status == 202
    pump()
    # Every message and extra key of ours and the libraries' (botocore's own DEBUG wire logs, off in Lambda, aside).
    logged = " ".join(repr(record.__dict__) for record in caplog.records
                      if not record.name.startswith(("botocore", "boto3")))
    assert "webhook attempt" in logged and "answered HTTP 500" in logged
    for secret in (old, new, old[len("whsec_"):], new[len("whsec_"):]):
        assert secret not in logged


# -- the schedule, with a clock -------------------------------------------------------------------------------


def test_retries_follow_the_schedule_and_waits_over_15_minutes_go_round_in_hops(api, alice, local_targets, receiver,
                                                                              monkeypatch):
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "5,3600")
    server = receiver("500", "500")
    task_id = submit_combo(api, alice, server.url).json()["task_id"]
    assert api.call("DELETE", f"/api/v1/jobs/{task_id}", token=alice).status == 202
    queue_url = get_webhook_settings().queue_url
    (message,) = boto3.client("sqs").receive_message(QueueUrl=queue_url).get("Messages", [])
    sent: list[tuple[dict, float]] = []
    monkeypatch.setattr(webhook_delivery, "_send", lambda url, body, delay: sent.append((body, delay)))
    now = time.time()
    monkeypatch.setattr(webhook_delivery, "clock", lambda: now)
    assert webhook_delivery.deliver_message(message["Body"]) == "retrying"
    (retry, delay), = sent
    assert delay == 5 and retry["not_before"] == now + 5 and retry["attempts"] == 1
    assert lifecycle.get_job(task_id)["webhook"]["next_attempt_at"]
    monkeypatch.setattr(webhook_delivery, "clock", lambda: now + 5)
    assert webhook_delivery.deliver_message(json.dumps(retry)) == "retrying"
    later, delay = sent[-1]
    assert delay == 3600 and later["attempts"] == 2 and later["event"] == retry["event"]
    # Arriving after SQS's longest delay (15 minutes), before its time: sent round again, nothing POSTed.
    monkeypatch.setattr(webhook_delivery, "clock", lambda: now + 5 + 900)
    assert webhook_delivery.deliver_message(json.dumps(later)) == "waiting"
    assert sent[-1] == (later, 2700) and len(server.received) == 2


def test_a_message_that_is_not_an_event_fails_its_record(stack):
    response = worker_handler("WebhookDeliveryFunction")(
        {"Records": [{"messageId": "m1", "receiptHandle": "r", "body": "not json", "attributes": {},
                      "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                      "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}]},
        LambdaContext("WebhookDeliveryFunction"))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


# -- the batch folder's default -------------------------------------------------------------------------------


def test_the_default_url_is_used_for_inbox_jobs_and_uploads_that_name_none(api, local_targets, receiver, monkeypatch):
    from tests.conftest import create_test_user
    from imgapi.auth.tokens import issue_token

    monkeypatch.setenv("BATCH_OWNER", "carol")
    create_test_user("carol", "carol-password")
    carol = issue_token("carol")[0]
    server = receiver("ok")
    refused = api.call("PUT", "/api/v1/webhook-settings", token=carol, json_body={"default_url": "http://[fd00:ec2::254]/"})
    assert refused.status == 400 and refused.json()["code"] == "webhook_url_refused"
    saved = api.call("PUT", "/api/v1/webhook-settings", token=carol, json_body={"default_url": server.url})
    assert saved.status == 200 and saved.json() == {"default_url": server.url}
    assert api.call("GET", "/api/v1/webhook-settings", token=carol).json() == {"default_url": server.url}
    # A direct upload (also a job S3 starts) without a webhook_url of its own takes the default too.
    upload = api.call("POST", "/api/v1/uploads", token=carol, json_body={"operation": "combo", "filename": "a.jpg"})
    assert lifecycle.get_job(upload.json()["task_id"])["webhook_url"] == server.url
    assert api.call("DELETE", f"/api/v1/jobs/{upload.json()['task_id']}", token=carol).status == 202
    put("inbox/combo/shoot/a.jpg", portrait_jpeg(40, 50))
    ingest_handler()(s3_event("inbox/combo/shoot/a.jpg"), LambdaContext("ingest"))
    run_image_worker()
    pump()
    events = {verified(secret_of(api, carol), h, b)["type"]: verified(secret_of(api, carol), h, b)
              for h, b in server.received}
    assert set(events) == {"job.cancelled", "job.completed"}
    assert events["job.completed"]["data"]["params"]["source_key"] == "inbox/combo/shoot/a.jpg"
    assert api.call("PUT", "/api/v1/webhook-settings", token=carol, json_body={"default_url": None}).json() == \
           {"default_url": None}
