"""The local stack (`make dev`'s) started in-process on free ports; the end-to-end tests talk HTTP to it."""
from __future__ import annotations

import os
import time

import boto3
import pytest
import requests

from imgapi_local.devserver import DEMO_PASSWORD, DEMO_USER, LocalStack, free_port


@pytest.fixture(scope="package")
def local_stack(model_home):
    os.environ["U2NET_HOME"] = str(model_home)
    lines: list[str] = []
    stack = LocalStack(port=free_port(), log=lines.append)
    stack.start()
    stack.log_lines = lines
    yield stack
    stack.stop()


@pytest.fixture
def base_url(local_stack) -> str:
    return local_stack.url


def aws_client(local_stack, service: str):
    return boto3.client(service, endpoint_url=local_stack.aws_url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def login(base_url: str, username: str = DEMO_USER, password: str = DEMO_PASSWORD) -> str:
    response = requests.post(f"{base_url}/api/v1/login", params={"username": username, "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def wait_for(base_url: str, token: str, task_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(f"{base_url}/api/v1/upscale/status/{task_id}", params={"token": token}, timeout=10).json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish in {timeout} s: {body}")
