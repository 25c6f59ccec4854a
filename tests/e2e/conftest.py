"""The local stack (`make dev`'s) started in-process on free ports; the end-to-end tests talk HTTP to it."""
from __future__ import annotations

import os
import time

import boto3
import pytest
import requests

from imgapi_local.devserver import DEMO_PASSWORD, DEMO_USER, LocalStack
from tests.support.fake_dashscope import FakeDashScope
from tests.support.waiting import REAL_WORK_SECONDS


@pytest.fixture(scope="package")
def fake_dashscope():
    """The DashScope the local stack talks to (DASHSCOPE_BASE_URL points at it)."""
    with FakeDashScope() as fake:
        yield fake


@pytest.fixture(scope="package")
def local_stack(model_home, fake_dashscope):
    # Set before the stack starts, as a developer would for `make dev`: the fake DashScope on 127.0.0.1 (so the
    # fetcher must allow it), polled quickly.
    environment = {**fake_dashscope.env(), "FETCH_ALLOW_PRIVATE_HOSTS": "true", "DASHSCOPE_POLL_INTERVAL_SECONDS": "0.05",
                   "DASHSCOPE_POLL_MAX_INTERVAL_SECONDS": "0.2", "DASHSCOPE_SLOT_RETRY_SECONDS": "1",
                   # The suite submits more than a person would in a minute (the limits have tests of their own).
                   "SUBMITS_PER_MINUTE": "100000", "JOBS_PER_DAY": "100000",
                   "U2NET_HOME": str(model_home)}
    saved = {key: os.environ.get(key) for key in environment if key != "U2NET_HOME"}
    os.environ.update(environment)
    lines: list[str] = []
    stack = LocalStack(port=0, log=lines.append)  # the API on a port the system picks (xdist workers run their own)
    stack.start()
    stack.log_lines = lines
    yield stack
    stack.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def base_url(local_stack) -> str:
    return local_stack.url


def aws_client(local_stack, service: str):
    """A client of the stack's AWS as its functions reach it (this process shares its in-memory AWS;
    other processes, like the CLI test's, use the server at local_stack.aws_url)."""
    return boto3.client(service)


def login(base_url: str, username: str = DEMO_USER, password: str = DEMO_PASSWORD) -> str:
    response = requests.post(f"{base_url}/api/v1/login", params={"username": username, "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def wait_for(base_url: str, token: str, task_id: str, timeout: float = REAL_WORK_SECONDS) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(f"{base_url}/api/v1/upscale/status/{task_id}", params={"token": token}, timeout=10).json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish in {timeout} s: {body}")
