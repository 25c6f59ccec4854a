"""Fixtures for the DashScope engine: a configured key, the fake DashScope server and the environment pointing at it,
a virtual clock."""
from __future__ import annotations

import pytest

from imgapi.dashscope import worker as dashscope_worker
from imgapi.core.settings import get_settings
from tests.support.clock import VirtualClock
from tests.support.fake_dashscope import FakeDashScope
from tests.support.worker import drain, worker_handler


@pytest.fixture
def clock(monkeypatch) -> VirtualClock:
    virtual = VirtualClock()
    monkeypatch.setattr(dashscope_worker, "clock", virtual)
    return virtual


@pytest.fixture
def keyed(stack, monkeypatch):
    """A DashScope key is configured (nothing calls DashScope with it), so every image edit can be submitted."""
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-configured")
    get_settings.cache_clear()


@pytest.fixture
def dashscope(stack, monkeypatch, clock):
    """The fake DashScope, with the stack's environment pointing at it (and allowed to fetch from 127.0.0.1)."""
    with FakeDashScope() as fake:
        for key, value in {**fake.env(), "FETCH_ALLOW_PRIVATE_HOSTS": "true", "DASHSCOPE_SLOT_RETRY_SECONDS": "0"}.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


def run_dashscope_worker(rounds: int = 20) -> list[dict]:
    """Deliver the DashScope queue's messages to the DashScope worker until the queue is empty."""
    return drain(get_settings().dashscope.queue_url, worker_handler("DashScopeWorkerFunction"), rounds)
