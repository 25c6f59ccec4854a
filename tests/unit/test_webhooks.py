"""Webhook deliveries (core/webhooks.py) checked as a receiver checks them, with the PyPI `standardwebhooks`
package: signatures, the same webhook-id on every retry, rotation, failures (5xx, timeout, redirect) and refused
targets, and safe_fetch.post, the public way to call an outside URL it stands on. The queue, the delivery function and
the secrets are tested over moto in tests/functional/test_webhooks.py."""
from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from imgapi.core import safe_fetch, webhooks
from imgapi.core.errors import BadRequest
from tests.support.webhook_receiver import receiver, verified  # noqa: F401 - receiver is a fixture

BODY = json.dumps({"type": "job.completed", "timestamp": "2026-12-05T10:00:00.000Z",
                   "data": {"task_id": "t", "status": "completed"}}).encode()


def test_a_secret_has_the_spec_form_and_is_new_each_time():
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and len(webhooks._key(secret)) == 24 and webhooks.new_secret() != secret


def test_a_delivery_verifies_with_standardwebhooks_on_the_first_try(receiver):
    secret, server = webhooks.new_secret(), receiver("ok")
    attempt = webhooks.deliver(server.url, "msg_1", BODY, [secret], allow_private=True)
    assert attempt.ok and attempt.status == 204 and attempt.error is None
    ((headers, body),) = server.received
    assert body == BODY and verified(secret, headers, body)["type"] == "job.completed"
    assert headers["webhook-id"] == "msg_1" and headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        verified(webhooks.new_secret(), headers, body)  # another secret does not verify it


def test_a_500_and_a_timeout_fail_and_the_retry_carries_the_same_id(receiver, monkeypatch):
    secret, server = webhooks.new_secret(), receiver("500", "slow", "ok")
    # 5 s where the receiver answers (a loaded machine must not turn a 500 or a 204 into a timeout), 0.5 s where it
    # holds the request (it holds it for 30 s).
    first = webhooks.deliver(server.url, "msg_2", BODY, [secret], allow_private=True, timeout=5)
    assert not first.ok and first.status == 500 and "HTTP 500" in first.error and "key=abc" not in first.error
    second = webhooks.deliver(server.url, "msg_2", BODY, [secret], allow_private=True, timeout=0.5)
    assert not second.ok and second.status is None and "did not answer within 0.5 s" in second.error
    third = webhooks.deliver(server.url, "msg_2", BODY, [secret], allow_private=True, timeout=5)
    assert third.ok
    assert [h["webhook-id"] for h, _ in server.received] == ["msg_2"] * 3
    assert all(verified(secret, h, b) for h, b in server.received)


def test_a_redirect_is_not_followed(receiver):
    server = receiver("redirect")
    attempt = webhooks.deliver(server.url, "msg_3", BODY, [webhooks.new_secret()], allow_private=True)
    assert not attempt.ok and attempt.status == 302 and "not followed" in attempt.error
    assert len(server.received) == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest/", "http://10.0.0.1/h",
                                 "ftp://example.com/h", "http://user:pw@example.com/h", "http://[::1]/h"])
def test_private_metadata_and_odd_targets_are_refused_without_a_connection(url):
    attempt = webhooks.deliver(url, "msg_4", BODY, [webhooks.new_secret()], allow_private=False)
    assert not attempt.ok and attempt.status is None and attempt.error


def test_the_metadata_address_stays_refused_under_the_local_testing_switch():
    attempt = webhooks.deliver("http://169.254.169.254/latest/", "m", BODY, [webhooks.new_secret()], allow_private=True)
    assert not attempt.ok and "metadata" in attempt.error


def test_during_a_rotation_both_secrets_sign_and_either_verifies(receiver):
    old, new, server = webhooks.new_secret(), webhooks.new_secret(), receiver("ok", "ok")
    assert webhooks.deliver(server.url, "msg_5", BODY, [new, old], allow_private=True).ok
    headers, body = server.received[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert headers["webhook-signature"].split(" ")[0] == webhooks.signature(new, "msg_5", int(headers["webhook-timestamp"]), body)
    assert verified(old, headers, body) and verified(new, headers, body)
    assert webhooks.deliver(server.url, "msg_6", BODY, [new], allow_private=True).ok  # after the grace period
    headers, body = server.received[1]
    assert verified(new, headers, body)
    with pytest.raises(WebhookVerificationError):
        verified(old, headers, body)


def test_the_schedule_retries_for_over_a_day_then_gives_up_and_waits_in_sqs_steps():
    schedule = webhooks.parse_schedule(None)
    assert schedule[0] <= 10 and sum(schedule) >= 24 * 3600
    assert list(schedule) == sorted(schedule)  # backing off
    assert webhooks.next_delay(schedule, 1) == schedule[0] and webhooks.next_delay(schedule, len(schedule) + 1) is None
    assert webhooks.parse_schedule("1,2,5") == (1, 2, 5)
    with pytest.raises(ValueError):
        webhooks.parse_schedule("1,-2")
    assert webhooks.sqs_step(3600) == 900 and webhooks.sqs_step(30) == 30 and webhooks.sqs_step(-5) == 0


def test_our_signature_is_the_specs_hmac_of_id_timestamp_and_body():
    """Signed with standardwebhooks in the layer; the spec's construction, written out, gives the same bytes."""
    import base64
    import hashlib
    import hmac

    secret = webhooks.new_secret()
    expected = hmac.new(base64.b64decode(secret[len("whsec_"):]), b"msg_7.1700000000." + BODY, hashlib.sha256).digest()
    assert webhooks.signature(secret, "msg_7", 1700000000, BODY) == "v1," + base64.b64encode(expected).decode()


@pytest.mark.parametrize("url, code", [("http://127.0.0.1:9/h", "webhook_url_refused"),
                                       ("http://169.254.169.254/latest/", "webhook_url_refused"),
                                       ("http://[fd00:ec2::254]/h", "webhook_url_refused"),
                                       ("http://10.1.2.3/h", "webhook_url_refused"),
                                       ("gopher://example.com/h", "webhook_url_refused"),
                                       ("http://user:pw@example.com/h", "webhook_url_refused")])
def test_a_target_is_checked_when_a_job_names_it(url, code):
    with pytest.raises(BadRequest) as refused:
        webhooks.check_target(url, allow_private=False)
    assert refused.value.code == code and "webhook_url" in refused.value.message


def test_a_local_target_is_allowed_where_private_hosts_are_and_an_unresolvable_one_is_checked_later():
    assert webhooks.check_target("http://127.0.0.1:9/h", allow_private=True) == "http://127.0.0.1:9/h"
    # A host that does not resolve now may later: accepted, and checked again at every attempt.
    assert webhooks.check_target("http://no-such-host.invalid/h", allow_private=False) == "http://no-such-host.invalid/h"


def test_safe_fetch_post_returns_a_status_reads_a_few_kb_and_follows_no_redirect(receiver):
    server = receiver("redirect", "ok")
    assert safe_fetch.post(server.url, b"{}", {"X-Test": "1"}, allow_private=True, max_response_bytes=10) == 302
    assert safe_fetch.post(server.url, b"{}", {}, allow_private=True) == 204
    assert [h.get("x-test") for h, _ in server.received] == ["1", None] and len(server.received) == 2
    with pytest.raises(safe_fetch.FetchError) as refused:
        safe_fetch.post(server.url, b"{}", {}, allow_private=False)
    assert refused.value.code == "url_refused" and len(server.received) == 2
