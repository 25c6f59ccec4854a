"""Guarantee 4, faults: what an AWS or DashScope failure, a killed worker or a poison message leaves behind.

AWS faults are injected where the services would fail: botocore's event system, on the default session every
client of the package is made from. A fault `before` the call means the request never reached the service; one
`after` the call means it did (the object, row or message was written) but the answer was lost, as on a timeout.
A killed worker is a BaseException raised inside the handler (what a Lambda timeout or an out-of-memory kill is to
the code: nothing in it runs any more), after which the message's visibility timeout passes and SQS delivers it
again, with a higher receive count; the dead-letter queues are moto's own redrive (maxReceiveCount 3).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from imgapi.core import aws

from imgapi.dashscope import client as dashscope_client

from imgapi.dashscope import slots as dashscope_slots

from imgapi.jobs import lifecycle

from imgapi.core import storage
from imgapi.core.settings import get_settings
from imgapi.jobs.sweeper import sweep_stuck_jobs
from imgapi_local.devserver import free_port
from imgapi_local.events import LambdaContext, sqs_event
from imgapi_local.template import load_template
from tests.functional.conftest import run_dashscope_worker
from tests.support.fake_dashscope import IMAGEEDIT_MODEL
from tests.support.images import encode, portrait_array, portrait_jpeg, portrait_png
from tests.support.seed_api import SEED_BODIES
from tests.support.worker import deliver, drain, queue_arn, queue_depth, worker_handler
from tests.support.aws_state import objects, job_rows

pytestmark = pytest.mark.slow

JPEG = portrait_jpeg(64, 80)
PNG = portrait_png(48, 60)


# -- fault injection ---------------------------------------------------------------------------------------------

class WorkerKilled(BaseException):
    """A Lambda timeout or out-of-memory kill, as the handler sees it: not an Exception, so nothing catches it."""


def service_error(code: str = "ServiceUnavailable", status: int = 503) -> Callable[[str], BaseException]:
    return lambda operation: ClientError({"Error": {"Code": code, "Message": f"injected: {code}"},
                                          "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def no_connection(operation: str) -> BaseException:
    return EndpointConnectionError(endpoint_url="https://injected.amazonaws.com")


def answer_lost(operation: str) -> BaseException:
    return ReadTimeoutError(endpoint_url="https://injected.amazonaws.com")


def killed(operation: str) -> BaseException:
    return WorkerKilled(f"killed during {operation}")


@dataclass
class Fault:
    service: str
    operation: str
    error: Callable[[str], BaseException | None]  # None: the call goes on (e.g. after blocking)
    when: str = "before"
    calls: frozenset[int] | None = None  # which matching calls fail, 1-based; None: every one
    match: Callable[[dict], bool] | None = None
    seen: int = 0
    fired: int = 0

    def applies(self, service: str, operation: str, params: dict) -> bool:
        if (service, operation) != (self.service, self.operation) or (self.match and not self.match(params)):
            return False
        self.seen += 1
        if self.calls is not None and self.seen not in self.calls:
            return False
        self.fired += 1
        return True


class Faults:
    """Faults on every AWS call the package makes (and records of the calls, to see what an undo attempted)."""

    def __init__(self):
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str, dict]] = []
        self._lock = threading.Lock()

    def add(self, service: str, operation: str, error: Callable[[str], BaseException | None] = service_error(), *,
            when: str = "before", calls: Iterable[int] | None = None, table: str | None = None,
            match: Callable[[dict], bool] | None = None) -> Fault:
        if table is not None:
            inner = match
            match = lambda params: params.get("TableName") == table and (inner is None or inner(params))  # noqa: E731
        fault = Fault(service, operation, error, when, frozenset(calls) if calls is not None else None, match)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def made(self, service: str, operation: str) -> list[dict]:
        return [params for s, o, params in self.calls if (s, o) == (service, operation)]

    def before(self, event_name: str, params: dict, context: dict, **_) -> None:
        _, service, operation = event_name.split(".")
        with self._lock:
            self.calls.append((service, operation, dict(params)))
            firing = [f for f in self.faults if f.applies(service, operation, params)]
        for fault in firing:
            if fault.when == "after":
                context.setdefault("injected_faults", []).append(fault)
                continue
            error = fault.error(operation)
            if error is not None:
                raise error

    def after(self, event_name: str, context: dict, **_) -> None:
        for fault in context.pop("injected_faults", []):
            error = fault.error(event_name.split(".")[2])
            if error is not None:
                raise error


@pytest.fixture
def faults(stack):
    registry = Faults()
    session = boto3._get_default_session()._session
    session.register("before-parameter-build", registry.before, unique_id="imgapi-faults-before")
    session.register("after-call", registry.after, unique_id="imgapi-faults-after")
    aws.reset()  # the package's clients are made again, from the session with the handlers
    yield registry
    session.unregister("before-parameter-build", unique_id="imgapi-faults-before")
    session.unregister("after-call", unique_id="imgapi-faults-after")
    aws.reset()


# -- what is left ------------------------------------------------------------------------------------------------

def dead_letters(stack, queue: str) -> list[dict]:
    url = stack.resolver.refs[{"image": "ImageJobsDeadLetterQueue", "dashscope": "DashScopeJobsDeadLetterQueue"}[queue]]
    answer = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return answer.get("Messages", [])


def queues() -> dict[str, tuple[str, str]]:
    settings = get_settings()
    return {"image": (settings.image_queue_url, "ImageWorkerFunction"),
            "dashscope": (settings.dashscope.queue_url, "DashScopeWorkerFunction")}


def usage_charged() -> int:
    table = get_settings().usage_table
    if not table:
        return 0
    return sum(int(item.get("used", 0)) for item in boto3.resource("dynamodb").Table(table).scan()["Items"])


def assert_nothing_left(faults: Faults, stack) -> None:
    """No job row, no object, no usage charged; a message whose answer was lost may have been sent: the workers
    drop it (it names no job) and nothing reaches a dead-letter queue."""
    faults.clear()
    assert job_rows() == [] and objects() == []
    assert usage_charged() == 0
    for name, (url, function) in queues().items():
        for response in drain(url, worker_handler(function)):
            assert response == {"batchItemFailures": []}
        assert queue_depth(url) == 0 and dead_letters(stack, name) == []


# -- the four kinds of submit ------------------------------------------------------------------------------------

def submit_combo(api, token, headers=None):
    return api.call("POST", "/api/v1/upscale/combo", token=token, query="enhance_level=light", headers=headers,
                    files={"file": ("portrait.jpg", JPEG, "image/jpeg")})


def submit_edit_with_uploads(api, token, headers=None):
    """A local change_bg from two uploaded files: its input_key and one named upload, two objects."""
    return api.call("POST", "/change_bg", token=token, form={"engine": "local"}, headers=headers,
                    files={"base_image": ("product.jpg", JPEG, "image/jpeg"),
                           "ref_image": ("studio.png", PNG, "image/png")})


def submit_url_edit(api, token, headers=None):
    return api.call("POST", "/remove_bg", token=token, json_body={"image_url": "https://images.example.com/shoe.png"},
                    headers=headers)


def request_upload(api, token, headers=None):
    return api.call("POST", "/api/v1/uploads", token=token, headers=headers,
                    json_body={"operation": "combo", "filename": "large.jpg", "content_type": "image/jpeg"})


SUBMITS = {"combo": submit_combo, "edit_with_uploads": submit_edit_with_uploads, "url_edit": submit_url_edit,
           "uploads": request_upload}
ACCEPTED = {"combo": 202, "edit_with_uploads": 202, "url_edit": 202, "uploads": 201}

# Each step of each kind of submit that writes: (service, operation, when, which of its calls, error).
FAILURE_POINTS = {
    "combo": [
        ("s3", "PutObject", "before", None, service_error("SlowDown")),
        ("s3", "PutObject", "after", None, answer_lost),
        ("dynamodb", "PutItem", "before", None, service_error("ProvisionedThroughputExceededException", 400)),
        ("dynamodb", "PutItem", "after", None, answer_lost),
        ("sqs", "SendMessage", "before", None, no_connection),
        ("sqs", "SendMessage", "after", None, answer_lost),
    ],
    "edit_with_uploads": [
        ("s3", "PutObject", "before", {1}, no_connection),
        ("s3", "PutObject", "before", {2}, service_error("InternalError", 500)),  # the first input is written
        ("s3", "PutObject", "after", {2}, answer_lost),
        ("dynamodb", "PutItem", "before", None, service_error("InternalServerError", 500)),
        ("dynamodb", "PutItem", "after", None, answer_lost),
        ("sqs", "SendMessage", "before", None, service_error("AWS.SimpleQueueService.ServiceUnavailable")),
        ("sqs", "SendMessage", "after", None, answer_lost),
    ],
    "url_edit": [
        ("dynamodb", "PutItem", "before", None, no_connection),
        ("dynamodb", "PutItem", "after", None, answer_lost),
        ("sqs", "SendMessage", "before", None, service_error("KmsThrottled", 400)),
        ("sqs", "SendMessage", "after", None, answer_lost),
    ],
    "uploads": [
        ("dynamodb", "PutItem", "before", None, service_error("ThrottlingException", 400)),
        ("dynamodb", "PutItem", "after", None, answer_lost),
    ],
}


@pytest.mark.parametrize("kind", list(FAILURE_POINTS))
def test_a_storage_failure_at_any_step_of_a_submit_answers_503_and_leaves_nothing_behind(
        api, alice, stack, faults, subtests, kind):
    for service, operation, when, calls, error in FAILURE_POINTS[kind]:
        with subtests.test(f"{service}.{operation}{' #' + str(min(calls)) if calls else ''} fails {when} the call"):
            table = get_settings().jobs_table if service == "dynamodb" else None
            fault = faults.add(service, operation, error, when=when, calls=calls, table=table)
            response = SUBMITS[kind](api, alice)
            assert response.status == 503, response.body
            assert response.json()["code"] == "submit_failed" and "try again" in response.json()["error"]
            assert fault.fired == 1
            assert_nothing_left(faults, stack)
        faults.clear()
    # And with the service back, the same request goes through.
    assert SUBMITS[kind](api, alice).status == ACCEPTED[kind]


@pytest.mark.parametrize("kind", ["combo", "uploads"])
def test_a_failing_idempotency_lookup_answers_503_and_stores_nothing(api, alice, stack, faults, kind):
    faults.add("dynamodb", "GetItem", service_error("InternalServerError", 500), table=get_settings().jobs_table)
    response = SUBMITS[kind](api, alice, headers={"Idempotency-Key": "order-1"})
    assert response.status == 503 and response.json()["code"] == "submit_failed", response.body
    assert_nothing_left(faults, stack)


def test_a_storage_failure_while_checking_the_token_answers_503_not_500(api, alice, stack, faults):
    """The user lookup behind every authenticated route failing is worth retrying: 503 with Retry-After."""
    faults.add("dynamodb", "GetItem", service_error("ProvisionedThroughputExceededException", 400),
               table=get_settings().users_table)
    for response in (api.call("GET", "/api/v1/jobs", token=alice), submit_combo(api, alice)):
        assert response.status == 503 and response.json()["code"] == "service_unavailable", response.body
        assert response.headers["retry-after"] == "1"
    assert_nothing_left(faults, stack)


def test_a_retry_with_the_same_idempotency_key_after_a_failed_submit_makes_a_job_that_runs(api, alice, stack, faults):
    faults.add("sqs", "SendMessage", no_connection)
    assert submit_combo(api, alice, headers={"Idempotency-Key": "photo-9"}).status == 503
    faults.clear()
    retry = submit_combo(api, alice, headers={"Idempotency-Key": "photo-9"})
    assert retry.status == 202, retry.body
    deliver(get_settings().image_queue_url)
    assert lifecycle.get_job(retry.json()["task_id"])["status"] == "completed"


def _lifecycle_expiry_days(key: str) -> int | None:
    """Days after which the template's bucket lifecycle removes `key` (None: never)."""
    bucket = load_template()["Resources"]["ImagesBucket"]["Properties"]
    for rule in bucket["LifecycleConfiguration"]["Rules"]:
        if rule["Status"] == "Enabled" and "ExpirationInDays" in rule and key.startswith(rule.get("Prefix", "")):
            return rule["ExpirationInDays"]
    return None


