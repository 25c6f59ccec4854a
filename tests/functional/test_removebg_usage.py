"""Quotas and usage are one for both APIs: a native submit and a remove.bg call each take one unit of the same
counters (JobsPerDay, SubmitsPerMinute), GET /v1.0/account reports what the native counters hold, and either API is
refused once the other has spent the day. Per user: another user's calls change nothing of yours."""
from __future__ import annotations

import pytest

from imgapi.core.settings import get_settings
from imgapi.jobs import quotas
from tests.support.images import portrait_png

PNG = portrait_png(40, 50)


@pytest.fixture
def limits(monkeypatch):
    monkeypatch.setenv("JOBS_PER_DAY", "4")
    monkeypatch.setenv("SUBMITS_PER_MINUTE", "100")
    get_settings.cache_clear()


def _native(api, token):
    return api.call("POST", "/api/v1/upscale/combo", token=token, files={"file": ("a.png", PNG, "image/png")})


def _removebg(api, token):
    return api.call("POST", "/v1.0/removebg", token=token, files={"image_file": ("a.png", PNG, "image/png")})


def _credits(api, token) -> float:
    attributes = api.call("GET", "/v1.0/account", token=token).json()["data"]["attributes"]
    assert attributes["api"]["free_calls"] == attributes["credits"]["total"]
    return attributes["credits"]["total"]


def test_both_apis_spend_one_quota_and_the_account_agrees_with_the_native_counter(api, alice, bob, limits):
    assert _credits(api, alice) == 4
    assert _native(api, alice).status == 202
    assert _credits(api, alice) == 3 == 4 - quotas.used_today("alice")
    assert _removebg(api, alice).status == 200
    assert _credits(api, alice) == 2 == 4 - quotas.used_today("alice")
    assert _removebg(api, bob).status == 200 and _native(api, bob).status == 202  # bob's, not alice's
    assert _credits(api, alice) == 2 and _credits(api, bob) == 2
    assert _native(api, alice).status == 202 and _removebg(api, alice).status == 200
    assert _credits(api, alice) == 0 == 4 - quotas.used_today("alice")
    refused = _native(api, alice)
    assert refused.status == 429 and refused.json()["code"] == "quota_exceeded"  # spent half by remove.bg calls
    assert _removebg(api, alice).status == 402
    assert quotas.used_today("alice") == 4  # refusals charge nothing


def test_the_rate_window_is_shared_and_its_headers_count_native_submits(api, alice, monkeypatch):
    monkeypatch.setenv("SUBMITS_PER_MINUTE", "3")
    get_settings.cache_clear()
    assert _native(api, alice).status == 202
    answer = _removebg(api, alice)
    assert answer.status == 200 and answer.headers["x-ratelimit-remaining"] == "1"
    assert _native(api, alice).status == 202
    limited = _removebg(api, alice)
    assert limited.status == 429 and int(limited.headers["retry-after"]) >= 1
    assert _native(api, alice).json()["code"] == "rate_limited"
