"""Issue #22, point 7: an image URL whose host does not resolve. Each failed attempt is one warning line (its code and
host, no traceback, no query string), and the job ends url_unresolvable, not retries_exhausted: at once when the
answer is final (no such host), on the last delivery when the resolver keeps failing for now."""
from __future__ import annotations

import json
import logging
import socket

import pytest

from imgapi.core import safe_fetch
from imgapi.core.observability import logger
from imgapi.core.settings import get_settings
from imgapi.jobs import lifecycle
from tests.support.worker import deliver, queue_depth

HOST = "images.example"
URL = f"http://{HOST}/photos/cat.jpg?X-Amz-Signature=s3cret-signature"


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if not any(record is seen for seen in self.records):  # a record reaches both loggers when it propagates
            self.records.append(record)


@pytest.fixture
def records():
    """Every log record: the functions' logger's and any other (Powertools' batch processor logs to its own)."""
    handler = _Records()
    targets = [logger._logger, logging.getLogger()]
    for target in targets:
        target.addHandler(handler)
    yield handler.records
    for target in targets:
        target.removeHandler(handler)


@pytest.fixture
def resolver(monkeypatch):
    """getaddrinfo failing for HOST with the errors queued (the last one repeats); other names as usual."""
    errors: list[int] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host != HOST:
            return real(host, *args, **kwargs)
        code = errors.pop(0) if len(errors) > 1 else errors[0]
        raise socket.gaierror(code, "Temporary failure in name resolution" if code == socket.EAI_AGAIN
                              else "Name or service not known")

    monkeypatch.setattr(safe_fetch.socket, "getaddrinfo", getaddrinfo)
    return errors


def _submit(api, token) -> str:
    response = api.call("POST", "/remove_bg", token=token, json_body={"image_url": URL})
    assert response.status == 202, response.body
    return response.json()["task_id"]


def _lines(records) -> list[dict]:
    """The functions' warnings, as they write them (Powertools' JSON), each checked for what it must not carry; no
    error from any logger."""
    lines = []
    for record in records:
        assert record.levelno < logging.ERROR, (record.name, record.levelname, record.getMessage())
        assert record.exc_info is None and not record.exc_text, record.getMessage()  # no traceback
        if record.name != logger._logger.name or record.levelno < logging.WARNING:
            continue
        line = json.loads(logger.registered_formatter.format(record))
        assert "s3cret" not in json.dumps(line) and "exception" not in line
        lines.append(line)
    return lines


def test_a_resolver_failing_for_now_then_no_such_host_logs_one_warning_each_and_fails_url_unresolvable(
        api, alice, resolver, records):
    queue = get_settings().image_queue_url
    task_id = _submit(api, alice)
    resolver[:] = [socket.EAI_AGAIN, socket.EAI_NONAME]
    records.clear()
    assert len(deliver(queue)["batchItemFailures"]) == 1  # for now: SQS delivers it again
    (attempt,) = _lines(records)
    assert attempt["code"] == "url_unresolvable" and attempt["host"] == HOST
    job = lifecycle.get_job(task_id)
    assert job["status"] == "processing" and "could not be resolved" in job["last_error"]

    records.clear()
    assert deliver(queue) == {"batchItemFailures": []}  # final: no more deliveries
    (failed,) = _lines(records)
    assert failed["code"] == "url_unresolvable"
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "url_unresolvable", job
    assert HOST in job["error_message"] and "no such host" in job["error_message"]
    assert queue_depth(queue) == 0


def test_a_resolver_that_fails_on_every_delivery_ends_url_unresolvable_not_retries_exhausted(
        api, alice, resolver, records, stack):
    queue = get_settings().image_queue_url
    task_id = _submit(api, alice)
    resolver[:] = [socket.EAI_AGAIN]
    records.clear()
    outcomes = [len(deliver(queue)["batchItemFailures"]) for _ in range(get_settings().max_receive_count)]
    assert outcomes == [1] * (len(outcomes) - 1) + [0]  # the last delivery ends the job: no dead letter
    lines = _lines(records)
    assert len(lines) == len(outcomes)  # one line a delivery
    assert all(line["code"] == "url_unresolvable" for line in lines)
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "url_unresolvable", job
    assert f"each of {len(outcomes)} deliveries" in job["error_message"]
    assert deliver(queue) is None and queue_depth(queue) == 0