def test_when_the_undo_fails_too_the_job_is_failed_and_the_inputs_expire(api, alice, stack, faults):
    """SQS refuses the message, then DynamoDB refuses to delete the row and S3 to delete the inputs: every undo step
    is still tried, the row is closed as failed (never a pending job nobody will run), and the inputs are under a
    prefix the bucket's lifecycle expires."""
    faults.add("sqs", "SendMessage", no_connection)
    faults.add("dynamodb", "DeleteItem", service_error("InternalServerError", 500), table=get_settings().jobs_table)
    faults.add("s3", "DeleteObject", service_error("InternalError", 500))
    response = submit_edit_with_uploads(api, alice)
    assert response.status == 503 and response.json()["code"] == "submit_failed"
    (row,) = job_rows()
    task_id = row["task_id"]
    (deleted,) = faults.made("dynamodb", "DeleteItem")
    assert task_id in repr(deleted["Key"])
    inputs = objects()
    assert len(inputs) == 2 and sorted(p["Key"] for p in faults.made("s3", "DeleteObject")) == inputs
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "submit_failed"
    for key in inputs:
        assert _lifecycle_expiry_days(key) is not None, key
    faults.clear()
    assert queue_depth(get_settings().image_queue_url) == 0 and usage_charged() == 0


def test_when_dynamodb_refuses_every_undo_the_sweeper_closes_the_orphan_row(api, alice, stack, faults):
    faults.add("sqs", "SendMessage", no_connection)
    for operation in ("DeleteItem", "UpdateItem"):
        faults.add("dynamodb", operation, no_connection, table=get_settings().jobs_table)
    assert submit_url_edit(api, alice).status == 503
    (row,) = job_rows()
    assert row["status"] == "pending" and queue_depth(get_settings().image_queue_url) == 0
    faults.clear()
    assert sweep_stuck_jobs().failed == []  # too early to tell from a job waiting on a busy queue
    later = time.time() + get_settings().stuck_job_seconds + 60
    assert sweep_stuck_jobs(now=later).failed == [row["task_id"]]
    assert lifecycle.get_job(row["task_id"])["status"] == "failed"


