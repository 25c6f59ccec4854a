"""Webhook deliveries (core/webhooks.py) checked as a receiver checks them, with the PyPI `standardwebhooks`
package: signatures, the same webhook-id on every retry, rotation, failures (5xx, timeout, redirect) and refused
targets. (The delivery queue, its function and the per-user secret table that will use it are still to come.)"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from imgapi.core import webhooks

BODY = json.dumps({"type": "job.completed", "timestamp": "2026-12-05T10:00:00.000Z",
                   "data": {"task_id": "t", "status": "completed"}}).encode()


class Receiver:
    """A local endpoint answering each POST with the next of `answers` ("ok", "500", "slow", "redirect")."""

    def __init__(self, *answers: str):
        self.answers, self.received = list(answers), []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers.items()), body))
                answer = outer.answers.pop(0) if outer.answers else "ok"
                if answer == "slow":
                    outer.release.wait(30)  # longer than the delivery's timeout; released when the test ends
                status = {"ok": 204, "500": 500, "slow": 204, "redirect": 302}[answer]
                self.send_response(status)
                if answer == "redirect":
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                payload = b"x" * 100_000  # a long answer: only a few KB are read
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks?key=abc"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*answers):
        made.append(Receiver(*answers))
        return made[-1]
    yield make
    for server in made:
        server.close()


def verified(secret: str, headers: dict, body: bytes) -> dict:
    lower = {k.lower(): v for k, v in headers.items()}
    return Webhook(secret).verify(body, {k: lower[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")})


def test_a_secret_has_the_spec_form_and_is_new_each_time():
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and len(webhooks._key(secret)) == 24 and webhooks.new_secret() != secret


def test_a_delivery_verifies_with_standardwebhooks_on_the_first_try(receiver):
    secret, server = webhooks.new_secret(), receiver("ok")
    attempt = webhooks.deliver(server.url, "msg_1", BODY, [secret], allow_private=True)
    assert attempt.ok and attempt.status == 204 and attempt.error is None
    ((headers, body),) = server.received
    assert body == BODY and verified(secret, headers, body)["type"] == "job.completed"
    assert headers["webhook-id"] == "msg_1" and {k.lower(): v for k, v in headers.items()}["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        verified(webhooks.new_secret(), headers, body)  # another secret does not verify it


def test_a_500_and_a_timeout_fail_and_the_retry_carries_the_same_id(receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.5)
    secret, server = webhooks.new_secret(), receiver("500", "slow", "ok")
    first = webhooks.deliver(server.url, "msg_2", BODY, [secret], allow_private=True)
    assert not first.ok and first.status == 500 and "HTTP 500" in first.error and "key=abc" not in first.error
    second = webhooks.deliver(server.url, "msg_2", BODY, [secret], allow_private=True)
    assert not second.ok and second.status is None and "could not be reached" in second.error
    third = webhooks.deliver(server.url, "msg_2", BODY, [secret], allow_private=True)
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
    assert webhooks.sqs_step(3600) == (900, 2700) and webhooks.sqs_step(30) == (30, 0)
