"""Shared fixtures: an in-memory AWS built from template.yaml, the API as API Gateway calls it, users and images."""
from __future__ import annotations

import functools
import json
import os
from collections import Counter
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId
from urllib3.filepost import encode_multipart_formdata

# Safe defaults before anything imports boto3 or Powertools: no real AWS, ever.
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_SERVICE_NAME": "tests", "POWERTOOLS_METRICS_NAMESPACE": "imgapi",
    "POWERTOOLS_DEV": "0",
})
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

from imgapi.auth import passwords, users  # noqa: E402
from imgapi.auth.tokens import issue_token  # noqa: E402
from imgapi.core import aws  # noqa: E402
from imgapi.core.settings import get_settings  # noqa: E402
from imgapi.engine import cutout  # noqa: E402
from imgapi_local.api_gateway import LocalHttpApi  # noqa: E402
from imgapi_local.provision import provision, reset_caches  # noqa: E402
from tests.support.in_memory_aws import in_memory_aws, share_botocore_models  # noqa: E402
from tests.support.parsed_template import template  # noqa: E402
from tests.support.u2net_model import build_u2net_like  # noqa: E402
from tests.support.waiting import REAL_WORK_SECONDS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
share_botocore_models()


def pytest_collection_modifyitems(items):
    """Every test has a node id of its own: pytest-xdist schedules tests by node id, and `--dist loadfile` keeps one
    test per id, so tests sharing one would silently not run. schemathesis names each API operation's test after it
    (`test_x[POST /api/v1/login]`) but leaves them all the test function's node id: each gets its name in its id."""
    for item in items:
        if type(item).__name__ == "SchemathesisFunction" and item.nodeid.rsplit("::", 1)[-1] != item.name:
            item._id = NodeId.parse(f"{item.nodeid.rsplit('::', 1)[0]}::{item.name}")  # pytest 9 keeps it there
    shared = sorted(nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1)
    if shared:
        raise pytest.UsageError(f"tests sharing a node id (in parallel runs all but one would not run): {shared}")


@pytest.fixture(autouse=True)
def _fresh_caches():
    """What the package caches from the environment (settings, clients) is forgotten before and after every test.
    Set up before any monkeypatch, so it is torn down after monkeypatch has put the environment back: a test that
    changed a setting can never leave it cached for the next one, whatever the order."""
    get_settings.cache_clear()
    aws.reset()
    yield
    get_settings.cache_clear()
    aws.reset()


@pytest.fixture(scope="session")
def model_home(tmp_path_factory) -> Path:
    """U2NET_HOME with a U2-Net-signature model at rembg's own path for 'u2net'."""
    home = tmp_path_factory.mktemp("u2net_home")
    build_u2net_like(home / "models" / "u2net" / "u2net.onnx")
    return home


@pytest.fixture(autouse=True)
def _model_env(model_home, monkeypatch):
    monkeypatch.setenv("U2NET_HOME", str(model_home))


@pytest.fixture
def stack(monkeypatch):
    """Every table, queue, bucket and secret of template.yaml, in moto; the functions' environment set.
    moto is atomic where AWS is (conditional transactions, message deletes and receives), as in the local stack:
    both use imgapi_local.moto_atomic."""
    with in_memory_aws():
        reset_caches()
        created = provision(template())
        for key, value in created.environment().items():
            monkeypatch.setenv(key, value)
        reset_caches()
        yield created
    reset_caches()


class Api:
    """Calls the API as API Gateway would: the template's route, a v2 event, the real handler."""

    def __init__(self):
        self.gateway = LocalHttpApi(template())

    def call(self, method: str, path: str, *, token: str | None = None, query: str = "", json_body=None,
             form: dict | None = None, files: dict | None = None, headers: dict | None = None, body: bytes = b""):
        headers = dict(headers or {})
        if token:
            headers["authorization"] = f"Bearer {token}"
        if json_body is not None:
            body, headers["content-type"] = json.dumps(json_body).encode(), "application/json"
        elif files is not None or form is not None:
            fields = list((form or {}).items())
            fields += [(name, value) for name, value in (files or {}).items()]
            body, headers["content-type"] = encode_multipart_formdata(fields)
        return self.gateway.invoke(method, path, query=query, headers=headers, body=body)


@pytest.fixture
def api(stack) -> Api:
    return Api()


@functools.lru_cache(maxsize=None)
def _password_hash(password: str) -> str:
    return passwords.hash_password(password)


def create_test_user(username: str, password: str) -> None:
    """users.create_user, the password's scrypt hash (deliberately ~50 ms) made once per test process and password."""
    hash_password = users.hash_password
    users.hash_password = _password_hash
    try:
        users.create_user(username, password)
    finally:
        users.hash_password = hash_password


@pytest.fixture
def alice(stack) -> str:
    create_test_user("alice", "alice-password")
    return issue_token("alice")[0]


@pytest.fixture
def bob(stack) -> str:
    create_test_user("bob", "bob-password")
    return issue_token("bob")[0]


def _forget_sessions() -> None:
    for pending in list(cutout._loading.values()):
        pending.exception(REAL_WORK_SECONDS)  # a load under way (a worker's preload) ends first, not after the clear
    cutout._sessions.clear()


@pytest.fixture
def isnet_model(tmp_path, monkeypatch, fresh_sessions) -> Path:
    """rembg's isnet-general-use at its own path in a U2NET_HOME of its own: IS-Net's signature (1024x1024 input
    named input_image, six outputs, mean 0.5, std 1.0, fp16 weights behind Casts), loaded afresh."""
    path = tmp_path / "home" / "models" / "isnet-general-use" / "isnet-general-use.onnx"
    build_u2net_like(path, side=1024, input_name="input_image", outputs=6, fp16=True)
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "home"))
    return path


@pytest.fixture
def fresh_sessions():
    """Forget loaded rembg sessions (for tests that change where models are found)."""
    _forget_sessions()
    yield
    _forget_sessions()