def test_an_upload_whose_ingest_fails_after_taking_it_in_is_queued_by_the_retried_event(api, alice, stack, faults):
    """The S3 event's function fails between the job turning pending and its message (SQS down): S3 invokes it again
    with the same event, and that one queues the job, once."""
    from tests.functional.test_ingest import ingest_handler, put, s3_event

    answer = request_upload(api, alice).json()
    key = answer["upload"]["fields"]["key"]
    put(key, JPEG)
    event = s3_event(key, "0055AED6DCD90281E5")
    faults.add("sqs", "SendMessage", no_connection, calls={1})
    with pytest.raises(EndpointConnectionError):
        ingest_handler()(event, LambdaContext("ingest"))
    assert lifecycle.get_job(answer["task_id"])["status"] == "pending" and queue_depth(get_settings().image_queue_url) == 0
    assert ingest_handler()(event, LambdaContext("ingest"))["tasks"] == [answer["task_id"]]
    assert queue_depth(get_settings().image_queue_url) == 1
    deliver(get_settings().image_queue_url)
    assert lifecycle.get_job(answer["task_id"])["status"] == "completed"


def test_an_inbox_image_whose_ingest_fails_before_queueing_is_queued_by_the_retried_event(stack, faults):
    """The batch folder's job is written, then SQS fails: the retried event finds the job and queues it, once."""
    from tests.functional.test_ingest import ingest_handler, put, s3_event

    put("inbox/remove_bg/shoe.jpg", JPEG)
    event = s3_event("inbox/remove_bg/shoe.jpg", "0055AED6DCD90281E6")
    faults.add("sqs", "SendMessage", no_connection, calls={1})
    with pytest.raises(EndpointConnectionError):
        ingest_handler()(event, LambdaContext("ingest"))
    (row,) = job_rows()
    assert row["status"] == "pending" and queue_depth(get_settings().image_queue_url) == 0
    assert ingest_handler()(event, LambdaContext("ingest"))["tasks"] == [row["task_id"]]
    assert queue_depth(get_settings().image_queue_url) == 1
    deliver(get_settings().image_queue_url)
    assert lifecycle.get_job(row["task_id"])["status"] == "completed"


