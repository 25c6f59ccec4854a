"""Was the request sent? The DashScope client decides it from the exception's type (issue #20, no double billing).

Each case is a real socket situation on 127.0.0.1 where one can be made: a port that refuses, a listener whose
backlog is full (the connect times out), a server that resets or closes the connection after reading the whole
request, one that resets it halfway through, one that never answers. A POST that may have reached
DashScope is made once; one that surely did not is retried; a task query (a GET) is retried whatever happened.
"""
from __future__ import annotations

import select
import socket
import ssl
import struct
import threading

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError, ProtocolError
from urllib3.exceptions import SSLError as Urllib3SSLError

from imgapi.dashscope import client as dashscope_client
from imgapi.dashscope.client import DashScopeClient, DashScopeError, RetryPolicy, _before_sending
from tests.support.clock import VirtualClock

ATTEMPTS = 3


class _CountingSession(requests.Session):
    """A real session that counts the requests it was asked to make."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def request(self, *args, **kwargs):
        self.calls += 1
        return super().request(*args, **kwargs)


class _Listener:
    """A TCP server on 127.0.0.1 that does `behaviour(connection)` with each connection, one thread each; counts the
    requests it read in full."""

    def __init__(self, behaviour: str):
        self.behaviour = behaviour
        self.requests_read = 0
        self._read = threading.Condition()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/api/v1"

    def _serve(self):
        while not self._stop.is_set():
            try:
                connection, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _read_request(self, connection: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += connection.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += connection.recv(65536)
        with self._read:
            self.requests_read += 1
            self._read.notify_all()

    def read_in_full(self, count: int) -> bool:
        """Whether `count` requests have been read in full (waiting a while for the server's threads)."""
        with self._read:
            return self._read.wait_for(lambda: self.requests_read >= count, timeout=10) and self.requests_read == count

    def _handle(self, connection: socket.socket) -> None:
        if self.behaviour == "reset mid-request":  # the client is connected and sending: reset before the end
            connection.recv(4)
            _reset(connection)
            return
        self._read_request(connection)
        if self.behaviour == "reset after reading":
            _reset(connection)
        elif self.behaviour == "close after reading":
            connection.close()
        else:  # "never answer": hold the connection open until the test ends
            self._held.append(connection)

    def close(self):
        self._stop.set()
        self._sock.close()
        for connection in self._held:
            connection.close()


def _reset(connection: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed peer or a middlebox does."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _client(base_url: str) -> tuple[DashScopeClient, _CountingSession]:
    session = _CountingSession()
    return DashScopeClient(base_url, "sk-test", clock=VirtualClock(start=0), retry=RetryPolicy(attempts=ATTEMPTS, jitter=0),
                           session=session), session


@pytest.fixture
def listener(request):
    server = _Listener(request.param)
    yield server
    server.close()


@pytest.fixture
def refusing_port():
    """A port bound on 127.0.0.1 but not listening: a connection to it is refused (and no one else can take it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def full_backlog(monkeypatch):
    """A listener whose accept queue is full (backlog 0, one connection waiting, never accepted): the kernel drops
    further SYNs, so a connect times out. The client's connect timeout is made short."""
    monkeypatch.setattr(dashscope_client, "CONNECT_TIMEOUT", 0.2)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    filler = socket.socket()
    filler.setblocking(False)
    filler.connect_ex(server.getsockname())
    select.select([], [filler], [], 10)  # its connection is established: it fills the queue
    yield f"http://127.0.0.1:{server.getsockname()[1]}/api/v1"
    for sock in (filler, server):
        sock.close()


# -- connections that never opened: nothing was sent, a POST is asked again ---------------------------------------

@pytest.mark.parametrize("how", ["submit", "call"])
def test_a_refused_connection_is_before_sending_so_a_post_is_retried(refusing_port, how):
    client, session = _client(f"http://127.0.0.1:{refusing_port}/api/v1")
    with pytest.raises(DashScopeError) as raised:
        getattr(client, how)("/p", {"model": "m"}, deadline=1000)
    error = raised.value
    assert isinstance(error.__cause__, requests.ConnectionError)
    assert isinstance(error.__cause__.args[0], MaxRetryError)
    assert isinstance(error.__cause__.args[0].reason, NewConnectionError)
    assert error.code == "Unreachable" and not error.sent
    assert session.calls == ATTEMPTS and error.attempts == ATTEMPTS


def test_a_connect_timeout_is_before_sending_so_a_post_is_retried(full_backlog):
    client, session = _client(full_backlog)
    with pytest.raises(DashScopeError) as raised:
        client.submit("/p", {"model": "m"}, deadline=1000)
    assert isinstance(raised.value.__cause__, requests.ConnectTimeout)
    assert raised.value.code == "Unreachable" and not raised.value.sent
    assert session.calls == ATTEMPTS


# -- connections that opened: the request may have been read, a POST is made once -----------------------------------

@pytest.mark.parametrize("listener,read", [("reset after reading", 1), ("close after reading", 1),
                                           ("reset mid-request", 0)], indirect=["listener"])
@pytest.mark.parametrize("how", ["submit", "call"])
def test_a_connection_broken_once_open_may_have_delivered_the_request_so_a_post_is_made_once(listener, read, how):
    """A reset after the server read the request is the double-billing case. A reset before it read all of it looks
    the same from the client (the connection was open, the bytes may have gone), so it is treated the same way.
    (A reset so early that the client's connect() itself fails is a NewConnectionError: nothing was sent.)"""
    client, session = _client(listener.url)
    with pytest.raises(DashScopeError) as raised:
        getattr(client, how)("/p", {"model": "m"}, deadline=1000)
    error = raised.value
    assert isinstance(error.__cause__, requests.ConnectionError)
    assert isinstance(error.__cause__.args[0], ProtocolError)
    assert error.code == "ConnectionLost" and error.sent
    assert session.calls == 1 and listener.requests_read == read


@pytest.mark.parametrize("listener", ["never answer"], indirect=True)
def test_a_read_timeout_may_have_delivered_the_request_so_a_post_is_made_once(listener):
    client, session = _client(listener.url)
    with pytest.raises(DashScopeError) as raised:
        client.request("POST", "/p", {"model": "m"}, deadline=1000, read_timeout=1.0)
    assert isinstance(raised.value.__cause__, requests.ReadTimeout)
    assert raised.value.code == "Timeout" and raised.value.sent
    assert session.calls == 1 and listener.read_in_full(1)


@pytest.mark.parametrize("listener", ["reset after reading", "close after reading"], indirect=True)
def test_a_task_query_broken_after_it_was_read_is_asked_again(listener):
    """A GET changes nothing upstream: whatever happened, it is retried, and its failure is never reported as a
    request that may have made something (the worker would tell the job its submit is uncertain)."""
    client, session = _client(listener.url)
    with pytest.raises(DashScopeError) as raised:
        client.query("t1", deadline=1000)
    assert session.calls == ATTEMPTS and listener.requests_read == ATTEMPTS
    assert raised.value.code == "ConnectionLost" and not raised.value.sent


# -- the types that cannot be made on 127.0.0.1 ---------------------------------------------------------------------

def _wrapped(reason: Exception, outer=requests.ConnectionError) -> requests.RequestException:
    """What requests raises for urllib3's `reason` (wrapped in a MaxRetryError)."""
    return outer(MaxRetryError(None, "/p", reason))


@pytest.mark.parametrize("exc,before", [
    (_wrapped(NameResolutionError("dashscope.invalid", None, socket.gaierror(-2, "Name or service not known"))), True),
    (_wrapped(NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")), True),
    (_wrapped(Urllib3SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed")),
              requests.exceptions.SSLError), True),
    (_wrapped(Urllib3SSLError(ssl.SSLEOFError(8, "EOF occurred in violation of protocol")),
              requests.exceptions.SSLError), False),  # may come while the answer is read
    (requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))), False),
    (requests.exceptions.ChunkedEncodingError(ProtocolError("Response ended prematurely")), False),
    (requests.exceptions.InvalidURL("bad"), True),
    # A message that merely mentions a connection failure does not make it one: the type decides.
    (requests.ConnectionError("Failed to establish a new connection (NewConnectionError)"), False),
])
def test_before_sending_is_decided_by_the_exceptions_type(exc, before):
    assert _before_sending(exc) is before
