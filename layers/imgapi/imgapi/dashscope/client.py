"""DashScope's HTTP API (docs/dashscope.md): submit, follow, cancel, synchronous calls; errors and retries.

No double billing: DashScope documents no idempotency key, and bills every image it makes. So a POST that may have
reached DashScope without its answer reaching us (a read timeout, a connection reset after the request was
written, a gateway's 504) is never sent again: the error says `sent` and the caller fails the job with a retry-safe
code. What is retried: answered 429 and 5xx (DashScope made nothing), failures to connect (nothing was sent), and
every failure of a task query (a GET changes nothing).

Time is read and spent through a Clock, so tests can run backoff ladders and deadlines on a virtual clock.
"""
from __future__ import annotations

import json
import os
import random
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, SSLError as Urllib3SSLError
from aws_lambda_powertools.utilities import parameters

from imgapi.core.settings import DashScopeSettings, get_settings

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0  # submit and query answer at once; a synchronous call gets what is left until the deadline
SYNC_READ_TIMEOUT = 180.0
MAX_RETRY_AFTER = 30.0
TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")
_SECRET_CACHE_SECONDS = 300


class Clock:
    """Monotonic seconds and sleeping (tests substitute a virtual clock)."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class DashScopeError(Exception):
    """DashScope answered with an error, or could not be reached (status None)."""

    def __init__(self, status: int | None, code: str, message: str, request_id: str | None = None,
                 retry_after: float | None = None, *, sent: bool = False):
        super().__init__(f"{status or 'no answer'} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.request_id = request_id
        self.retry_after = retry_after
        self.attempts = 1  # how many times the request was made before this error was given up on
        # The request may have reached DashScope, which may still be working on it (and billing it).
        self.sent = sent

    @property
    def retryable(self) -> bool:
        """429 and 5xx (and no answer at all) may pass; any other 4xx will not."""
        return self.status is None or self.status == 429 or self.status >= 500


class DeadlineExceeded(Exception):
    """The task's overall deadline passed (while waiting for it, or before a retry could be made)."""

    def __init__(self, message: str, last_error: DashScopeError | None = None):
        super().__init__(message)
        self.last_error = last_error