def result_put(params: dict) -> bool:
    return str(params.get("Key", "")).startswith("results/")


def _claim(params: dict) -> bool:
    return ":processing" in params.get("UpdateExpression", "") and "started_at" in params.get("UpdateExpression", "")


def _completion(params: dict) -> bool:
    return ":completed" in params.get("UpdateExpression", "")


# A step of the image worker's run that fails once: (service, operation, when, which calls).
WORKER_STEPS = {
    "claiming the job": ("dynamodb", "UpdateItem", "before", _claim),
    "reading the input": ("s3", "GetObject", "before", None),
    "storing the result": ("s3", "PutObject", "after", result_put),
    "completing the job": ("dynamodb", "UpdateItem", "after", _completion),
}


def test_a_storage_failure_at_any_step_of_a_workers_run_is_retried_and_the_job_completes(
        api, alice, stack, faults, subtests):
    queue = get_settings().image_queue_url
    for step, (service, operation, when, match) in WORKER_STEPS.items():
        with subtests.test(step):
            task_id = submit_combo(api, alice).json()["task_id"]
            error = answer_lost if when == "after" else service_error("InternalError", 500)
            fault = faults.add(service, operation, error, when=when, calls={1}, match=match)
            assert len(deliver(queue)["batchItemFailures"]) == 1
            assert fault.fired == 1
            assert deliver(queue) == {"batchItemFailures": []}  # SQS delivers it again
            job = lifecycle.get_job(task_id)
            assert job["status"] == "completed" and storage.object_exists(job["results"][0]["key"])
            assert queue_depth(queue) == 0 and dead_letters(stack, "image") == []
        faults.clear()


