"""Issue #22, point 5: the per-minute limit is a sliding window: no 60 seconds admit more than the limit, even across
a minute boundary and under concurrent submits."""
from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from imgapi.core.errors import TooManyRequests
from imgapi.core.settings import get_settings
from imgapi.jobs import quotas
from imgapi_local.moto_atomic import is_atomic

LIMIT = 60
BOUNDARY = 1_800_000_000.0  # a minute boundary (and not a day's)


@pytest.fixture
def limited(stack, monkeypatch):
    monkeypatch.setenv("SUBMITS_PER_MINUTE", str(LIMIT))
    monkeypatch.setenv("JOBS_PER_DAY", "0")
    get_settings.cache_clear()
    assert is_atomic()  # DynamoDB's per-item atomicity under threads: the test stack's (moto alone lacks it)
    yield
    get_settings.cache_clear()


def _burst(owner: str, at: float, count: int) -> list[float]:
    """`count` submits at the same moment (time `at`), in parallel; the times of those admitted."""
    start = threading.Barrier(count)

    def one(_):
        start.wait()
        try:
            quotas.admit_job(owner, now=at)
            return True
        except TooManyRequests as refused:
            assert refused.code == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
            return False

    with ThreadPoolExecutor(count) as pool:
        return [at for admitted in pool.map(one, range(count)) if admitted]


def _max_in_any_window(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for t in times if start <= t < start + 60) for start in times), default=0)


@pytest.mark.parametrize("round_", range(3))
def test_two_concurrent_bursts_across_a_minute_boundary_admit_the_limit_once(limited, round_):
    admitted = _burst("carol", BOUNDARY - 0.5, LIMIT + 10)
    admitted += _burst("carol", BOUNDARY + 0.5 + round_, LIMIT + 10)
    assert len(admitted) == LIMIT  # a fixed calendar minute admitted 2 x LIMIT here
    assert _max_in_any_window(admitted) <= LIMIT
    assert len(_burst("carol", BOUNDARY + 59.6, 5)) == 5  # the first burst has left the window


def test_a_random_stream_of_submits_never_has_more_than_the_limit_in_any_60_seconds(limited):
    rng = random.Random(22)
    admitted, now = [], BOUNDARY - 30
    for _ in range(12):
        now += rng.uniform(0, 25)
        admitted += _burst("dave", now, rng.randint(50, 70))
    assert _max_in_any_window(admitted) <= LIMIT
    assert len(admitted) > 2 * LIMIT  # and the window does let submits through as it slides


def test_a_refund_gives_the_slot_back(limited):
    charges = [quotas.admit_job("erin", now=BOUNDARY) for _ in range(LIMIT)]
    with pytest.raises(TooManyRequests):
        quotas.admit_job("erin", now=BOUNDARY + 1)
    quotas.refund(charges[7])
    quotas.admit_job("erin", now=BOUNDARY + 2)
    with pytest.raises(TooManyRequests) as refused:
        quotas.admit_job("erin", now=BOUNDARY + 3)
    assert refused.value.headers["Retry-After"] == "58"
