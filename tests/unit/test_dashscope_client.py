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


# -- no double billing: how many times each failure sends the request (issue #20) ----------------------------

import requests as _requests  # noqa: E402
from urllib3.exceptions import NewConnectionError, ProtocolError  # noqa: E402

from imgapi.dashscope.client import DashScopeClient  # noqa: E402
from tests.support.clock import VirtualClock  # noqa: E402


class _Answer:
    def __init__(self, status, body):
        self.status_code, self._body, self.headers, self.reason = status, body, {}, "x"

    def json(self):
        return self._body


class _Session:
    """Plays one failure, then success; counts the requests made."""

    def __init__(self, failure, times=1):
        self.failure, self.times, self.calls = failure, times, 0

    def request(self, method, url, **kwargs):
        self.calls += 1
        if self.calls <= self.times:
            if isinstance(self.failure, Exception):
                raise self.failure
            return _Answer(self.failure, {"code": "X", "message": "m"})
        return _Answer(200, {"output": {"task_id": "t1", "task_status": "PENDING", "choices": []}})


FAILURES = {
    "read timeout": (_requests.ReadTimeout("read timed out"), True),
    "504 from a gateway": (504, True),
    "connection reset after the request was sent": (
        _requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))), True),
    "connection refused before the request was sent": (
        _requests.ConnectionError(NewConnectionError(None, "Failed to establish a new connection")), False),
    "connect timeout": (_requests.ConnectTimeout("connect timed out"), False),
    "429": (429, False),
    "500": (500, False),
    "503": (503, False),
}


@pytest.mark.parametrize("kind", list(FAILURES))
@pytest.mark.parametrize("how", ["call", "submit"])
def test_a_post_that_may_have_reached_dashscope_is_sent_once_others_are_retried(kind, how):
    failure, maybe_sent = FAILURES[kind]
    session = _Session(failure)
    client = DashScopeClient("http://dashscope.test/api/v1", "sk", clock=VirtualClock(start=0),
                             retry=RetryPolicy(attempts=4, jitter=0), session=session)
    send = getattr(client, how)
    if maybe_sent:
        with pytest.raises(DashScopeError) as raised:
            send("/p", {"model": "m"}, deadline=1000)
        assert raised.value.sent and session.calls == 1  # never resent: it may be billed already
    else:
        send("/p", {"model": "m"}, deadline=1000)
        assert session.calls == 2  # nothing was made: asked again


@pytest.mark.parametrize("kind", list(FAILURES))
def test_a_task_query_is_retried_whatever_failed(kind):
    session = _Session(FAILURES[kind][0])
    client = DashScopeClient("http://dashscope.test/api/v1", "sk", clock=VirtualClock(start=0),
                             retry=RetryPolicy(attempts=4, jitter=0), session=session)
    client.query("t1", deadline=1000)
    assert session.calls == 2


def test_retries_stop_after_the_policys_attempts():
    session = _Session(429, times=10)
    client = DashScopeClient("http://dashscope.test/api/v1", "sk", clock=VirtualClock(start=0),
                             retry=RetryPolicy(attempts=4, jitter=0), session=session)
    with pytest.raises(DashScopeError) as raised:
        client.call("/p", {}, deadline=1000)
    assert session.calls == 4 and raised.value.attempts == 4