# -- a worker killed mid-job ---------------------------------------------------------------------------------------

def receive(queue_url: str) -> dict | None:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, AttributeNames=["All"], WaitTimeSeconds=0,
                                                   MaxNumberOfMessages=1).get("Messages", [])
    return messages[0] if messages else None


def invoke(function: str, queue_url: str, message: dict) -> dict:
    """The event source's invocation of one record (the message is neither deleted nor released here)."""
    return worker_handler(function)(sqs_event([message], queue_arn(queue_url)), LambdaContext(function, 300, 3008))


def visibility_timeout_passes(queue_url: str, message: dict) -> None:
    boto3.client("sqs").change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"],
                                                  VisibilityTimeout=0)


def killed_delivery(function: str, queue_url: str) -> dict:
    """One delivery whose worker is killed: the job stays claimed, the message comes back after its timeout."""
    message = receive(queue_url)
    assert message is not None
    with pytest.raises(WorkerKilled):
        invoke(function, queue_url, message)
    visibility_timeout_passes(queue_url, message)
    return message


def test_a_worker_killed_mid_job_is_retried_and_the_job_completes(api, alice, stack, faults):
    queue = get_settings().image_queue_url
    task_id = submit_combo(api, alice).json()["task_id"]
    faults.add("s3", "PutObject", killed, calls={1}, match=result_put)  # dies while storing the result
    killed_delivery("ImageWorkerFunction", queue)
    job = lifecycle.get_job(task_id)
    assert job["status"] == "processing" and job["attempt"] == 1
    assert deliver(queue) == {"batchItemFailures": []}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed" and job["attempt"] == 2
    assert storage.object_exists(job["results"][0]["key"])
    assert queue_depth(queue) == 0 and dead_letters(stack, "image") == []


def test_a_stalled_worker_that_wakes_after_its_job_was_taken_over_changes_nothing(api, alice, stack, faults):
    """A worker thread stops mid-job (blocked); its message comes back, a second worker completes the job; then the
    first wakes up and finishes its own run: the conditional writes keep the second one's outcome."""
    queue = get_settings().image_queue_url
    task_id = submit_combo(api, alice).json()["task_id"]
    stalled, wake = threading.Event(), threading.Event()

    def stall(_operation):
        stalled.set()
        wake.wait(30)

    faults.add("s3", "PutObject", stall, calls={1}, match=result_put)
    first = receive(queue)
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(invoke("ImageWorkerFunction", queue, first)))
    thread.start()
    assert stalled.wait(30)
    visibility_timeout_passes(queue, first)
    assert deliver(queue) == {"batchItemFailures": []}
    completed = lifecycle.get_job(task_id)
    assert completed["status"] == "completed" and completed["attempt"] == 2
    wake.set()
    thread.join(30)
    assert outcome == {"batchItemFailures": []}  # the stale run ends quietly...
    assert lifecycle.get_job(task_id) == completed  # ...and wrote nothing on the job
    assert queue_depth(queue) == 0 and dead_letters(stack, "image") == []


@pytest.mark.parametrize("engine", ["local", "dashscope"])
def test_a_job_whose_worker_dies_on_every_delivery_is_dead_lettered_then_failed_by_the_sweeper(
        api, alice, stack, faults, dashscope, engine):
    if engine == "local":
        task_id = submit_combo(api, alice).json()["task_id"]
        faults.add("s3", "PutObject", killed, match=result_put)
        queue, function = get_settings().image_queue_url, "ImageWorkerFunction"
    else:
        response = api.call("POST", "/fix", token=alice, json_body=SEED_BODIES["fix"])
        task_id = response.json()["task_id"]
        faults.add("s3", "PutObject", killed, match=result_put)  # dies copying DashScope's result
        queue, function = get_settings().dashscope.queue_url, "DashScopeWorkerFunction"
    for attempt in (1, 2, 3):
        killed_delivery(function, queue)
        job = lifecycle.get_job(task_id)
        assert job["status"] == "processing" and job["attempt"] == attempt
    assert receive(queue) is None  # the fourth receive moved it to the dead-letter queue
    (dead,) = dead_letters(stack, engine if engine == "dashscope" else "image")
    assert json.loads(dead["Body"])["task_id"] == task_id
    faults.clear()
    assert sweep_stuck_jobs().failed == []  # the last delivery might still be running
    after = time.time() + get_settings().last_delivery_grace_seconds + 5
    assert sweep_stuck_jobs(now=after).failed == [task_id]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "worker_lost" and "last attempt" in job["error_message"]


