"""DashScope client pieces that need no server: the polling ladder, the retry ladder, the key in a secret."""
from __future__ import annotations

import pytest

from imgapi.dashscope.client import DashScopeError, PollSchedule, RetryPolicy, _key_from_secret


def test_polling_follows_the_official_sdk_1s_doubling_every_3_polls_up_to_5s():
    schedule = PollSchedule()
    assert [schedule.wait_before(i) for i in range(12)] == [1, 1, 1, 2, 2, 2, 4, 4, 4, 5, 5, 5]


def test_retry_waits_double_up_to_the_cap_less_some_jitter():
    exact = RetryPolicy(jitter=0)
    assert [exact.delay(k) for k in range(1, 6)] == [1, 2, 4, 8, 8]
    lowest = RetryPolicy(rand=lambda: 1.0)
    assert [lowest.delay(k) for k in range(1, 4)] == [0.75, 1.5, 3.0]


@pytest.mark.parametrize("status,retryable", [(None, True), (429, True), (500, True), (503, True),
                                              (400, False), (401, False), (403, False), (404, False)])
def test_only_throttling_server_errors_and_silence_are_retried(status, retryable):
    assert DashScopeError(status, "X", "m").retryable is retryable


@pytest.mark.parametrize("secret,key", [("sk-abc", "sk-abc"), (" sk-abc\n", "sk-abc"), ('{"api_key": "sk-j"}', "sk-j"),
                                        ('{"DASHSCOPE_API_KEY": "sk-k"}', "sk-k"), ("", None), (b"sk-b", "sk-b")])
def test_a_secret_holds_the_key_or_json_with_it(secret, key):
    assert _key_from_secret(secret) == key
