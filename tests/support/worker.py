"""Driving the image worker as its SQS event source would: receive, invoke, delete what succeeded."""
from __future__ import annotations

import threading

import boto3

from imgapi_local.events import LambdaContext, sqs_event
from imgapi_local.handlers import load_handler
from imgapi_local.template import functions
from tests.support.parsed_template import template


def worker_handler(logical_id: str = "ImageWorkerFunction"):
    spec = next(s for s in functions(template()) if s.logical_id == logical_id)
    return load_handler(spec)


_creating = threading.Lock()


def _sqs():
    """An SQS client. boto3's default session is not safe to make clients from in several threads at once, and
    some tests deliver from several threads."""
    with _creating:
        return boto3.client("sqs")


def queue_arn(queue_url: str) -> str:
    return _sqs().get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def deliver(queue_url: str, handler=None, max_messages: int = 1) -> dict | None:
    """Receive up to max_messages, invoke the worker, and delete the records it did not report as failed.

    Failed records are made visible again at once, as if their visibility timeout had passed.
    Returns the handler's response, or None when the queue was empty.
    """
    sqs = _sqs()
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=max_messages,
                                   AttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
    if not messages:
        return None
    response = (handler or worker_handler())(sqs_event(messages, queue_arn(queue_url)), LambdaContext("worker", 300, 3008))
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    for message in messages:
        if message["MessageId"] in failed:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        else:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return response


def queue_depth(queue_url: str) -> int:
    attrs = _sqs().get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attrs["Attributes"].values())


def drain(queue_url: str, handler=None, rounds: int = 20) -> list[dict]:
    """Deliver until the queue is empty (jobs put back to wait come round again); the handler's responses."""
    responses = []
    for _ in range(rounds):
        response = deliver(queue_url, handler)
        if response is None:
            break
        responses.append(response)
    return responses