def test_a_dashscope_worker_killed_while_its_task_runs_is_followed_up_without_paying_twice(
        api, alice, stack, faults, dashscope):
    dashscope.running_polls = 2
    response = api.call("POST", "/fix", token=alice, json_body=SEED_BODIES["fix"])
    task_id = response.json()["task_id"]
    # The worker dies as it notes the task RUNNING on the job: DashScope has the task, we have its id.
    faults.add("dynamodb", "UpdateItem", killed, calls={1}, table=get_settings().jobs_table,
               match=lambda params: "RUNNING" in repr(params.get("ExpressionAttributeValues")))
    killed_delivery("DashScopeWorkerFunction", get_settings().dashscope.queue_url)
    assert lifecycle.get_job(task_id)["status"] == "processing"
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "completed" and job["attempt"] == 2
    assert len(dashscope.submits) == 1 and len(dashscope.tasks) == 1
    assert dashscope_slots.in_use(IMAGEEDIT_MODEL, 2) == 0


# -- poison messages -----------------------------------------------------------------------------------------------

MALFORMED = ["not json", "", '["task_id"]', '{"task": "x"}', '{"task_id": 7}', '{"task_id": ""}']


@pytest.mark.parametrize("queue", ["image", "dashscope"])
def test_a_message_that_cannot_be_read_is_tried_three_times_then_dead_lettered(stack, queue):
    """No job to fail: the message itself is kept for a person (the DLQ alarm fires), after SQS's own retries."""
    url, function = queues()[queue]
    sqs = boto3.client("sqs")
    for body in MALFORMED:
        sqs.send_message(QueueUrl=url, MessageBody=body or " ")
    responses = drain(url, worker_handler(function), rounds=100)
    assert len(responses) == 3 * len(MALFORMED)
    assert all(len(r["batchItemFailures"]) == 1 for r in responses)
    assert queue_depth(url) == 0
    assert sorted(m["Body"] for m in dead_letters(stack, queue)) == sorted(b or " " for b in MALFORMED)


@pytest.mark.parametrize("queue", ["image", "dashscope"])
def test_a_message_for_a_job_that_does_not_exist_is_dropped_at_once(stack, queue):
    """What a submit whose undo removed the job (after SQS took the message but its answer was lost) leaves: nobody
    follows it and there is nothing to fail, so it is deleted rather than sent to the DLQ to raise the alarm."""
    url, function = queues()[queue]
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"task_id": lifecycle.new_task_id()}))
    assert drain(url, worker_handler(function)) == [{"batchItemFailures": []}]
    assert queue_depth(url) == 0 and dead_letters(stack, queue) == [] and job_rows() == []


def _queued_job(operation: str, params: dict, *, input_key: str | None = None, engine: str = "local") -> str:
    task_id = lifecycle.new_task_id()
    lifecycle.create_job(task_id=task_id, owner="alice", operation=operation, engine=engine, params=params,
                    input_key=input_key)
    settings = get_settings()
    url = settings.dashscope.queue_url if engine == "dashscope" else settings.image_queue_url
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"task_id": task_id}))
    return task_id


def _corrupt_png() -> bytes:
    """A PNG whose header is sound and whose pixel data is garbage (CRC and zlib stream broken)."""
    data = bytearray(encode(portrait_array(64, 80), "PNG"))
    start = data.index(b"IDAT") + 4
    data[start + 16:start + 400] = bytes(range(256)) + bytes(128)
    return bytes(data)


def test_an_image_the_decoder_cannot_read_fails_its_job_at_once(api, alice, stack):
    """Put in place of a queued job's input (whatever the submit's checks read, the worker's decoder is the last
    word): the job fails with the reason at the first delivery, since no retry can decode it."""
    response = submit_combo(api, alice)
    task_id = response.json()["task_id"]
    storage.put_object(lifecycle.get_job(task_id)["input_key"], _corrupt_png(), "image/png")
    assert deliver(get_settings().image_queue_url) == {"batchItemFailures": []}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "corrupt_image" and "decoded" in job["error_message"]
    assert queue_depth(get_settings().image_queue_url) == 0 and dead_letters(stack, "image") == []


