"""The first API's test client against the local stack (DashScope faked over HTTP): its five bodies, with a token.

The seed client posted the five bodies at once and printed each status and body; here each finished job's
result URLs must download real images. remove_bg's image_url points at a local image server, since the
worker really downloads it (example.com would not serve an image).
"""
from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from PIL import Image

from tests.e2e.conftest import login
from tests.support.fake_dashscope import BACKGROUND_MODEL, IMAGEEDIT_MODEL
from tests.support.http_server import ScriptedServer
from tests.support.images import portrait_jpeg
from tests.support.seed_api import SEED_BODIES
from tests.support.waiting import REAL_WORK_SECONDS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def image_server():
    with ScriptedServer() as server:
        server.route("/portrait.jpg", body=portrait_jpeg(160, 200), content_type="image/jpeg")
        yield server


@pytest.fixture
def bodies(image_server) -> dict[str, dict]:
    return {**SEED_BODIES, "remove_bg": {"image_url": image_server.url("/portrait.jpg")}}


def _download(url: str) -> Image.Image:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text[:200]
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def test_the_seed_clients_five_requests_with_a_token_finish_with_real_images(base_url, bodies, fake_dashscope,
                                                                            monkeypatch):
    monkeypatch.setitem(fake_dashscope.result_sizes, IMAGEEDIT_MODEL, (200, 150))  # undone after: the fake is shared
    token = login(base_url)

    def post(operation: str) -> tuple[str, requests.Response]:
        return operation, requests.post(f"{base_url}/{operation}", params={"token": token, "wait": 20},
                                        json=bodies[operation], timeout=30)

    with ThreadPoolExecutor(max_workers=5) as pool:  # concurrently, as the seed's aiohttp client did
        answers = dict(pool.map(post, list(bodies)))
    for operation, response in answers.items():
        assert response.status_code == 200, (operation, response.status_code, response.text)
        job = response.json()
        assert job["status"] == "completed" and job["task_status"] == "SUCCEEDED", (operation, job)
        assert job["results"], operation
        for result in job["results"]:  # the seed clients read results[i].url
            image = _download(result["url"])
            assert image.size == (result["width"], result["height"])
    assert answers["change_cloth"].json()["image_url"] == answers["change_cloth"].json()["results"][0]["url"]
    assert len(answers["expand"].json()["results"]) == 2  # the seed's n = 2
    assert _download(answers["expand"].json()["results"][0]["url"]).size == (200, 150)
    cutout = _download(answers["remove_bg"].json()["results"][0]["url"])
    assert cutout.mode == "RGBA" and cutout.size == (160, 200)
    models = {request.model for request in fake_dashscope.submits}
    assert {BACKGROUND_MODEL, "aitryon-plus", IMAGEEDIT_MODEL} <= models


def test_a_job_is_followed_at_its_status_url_and_listed(base_url, fake_dashscope):
    token = login(base_url)
    headers = {"Authorization": f"Bearer {token}"}
    response = requests.post(f"{base_url}/fix", headers=headers, json=SEED_BODIES["fix"], timeout=10)
    assert response.status_code == 202, response.text
    submitted = response.json()
    deadline = time.monotonic() + REAL_WORK_SECONDS
    while True:
        job = requests.get(f"{base_url}{submitted['status_url']}", headers=headers, timeout=10).json()
        if job["status"] in ("completed", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["status"] == "completed", job
    assert job["dashscope"]["task_id"] in fake_dashscope.tasks and job["dashscope"]["usage"] == {"image_count": 1}
    assert _download(job["results"][0]["url"]).format == "PNG"
    listing = requests.get(f"{base_url}/api/v1/jobs", headers=headers, params={"operation": "fix", "limit": 1},
                           timeout=10).json()
    assert listing["jobs"][0]["task_id"] == submitted["task_id"]


def test_an_upstream_rejection_reaches_the_client_as_a_failed_job_it_can_act_on(base_url, fake_dashscope):
    fake_dashscope.task_outcome("FAILED", "InvalidPerson", model="aitryon-plus")
    token = login(base_url)
    response = requests.post(f"{base_url}/change_cloth", params={"token": token, "wait": 20},
                             json=SEED_BODIES["change_cloth"], timeout=30)
    assert response.status_code == 200
    job = response.json()
    assert job["status"] == "failed" and job["error"]["code"] == "InvalidPerson"
    assert "full-body person" in job["error"]["message"]
