"""`imgapi client`'s parts: retries (Retry-After included), which files a folder holds, the batch state, the saved login."""
from __future__ import annotations

import email.utils
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from imgapi_local import client
from imgapi_local.client import BatchState, Failure, Http, find_inputs, job_signature, parse_params


class Scripted:
    """A server answering each request with the next (status, headers) of its script."""

    def __init__(self, *script: tuple[int, dict]):
        self.script, self.seen = list(script), 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                status, headers = outer.script[min(outer.seen, len(outer.script) - 1)]
                outer.seen += 1
                self.send_response(status)
                for key, value in {"Content-Length": "2", **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def http(sleeps, attempts=4) -> Http:
    return Http(attempts=attempts, backoff=0.5, timeout=5, sleep=sleeps.append)


def test_5xx_and_429_are_retried_honouring_retry_after(sleeps):
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    server = Scripted((503, {"Retry-After": "2"}), (429, {"Retry-After": date}), (502, {}), (200, {}))
    try:
        assert http(sleeps).request("GET", server.url).status_code == 200
    finally:
        server.close()
    assert server.seen == 4 and sleeps[0] == 2.0 and 27 < sleeps[1] <= 30 and 0.75 <= sleeps[2] <= 2.0


def test_other_errors_are_not_retried_and_the_last_answer_is_returned(sleeps):
    server = Scripted((400, {}))
    try:
        assert http(sleeps).request("GET", server.url).status_code == 400 and server.seen == 1 and sleeps == []
        server.script, server.seen = [(500, {})], 0
        assert http(sleeps, attempts=3).request("GET", server.url).status_code == 500 and server.seen == 3
    finally:
        server.close()


def test_no_connection_is_retried_then_a_failure_a_rerun_retries(sleeps):
    server = Scripted((200, {}))
    url = server.url
    server.close()
    with pytest.raises(Failure) as raised:
        http(sleeps, attempts=3).request("GET", url)
    assert not raised.value.final and len(sleeps) == 2 and "run again" in raised.value.message


def test_a_folder_is_its_images_below_it_without_hidden_files_or_the_output(tmp_path):
    for name in ("a.jpg", "a.png", "b.JPEG", "sub/c.webp", "sub/.hidden.jpg", ".cache/d.jpg", "notes.txt", "out/a.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    items = find_inputs(tmp_path, exclude=tmp_path / "out")
    assert [(i.relative, i.output_stem) for i in items] == [
        ("a.jpg", "a.jpg"), ("a.png", "a.png"), ("b.JPEG", "b"), ("sub/c.webp", "c")]  # a.jpg and a.png: both names kept
    (single,) = find_inputs(tmp_path / "sub" / "c.webp")
    assert single.relative == "c.webp" and single.size == 1


def test_the_state_knows_an_input_only_as_it_was_and_for_the_same_job(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"one")
    (item,) = find_inputs(tmp_path)
    signature = job_signature("combo", {"enhance_level": "light"})
    BatchState(tmp_path / "state.json", signature).record(item, status="done", output="a.png")
    assert BatchState(tmp_path / "state.json", signature).entry(item)["status"] == "done"
    assert BatchState(tmp_path / "state.json", job_signature("combo", {"enhance_level": "strong"})).entry(item) is None
    (tmp_path / "a.jpg").write_bytes(b"changed")
    os.utime(tmp_path / "a.jpg", ns=(1, 1))
    (changed,) = find_inputs(tmp_path)
    assert BatchState(tmp_path / "state.json", signature).entry(changed) is None


def test_parameters_are_json_values_or_text(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"format": "webp", "enhance_level": "medium"}))
    assert parse_params(["enhance_level=strong", 'config={"bgcolor": "#ffffff"}', "n=2"], str(tmp_path / "p.json")) == {
        "format": "webp", "enhance_level": "strong", "config": {"bgcolor": "#ffffff"}, "n": 2}
    with pytest.raises(Failure):
        parse_params(["no-equals-sign"], None)


def test_logins_are_kept_per_url_readable_by_their_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv(client.CREDENTIALS_ENV, str(tmp_path / "imgapi" / "credentials.json"))
    monkeypatch.delenv("IMGAPI_TOKEN", raising=False)
    monkeypatch.delenv("IMGAPI_URL", raising=False)
    client.save_login("https://api.example.com", "alice", "token-a", 3600)
    path = client.save_login("http://127.0.0.1:8000", "bob", "token-b", 3600)
    assert path.stat().st_mode & 0o777 == 0o600
    assert client.saved_login(None) == ("http://127.0.0.1:8000", "token-b")  # the last one logged in to
    assert client.saved_login("https://api.example.com/") == ("https://api.example.com", "token-a")
    with pytest.raises(Failure, match="not logged in to https://other"):
        client.saved_login("https://other")
    client.save_login("https://api.example.com", "alice", "token-a", -1)
    with pytest.raises(Failure, match="expired"):
        client.saved_login("https://api.example.com")
    monkeypatch.setenv("IMGAPI_TOKEN", "from-the-environment")
    assert client.saved_login("https://other") == ("https://other", "from-the-environment")
