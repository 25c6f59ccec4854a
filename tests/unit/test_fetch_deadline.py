"""Issue #22, point 2: a slow-drip server cannot hold a fetch past its total timeout (each byte used to reset it)."""
from __future__ import annotations

import socket
import threading

import pytest

from imgapi.core.safe_fetch import FetchError, FetchLimits, fetch

PROMISED = 1000


class DripServer:
    """On 127.0.0.1: promises PROMISED bytes, then sends one every `interval` s until done or the client leaves."""

    def __init__(self, interval: float):
        self.interval, self.sent, self.done = interval, 0, threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {PROMISED}\r\n\r\n".encode())
            try:
                while self.sent < PROMISED and not self.stop.wait(self.interval):
                    conn.sendall(b"x")
                    self.sent += 1
            except OSError:  # the client gave up: what this test wants
                pass
        self.done.set()

    def close(self):
        self.stop.set()
        self.listener.close()


@pytest.fixture
def drip():
    server = DripServer(interval=0.02)
    yield server
    server.close()


def test_a_slow_drip_body_is_cut_off_at_the_total_timeout(drip):
    limits = FetchLimits(total_timeout=1.0, read_timeout=0.5)
    with pytest.raises(FetchError) as slow:
        fetch(f"http://127.0.0.1:{drip.port}/drip.png", limits, allow_private=True)
    assert slow.value.code == "fetch_timeout" and slow.value.retryable
    # The fetch gave up with the body unfinished (it used to read every byte, however long that took).
    assert drip.sent < PROMISED


def test_the_default_total_timeout_is_well_under_the_workers_lambda_timeout():
    from imgapi_local.template import load_template

    worker_timeout = load_template()["Resources"]["ImageWorkerFunction"]["Properties"].get("Timeout")
    assert FetchLimits().total_timeout <= worker_timeout / 2
