"""POST /remove_bg with image_url: the image worker fetches the URL with the safe fetcher, then runs rembg."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgapi.jobs import lifecycle

from imgapi.core import storage
from imgapi.core.settings import get_settings
from tests.support.http_server import ScriptedServer
from tests.support.images import portrait_jpeg
from tests.support.worker import deliver

pytestmark = pytest.mark.slow


@pytest.fixture
def images(stack, monkeypatch):
    with ScriptedServer() as server:
        server.route("/portrait.jpg", body=portrait_jpeg(120, 160), content_type="image/jpeg")
        server.route("/moved.jpg", status=302, headers={"Location": "/portrait.jpg"})
        server.route("/notes.txt", body=b"hello", content_type="text/plain")
        yield server


def _allow_private(monkeypatch):
    monkeypatch.setenv("FETCH_ALLOW_PRIVATE_HOSTS", "true")
    get_settings.cache_clear()


def submit(api, token, url: str) -> str:
    response = api.call("POST", "/remove_bg", token=token, json_body={"image_url": url})
    assert response.status == 202, response.body
    return response.json()["task_id"]


@pytest.mark.parametrize("path", ["/portrait.jpg", "/moved.jpg"])
def test_the_image_at_the_url_loses_its_background(api, alice, images, monkeypatch, path):
    _allow_private(monkeypatch)
    task_id = submit(api, alice, images.url(path))
    assert deliver(get_settings().image_queue_url) == {"batchItemFailures": []}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed", job
    image = Image.open(io.BytesIO(storage.get_object(job["results"][0]["key"])))
    assert image.mode == "RGBA" and image.size == (120, 160)
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[2, 2] == 0 and alpha[88, 60] == 255
    view = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).json()
    assert (view["results"][0]["width"], view["results"][0]["height"]) == (120, 160)


def test_an_uploaded_file_still_works(api, alice, stack):
    response = api.call("POST", "/remove_bg", token=alice, files={"image": ("p.jpg", portrait_jpeg(60, 80), "image/jpeg")})
    task_id = response.json()["task_id"]
    deliver(get_settings().image_queue_url)
    assert lifecycle.get_job(task_id)["status"] == "completed"


def test_a_url_on_127_0_0_1_is_refused_by_default(api, alice, images, monkeypatch):
    monkeypatch.delenv("FETCH_ALLOW_PRIVATE_HOSTS", raising=False)
    get_settings.cache_clear()
    task_id = submit(api, alice, images.url("/portrait.jpg"))
    assert deliver(get_settings().image_queue_url) == {"batchItemFailures": []}  # no retry: it never will work
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "url_refused" and "image_url" in job["error_message"]
    assert images.requests == []


@pytest.mark.parametrize("path,code", [("/missing.jpg", "fetch_failed"), ("/notes.txt", "unsupported_image")])
def test_a_url_that_is_not_an_image_fails_the_job_with_the_reason(api, alice, images, monkeypatch, path, code):
    _allow_private(monkeypatch)
    task_id = submit(api, alice, images.url(path))
    deliver(get_settings().image_queue_url)
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == code


def test_a_server_error_is_retried_by_the_queue(api, alice, images, monkeypatch):
    _allow_private(monkeypatch)
    images.route("/flaky.jpg", status=503)
    task_id = submit(api, alice, images.url("/flaky.jpg"))
    response = deliver(get_settings().image_queue_url)
    assert len(response["batchItemFailures"]) == 1
    assert lifecycle.get_job(task_id)["status"] == "processing" and "503" in lifecycle.get_job(task_id)["last_error"]
    images.route("/flaky.jpg", body=portrait_jpeg(40, 50), content_type="image/jpeg")
    deliver(get_settings().image_queue_url)
    assert lifecycle.get_job(task_id)["status"] == "completed"
