"""The local stack keeps working after an error: every background thread (queue pollers, the S3 notifications'
poller, the schedule) logs a failed iteration with its traceback and goes on, as Lambda's pollers do.

One ReceiptHandleIsInvalid used to end a poller thread, and with each of a queue's pollers gone its jobs silently
stopped being processed under `make dev`. Here the errors come from the in-process AWS itself (moto answers the
poller's DeleteMessage with ReceiptHandleIsInvalid), once for each poller of the queue, and the next job must
still complete.

The stack is this module's own (not the end-to-end tests'): its schedule runs every fraction of a second, and its
sweeper's first import and one log line are made to fail.
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

import boto3
import pytest
import requests
from moto.core import DEFAULT_ACCOUNT_ID

from imgapi_local import handlers
from imgapi_local.devserver import LocalStack
from tests.e2e.conftest import login, wait_for
from tests.support.images import portrait_jpeg

pytestmark = pytest.mark.slow

SCHEDULE_SECONDS = 0.2
DEADLINE = 120  # waiting on real work on a busy machine: generous, it is only reached when something is wrong


class Injected:
    """Failures handed out to whichever thread comes first, `remaining` times."""

    def __init__(self, times: int):
        self.remaining, self.raised = times, 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            self.raised += 1
            return True

    def wait_raised(self, count: int) -> None:
        deadline = time.monotonic() + DEADLINE
        while self.raised < count:
            assert time.monotonic() < deadline, f"only {self.raised} of {count} injected errors happened"
            time.sleep(0.05)


class FlakyLog:
    """The stack's log (a list of lines); the first line about `fails_on` fails to be written, as a closed pipe does."""

    def __init__(self, fails_on: str):
        self.lines: list[str] = []
        self.fails_on = fails_on
        self.failed = threading.Event()

    def __call__(self, line: str) -> None:
        if self.fails_on in line.split("\n", 1)[0] and not self.failed.is_set():
            self.failed.set()
            raise BrokenPipeError(32, "Broken pipe")
        self.lines.append(line)

    def wait_for(self, predicate, what: str) -> list[str]:
        deadline = time.monotonic() + DEADLINE
        while True:
            found = [line for line in list(self.lines) if predicate(line)]
            if found:
                return found
            assert time.monotonic() < deadline, f"never logged: {what}; the log ends:\n" + "\n".join(self.lines[-20:])
            time.sleep(0.05)


@pytest.fixture(scope="module")
def resilient(model_home):
    """(the stack, its log, the sweeper's injected import failure)."""
    sweeper_import = Injected(1)
    load_handler = handlers.load_handler

    def first_sweeper_import_fails(spec, *args, **kwargs):
        if spec.logical_id == "SweeperFunction" and sweeper_import.take():
            raise ImportError("injected: the sweeper's module failed to import (a syntax error being fixed)")
        return load_handler(spec, *args, **kwargs)

    log = FlakyLog(fails_on="SweeperFunction (schedule) -> ")  # the first run's summary
    environment = {"SUBMITS_PER_MINUTE": "100000", "JOBS_PER_DAY": "100000", "U2NET_HOME": str(model_home)}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environment.items():
            patch.setenv(key, value)
        patch.setattr(handlers, "load_handler", first_sweeper_import_fails)
        stack = LocalStack(port=0, log=log, schedule_seconds=SCHEDULE_SECONDS, error_pause_seconds=0.2)
        stack.start()
        try:
            yield stack, log, sweeper_import
        finally:
            stack.stop()


@contextmanager
def invalid_receipt_handles(queue_name: str, times: int):
    """moto answers the next `times` DeleteMessage calls on the queue with ReceiptHandleIsInvalid (a ClientError for
    the caller), as SQS does for a handle that is no longer the message's."""
    from moto.sqs.exceptions import ReceiptHandleIsInvalid
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "us-east-1")]
    injected, delete = Injected(times), backend.delete_message

    def delete_message(queue, receipt_handle):
        if queue == queue_name and injected.take():
            raise ReceiptHandleIsInvalid()
        return delete(queue, receipt_handle)

    backend.delete_message = delete_message  # this backend only; moto_atomic patches the class
    try:
        yield injected
    finally:
        del backend.delete_message


def _errors_logged(log: FlakyLog, error: str) -> list[str]:
    return [line for line in log.lines if error in line and "Traceback (most recent call last)" in line]


def test_each_queue_poller_goes_on_after_receipt_handle_is_invalid(resilient):
    stack, log, _ = resilient
    url = stack.stack.resolver.refs["ImageJobsQueue"]
    pollers = sum(source.threads for source in stack.sources if source.queue_url == url)
    assert pollers >= 1
    token = login(stack.url)
    with invalid_receipt_handles(url.rsplit("/", 1)[-1], pollers) as injected:
        # One error for each poller (a poller that died on its error could not take the next one), then a job more.
        for job in range(pollers + 1):
            response = requests.post(f"{stack.url}/api/v1/upscale/combo", params={"token": token, "enhance_level": "light"},
                                     files={"file": ("p.jpg", portrait_jpeg(48, 64), "image/jpeg")}, timeout=30)
            assert response.status_code == 202, response.text
            status = wait_for(stack.url, token, response.json()["task_id"], timeout=DEADLINE)
            assert status["status"] == "completed", (job, status)
            injected.wait_raised(min(job + 1, pollers))  # this job's delete failed before the next one is submitted
    assert injected.raised == pollers
    assert len(_errors_logged(log, "ReceiptHandleIsInvalid")) >= pollers


def test_the_s3_notifications_poller_goes_on_after_receipt_handle_is_invalid(resilient):
    stack, log, _ = resilient
    source = next(source for source in stack.sources if source.s3_notifications)
    bucket = stack.stack.environment()["BUCKET_NAME"]
    s3 = boto3.client("s3")
    with invalid_receipt_handles(source.queue_url.rsplit("/", 1)[-1], source.threads) as injected:
        for i in range(2):
            s3.put_object(Bucket=bucket, Key=f"inbox/combo/resilience/shot{i}.jpg", Body=portrait_jpeg(48, 64),
                          ContentType="image/jpeg")
            deadline = time.monotonic() + DEADLINE
            while not s3.list_objects_v2(Bucket=bucket, Prefix=f"results/combo/resilience/shot{i}.png").get("KeyCount"):
                assert time.monotonic() < deadline, f"no result for shot{i}.jpg; the log ends:\n" + "\n".join(log.lines[-20:])
                time.sleep(0.2)
            injected.wait_raised(source.threads)  # the first upload's notification could not be deleted
    assert len(_errors_logged(log, "ReceiptHandleIsInvalid")) >= source.threads


def test_the_schedule_goes_on_after_an_error(resilient):
    stack, log, sweeper_import = resilient
    sweeper_import.wait_raised(1)
    log.wait_for(lambda line: "SweeperFunction (schedule) failed: ImportError: injected" in line
                 and "Traceback (most recent call last)" in line, "the sweeper's failed import")
    assert log.failed.wait(DEADLINE), "the sweeper never ran after its failed import"
    log.wait_for(lambda line: "SweeperFunction (schedule)" in line and "BrokenPipeError" in line
                 and "Traceback (most recent call last)" in line, "the failed log line")
    # ... and the schedule still runs: a run after both errors.
    log.wait_for(lambda line: "SweeperFunction (schedule) -> " in line, "a sweeper run after the errors")
