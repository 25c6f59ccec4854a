"""A webhook receiver for the tests: an HTTP server on 127.0.0.1 answering each POST with the next of its answers
("ok", "500", "slow", "redirect"), keeping what it received, and verifying it as a receiver would, with the PyPI
`standardwebhooks` package (the spec's reference library)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

SLOW_ANSWER_WAIT_SECONDS = 30  # longer than any delivery's timeout; released when the receiver closes


class Receiver:
    def __init__(self, *answers: str, path: str = "/hooks?key=abc"):
        self.answers, self.received = list(answers), []
        self.release = threading.Event()
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.arrived:
                    outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    outer.arrived.notify_all()
                answer = outer.answers.pop(0) if outer.answers else "ok"
                if answer == "slow":
                    outer.release.wait(SLOW_ANSWER_WAIT_SECONDS)
                self.send_response({"ok": 204, "500": 500, "slow": 204, "redirect": 302}[answer])
                if answer == "redirect":
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                payload = b"x" * 100_000  # a long answer: only a few KB are read
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 60) -> list[tuple[dict, bytes]]:
        """The deliveries once `count` have arrived (the local stack's queue pollers deliver in the background)."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def verified(secret: str, headers: dict, body: bytes):
    """The event, as standardwebhooks' Webhook.verify returns it; WebhookVerificationError if it does not verify."""
    lower = {k.lower(): v for k, v in headers.items()}
    return Webhook(secret).verify(body, {k: lower[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")})


@pytest.fixture
def receiver():
    """receiver(*answers): a new Receiver, closed when the test ends."""
    made = []

    def make(*answers):
        made.append(Receiver(*answers))
        return made[-1]
    yield make
    for server in made:
        server.close()