@dataclass(frozen=True)
class RetryPolicy:
    """Waits before retry k (k = 1, 2, ...): base * 2**(k-1), capped, less up to `jitter` of it at random."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 8.0
    jitter: float = 0.25
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, retry: int) -> float:
        nominal = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return nominal * (1 - self.jitter * self.rand())


@dataclass(frozen=True)
class PollSchedule:
    """The official SDK's polling: `interval`, doubled every `every` polls, up to `max_interval`."""

    interval: float = 1.0
    max_interval: float = 5.0
    every: int = 3

    def wait_before(self, poll: int) -> float:
        """The wait before poll number `poll` (0-based)."""
        return min(self.max_interval, self.interval * 2 ** (poll // self.every))


def api_key(settings: DashScopeSettings | None = None) -> str | None:
    """DASHSCOPE_API_KEY from the environment, else the secret DASHSCOPE_API_KEY_SECRET_ARN names (cached)."""
    key = os.environ.get("DASHSCOPE_API_KEY")
    if key:
        return key
    settings = settings or get_settings().dashscope
    if not settings.api_key_secret_arn:
        return None
    # Powertools caches the value, so a warm container does not call Secrets Manager per job. Never logged.
    value = parameters.get_secret(settings.api_key_secret_arn, max_age=_SECRET_CACHE_SECONDS)
    return _key_from_secret(value)


def _key_from_secret(value: Any) -> str | None:
    """A secret holds the key itself, or JSON like {"api_key": "sk-..."} / {"DASHSCOPE_API_KEY": "sk-..."}."""
    if isinstance(value, bytes):
        value = value.decode()
    text = (value or "").strip()
    if text.startswith("{"):
        data = json.loads(text)
        text = str(data.get("DASHSCOPE_API_KEY") or data.get("api_key") or "").strip()
    return text or None


def _error_from(response: requests.Response) -> DashScopeError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    retry_after = response.headers.get("Retry-After", "")
    return DashScopeError(response.status_code, str(body.get("code") or f"HTTP{response.status_code}"),
                          str(body.get("message") or response.reason or "no message"), body.get("request_id"),
                          float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None)


def _cause(exc: requests.RequestException) -> BaseException | None:
    """What urllib3 raised under a requests exception (requests wraps it, often inside a MaxRetryError)."""
    cause = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__context__
    return cause.reason if isinstance(cause, MaxRetryError) else cause


def _before_sending(exc: requests.RequestException) -> bool:
    """Whether the request surely never left us, judged by the exceptions' types (requests over urllib3 2):

    - a requests.ConnectionError caused by urllib3's NewConnectionError (refused, unreachable) or its subclass
      NameResolutionError (DNS): no connection was made;
    - a requests.SSLError caused by a certificate that failed verification: that happens only in the handshake
      (another TLS error, such as an unexpected EOF, may come while the answer is read);
    - a request that could not even be built (InvalidURL, MissingSchema, InvalidSchema, InvalidHeader).

    Anything else, once a connection was open (a reset: a ProtocolError; a read timeout; a broken answer), may come
    after DashScope read the request, so the request counts as sent."""
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader)):
        return True
    cause = _cause(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        tls = cause.args[0] if isinstance(cause, Urllib3SSLError) and cause.args else cause
        return isinstance(tls, ssl.SSLCertVerificationError)
    return isinstance(exc, requests.ConnectionError) and isinstance(cause, (NewConnectionError, ConnectTimeoutError))


class DashScopeClient:
    def __init__(self, base_url: str, key: str, *, clock: Clock | None = None, retry: RetryPolicy | None = None,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self._key = key
        self.clock = clock or Clock()
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()

    def _once(self, method: str, path: str, body: dict | None, headers: dict, read_timeout: float) -> dict:
        try:
            response = self.session.request(method, self.base_url + path, json=body,
                                            headers={"Authorization": f"Bearer {self._key}", **headers},
                                            timeout=(CONNECT_TIMEOUT, max(1.0, read_timeout)))
        except requests.Timeout as exc:
            # A connect timeout is "could not be reached"; a read timeout, an answer that never came.
            if isinstance(exc, requests.ConnectTimeout):
                raise DashScopeError(None, "Unreachable", f"DashScope could not be reached ({type(exc).__name__})") from exc
            raise DashScopeError(None, "Timeout", f"DashScope did not answer within {max(1.0, read_timeout):g} s "
                                 f"({type(exc).__name__})", sent=True) from exc
        except requests.RequestException as exc:
            if _before_sending(exc):
                raise DashScopeError(None, "Unreachable", f"DashScope could not be reached ({type(exc).__name__})") from exc
            raise DashScopeError(None, "ConnectionLost", f"the connection to DashScope broke before its answer came "
                                 f"({type(exc).__name__})", sent=True) from exc
        if response.status_code != 200:
            error = _error_from(response)
            error.sent = response.status_code == 504  # a gateway gave up waiting: the work may go on behind it
            raise error
        try:
            data = response.json()
        except ValueError as exc:
            raise DashScopeError(502, "BadResponse", "DashScope answered 200 with a body that is not JSON") from exc
        if not isinstance(data, dict):
            raise DashScopeError(502, "BadResponse", "DashScope answered 200 with an unexpected body")
        return data

    def request(self, method: str, path: str, body: dict | None = None, *, headers: dict | None = None,
                deadline: float, read_timeout: float | None = None) -> dict:
        """One call, retried on 429/5xx/no answer by the retry policy, never past `deadline` (a Clock time).
        A POST that may have reached DashScope (error.sent) is not sent again: it may be billed already.
        An error raised carries the number of attempts made (`attempts`)."""
        read_timeout = READ_TIMEOUT if read_timeout is None else read_timeout
        attempt = 1
        while True:
            left = deadline - self.clock.now()
            if left <= 0:
                raise DeadlineExceeded("the deadline passed before DashScope could be asked")
            try:
                return self._once(method, path, body, headers or {}, min(read_timeout, left))
            except DashScopeError as error:
                error.attempts = attempt
                # `sent` means "something billable may have been made": a GET (a task's status) makes nothing, so
                # its lost answer is retried, and a job whose status checks all failed is not told its submit is
                # uncertain.
                error.sent = error.sent and method != "GET"
                if not error.retryable or attempt >= self.retry.attempts or error.sent:
                    raise
                wait = self.retry.delay(attempt)
                if error.retry_after is not None:
                    wait = max(wait, min(error.retry_after, MAX_RETRY_AFTER))
                if self.clock.now() + wait >= deadline:
                    raise DeadlineExceeded("the deadline passed while DashScope kept failing", error) from error
                self.clock.sleep(wait)
                attempt += 1

    def submit(self, path: str, body: dict, *, deadline: float) -> dict:
        """Start an asynchronous task: {"output": {"task_id", "task_status"}, "request_id"}."""
        data = self.request("POST", path, body, headers={"X-DashScope-Async": "enable"}, deadline=deadline)
        if not (data.get("output") or {}).get("task_id"):
            raise DashScopeError(502, "BadResponse", "DashScope accepted the task but returned no task id",
                                 data.get("request_id"))
        return data

    def query(self, task_id: str, *, deadline: float) -> dict:
        return self.request("GET", f"/tasks/{task_id}", deadline=deadline)

    def cancel(self, task_id: str) -> bool:
        """Cancel a task (DashScope allows it only while PENDING). Best effort: False when it did not happen."""
        try:
            self._once("POST", f"/tasks/{task_id}/cancel", None, {}, READ_TIMEOUT)
        except DashScopeError:
            return False
        return True

    def call(self, path: str, body: dict, *, deadline: float) -> dict:
        """A synchronous call (the multimodal endpoint): the answer comes when the work is done."""
        return self.request("POST", path, body, deadline=deadline, read_timeout=SYNC_READ_TIMEOUT)

    def follow(self, task_id: str, *, deadline: float, schedule: PollSchedule,
               on_poll: Callable[[dict], None] | None = None) -> dict:
        """Poll a task until it is terminal; its last answer. DeadlineExceeded when the deadline comes first."""
        poll, last = 0, None
        while True:
            wait = schedule.wait_before(poll)
            if self.clock.now() + wait >= deadline:
                status = ((last or {}).get("output") or {}).get("task_status", "PENDING")
                raise DeadlineExceeded(f"the task was still {status}")
            self.clock.sleep(wait)
            last = self.query(task_id, deadline=deadline)
            if on_poll:
                on_poll(last)
            if (last.get("output") or {}).get("task_status") in TERMINAL_STATES:
                return last
            poll += 1


def client_from_settings(clock: Clock | None = None) -> DashScopeClient | None:
    """A client configured from the environment, or None when no API key is configured."""
    settings = get_settings().dashscope
    key = api_key(settings)
    if not key:
        return None
    retry = RetryPolicy(settings.retry_attempts, settings.retry_base_delay, settings.retry_max_delay)
    return DashScopeClient(settings.base_url, key, clock=clock, retry=retry)