@pytest.mark.parametrize("kind", ["combo", "edit_with_uploads"])
def test_a_job_whose_input_object_was_deleted_fails_at_once_saying_so(api, alice, stack, kind):
    """The job carries the reason, so the message is deleted: retrying cannot bring the object back."""
    task_id = SUBMITS[kind](api, alice).json()["task_id"]
    for key in objects("uploads/"):
        storage.delete_object(key)
    queue = get_settings().image_queue_url
    assert deliver(queue) == {"batchItemFailures": []}
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "input_missing"
    assert "submit it again" in job["error_message"]
    assert queue_depth(queue) == 0 and dead_letters(stack, "image") == []


@pytest.mark.parametrize("engine", ["local", "dashscope"])
def test_a_job_of_an_operation_the_worker_does_not_know_fails_at_once(stack, engine):
    task_id = _queued_job("teleport", {}, engine=engine)
    url, function = queues()["dashscope" if engine == "dashscope" else "image"]
    assert drain(url, worker_handler(function)) == [{"batchItemFailures": []}]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "bad_operation" and "teleport" in job["error_message"]
    assert queue_depth(url) == 0


def test_a_job_that_makes_the_worker_fail_every_time_ends_failed_and_dead_lettered(stack):
    """A job the worker cannot run but cannot tell is hopeless (here a row without its parameters, as an older
    version might have written): SQS retries it, the last delivery fails the job naming the error, the DLQ keeps it."""
    storage.put_object("uploads/alice/x/input.jpg", JPEG, "image/jpeg")
    task_id = _queued_job("combo", {}, input_key="uploads/alice/x/input.jpg")
    queue = get_settings().image_queue_url
    responses = drain(queue, worker_handler(), rounds=10)
    assert [len(r["batchItemFailures"]) for r in responses] == [1, 1, 1]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "retries_exhausted"
    assert "after 3 deliveries" in job["error_message"] and "KeyError" in job["error_message"]
    (dead,) = dead_letters(stack, "image")
    assert json.loads(dead["Body"]) == {"task_id": task_id}


# -- DashScope: what the existing worker tests leave out ----------------------------------------------------------

