"""Webhooks through the local stack (`make dev`): a job submitted with a webhook_url over HTTP ends, and its event
reaches a receiver on 127.0.0.1 (the documented FETCH_ALLOW_PRIVATE_HOSTS switch), first refused with a 500, then
retried within seconds by the stack's own webhook queue poller with the same webhook-id; the receiver verifies both
with the PyPI `standardwebhooks` package, and the job view records the attempts."""
from __future__ import annotations

import time

import pytest
import requests

from tests.e2e.conftest import login
from tests.support.images import portrait_png
from tests.support.waiting import REAL_WORK_SECONDS
from tests.support.webhook_receiver import Receiver, verified

pytestmark = pytest.mark.slow


def test_a_job_end_reaches_a_local_receiver_and_a_500_is_retried_within_seconds(base_url):
    token = login(base_url)
    auth = {"Authorization": f"Bearer {token}"}
    secret = requests.get(f"{base_url}/api/v1/webhook-secret", headers=auth, timeout=10).json()["secret"]
    receiver = Receiver("500", "ok")
    try:
        submitted = requests.post(f"{base_url}/api/v1/upscale/combo", headers=auth, timeout=30,
                                  data={"webhook_url": receiver.url},
                                  files={"file": ("a.png", portrait_png(40, 50), "image/png")})
        assert submitted.status_code == 202, submitted.text
        task_id = submitted.json()["task_id"]
        (first, first_body), (second, second_body) = receiver.wait_for(2, REAL_WORK_SECONDS)
    finally:
        receiver.close()
    assert first["webhook-id"] == second["webhook-id"] and first_body == second_body
    event = verified(secret, second, second_body)
    assert event["type"] == "job.completed" and event["data"]["task_id"] == task_id
    assert event["data"]["status"] == "completed" and event["data"]["results"]
    deadline = time.monotonic() + REAL_WORK_SECONDS
    while True:  # the attempt is recorded once the receiver has answered
        job = requests.get(f"{base_url}/api/v1/jobs/{task_id}", headers=auth, timeout=10).json()
        if job["webhook"]["state"] == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert job["webhook"]["state"] == "delivered" and job["webhook"]["attempts"] == 2, job["webhook"]


def test_a_metadata_webhook_url_is_refused_at_submit_even_under_the_switch(base_url):
    token = login(base_url)
    response = requests.post(f"{base_url}/remove_bg", headers={"Authorization": f"Bearer {token}"}, timeout=30,
                             json={"image_url": "https://example.com/a.jpg",
                                   "webhook_url": "http://169.254.169.254/latest/meta-data/"})
    assert response.status_code == 400 and response.json()["code"] == "webhook_url_refused"