def test_dashscope_unreachable_is_retried_with_backoff_then_fails_the_job(api, alice, dashscope, clock, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_BASE_URL", f"http://127.0.0.1:{free_port()}/api/v1")  # nothing listens there
    get_settings.cache_clear()
    task_id = api.call("POST", "/fix", token=alice, json_body=SEED_BODIES["fix"]).json()["task_id"]
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "dashscope_unavailable"
    assert "could not be reached" in job["error_message"] and "after 4 attempt(s)" in job["error_message"]
    first, second, third = clock.sleeps
    assert 0.75 <= first <= 1 and 1.5 <= second <= 2 and 3 <= third <= 4


def test_a_gateway_error_page_instead_of_json_is_retried_then_fails_with_its_status(api, alice, dashscope, clock):
    dashscope.fail_next_submit(502, raw_body=b"<html><body>502 Bad Gateway</body></html>", times=None)
    task_id = api.call("POST", "/expand", token=alice, json_body=SEED_BODIES["expand"]).json()["task_id"]
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "dashscope_unavailable" and "502" in job["error_message"]
    assert len(dashscope.submits) == 4 and len(clock.sleeps) == 3


@pytest.fixture
def short_read_timeout(monkeypatch):
    """Answers are waited for 1 s (DashScope's are instant; a slow one is a fault)."""
    monkeypatch.setattr(dashscope_client, "READ_TIMEOUT", 1.0)


def test_a_timed_out_submit_is_not_resent_and_the_job_fails_retry_safe(api, alice, dashscope, clock, short_read_timeout):
    """A submit whose answer never came may still have started a task upstream (billed): it is never sent again."""
    dashscope.delay_next(3, on="submit", times=1)
    task_id = api.call("POST", "/fix", token=alice, json_body=SEED_BODIES["fix"]).json()["task_id"]
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "dashscope_submit_uncertain"
    assert "not submitted again" in job["error_message"]
    assert len(dashscope.submits) == 1


def test_a_submit_refused_with_503_is_retried_and_the_job_completes(api, alice, dashscope, clock):
    """An answered 5xx created nothing upstream: that one is safe to send again."""
    dashscope.fail_next_submit(503, times=1)
    task_id = api.call("POST", "/fix", token=alice, json_body=SEED_BODIES["fix"]).json()["task_id"]
    run_dashscope_worker()
    assert lifecycle.get_job(task_id)["status"] == "completed"
    assert len(dashscope.submits) == 2


@pytest.mark.parametrize("upstream", ["PENDING", "RUNNING"])
def test_polling_errors_that_persist_fail_the_job_and_cancel_the_task_or_keep_its_slot(
        api, alice, stack, faults, dashscope, clock, upstream):
    """Following the task fails: a task still PENDING is cancelled (its slot freed); a RUNNING one cannot be, and
    DashScope still counts it, so its slot stays taken until the lease ends."""
    dashscope.running_polls = 100
    if upstream == "PENDING":
        dashscope.fail_next_query(500, times=None)
    else:  # DashScope's task endpoint starts failing once the worker has seen the task running
        faults.add("dynamodb", "UpdateItem", lambda _op: dashscope.fail_next_query(500, times=None), calls={1},
                   table=get_settings().jobs_table,
                   match=lambda params: "RUNNING" in repr(params.get("ExpressionAttributeValues")))
    task_id = api.call("POST", "/fix", token=alice, json_body=SEED_BODIES["fix"]).json()["task_id"]
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "dashscope_unavailable"
    assert "500" in job["error_message"] and "after 4 attempt(s)" in job["error_message"]
    (task,) = dashscope.tasks.values()
    if upstream == "PENDING":
        assert task.status == "CANCELED" and "cancelled" in job["error_message"]
        assert dashscope_slots.in_use(IMAGEEDIT_MODEL, 2) == 0
    else:
        assert task.status == "RUNNING" and dashscope_slots.in_use(IMAGEEDIT_MODEL, 2) == 1


def test_a_deadline_that_cuts_a_retry_ladder_short_counts_the_attempts_made(api, alice, dashscope, clock, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_TASK_DEADLINE_SECONDS", "2.5")
    get_settings.cache_clear()
    dashscope.fail_next_submit(503, times=None)
    task_id = api.call("POST", "/fix", token=alice, json_body=SEED_BODIES["fix"]).json()["task_id"]
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    made = len(dashscope.submits)
    assert made < 4 and job["error_code"] == "dashscope_unavailable"
    assert f"after {made} attempt(s)" in job["error_message"]


# -- Idempotency-Key on the submit routes not covered elsewhere ----------------------------------------------------
# (combo: test_combo_submit.py; remove_bg from a URL: test_image_edit_submit.py; uploads: test_uploads.py)

IDEMPOTENT_SUBMITS = {
    "change_bg": dict(json_body=SEED_BODIES["change_bg"]),
    "change_cloth": dict(json_body=SEED_BODIES["change_cloth"]),
    "expand": dict(json_body=SEED_BODIES["expand"]),
    "fix": dict(json_body=SEED_BODIES["fix"]),
    "fix-local-upload": dict(form={"engine": "local", "upscale_factor": "2"},
                             files={"base_image": ("photo.jpg", JPEG, "image/jpeg")}),
    "change_bg-dashscope-uploads": dict(files={"base_image": ("cutout.png", PNG, "image/png"),
                                               "ref_image": ("studio.jpg", JPEG, "image/jpeg")}),
    "remove_bg-upload": dict(files={"image": ("shoe.png", PNG, "image/png")}),
}


@pytest.mark.parametrize("case", list(IDEMPOTENT_SUBMITS))
def test_an_idempotency_key_makes_a_retried_submit_return_the_first_task(api, alice, bob, stack, keyed, case):
    operation = case.split("-")[0]

    def call(token, key):
        return api.call("POST", f"/{operation}", token=token, headers={"Idempotency-Key": key},
                        **IDEMPOTENT_SUBMITS[case])

    first = call(alice, "retry-me")
    stored = objects()
    again = call(alice, "retry-me")
    assert first.status == again.status == 202, (first.body, again.body)
    assert again.json()["task_id"] == first.json()["task_id"]
    assert len(job_rows()) == 1 and objects() == stored
    assert sum(queue_depth(url) for url, _ in queues().values()) == 1
    assert call(alice, "another").json()["task_id"] != first.json()["task_id"]
    assert call(bob, "retry-me").json()["task_id"] != first.json()["task_id"]  # keys are per user
    assert len(job_rows()) == 3
