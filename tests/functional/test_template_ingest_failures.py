"""An S3 event the ingest function fails on every attempt is kept, and the redrive the deploy notes describe turns it
into the job it should have made, once.

In AWS, Lambda retries a failed asynchronous invocation (MaximumRetryAttempts), then sends an invocation record to
the on-failure destination (template.yaml: IngestFunction's EventInvokeConfig -> IngestFailuresQueue); the record's
requestPayload is the S3 event itself. Here the attempts and the record are made as Lambda would; the queue is the
one provisioned from the template; the redrive follows the deploy notes' steps: receive a record, invoke the function
with its requestPayload, delete the record when the invocation succeeded."""
from __future__ import annotations

import json

import boto3
import pytest

from imgapi.core import aws

from imgapi.jobs import lifecycle
from imgapi.core.settings import get_settings
from imgapi_local.events import LambdaContext
from imgapi_local.handlers import load_handler
from imgapi_local.template import functions, load_template
from tests.support.aws_state import job_rows
from tests.support.images import portrait_jpeg
from tests.support.worker import queue_depth

TEMPLATE = load_template()


def ingest_handler():
    return load_handler(next(s for s in functions(TEMPLATE) if s.logical_id == "IngestFunction"))


def failures_queue_url(stack) -> str:
    destination = TEMPLATE["Resources"]["IngestFunction"]["Properties"]["EventInvokeConfig"]["DestinationConfig"]
    return stack.resolver.refs[destination["OnFailure"]["Destination"]["Fn::GetAtt"][0]]


def s3_event(key: str, size: int, sequencer: str = "0066B1C2D3E4F5A6B7") -> dict:
    bucket = get_settings().bucket
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-21T08:00:00.000Z",
        "eventName": "ObjectCreated:Put", "s3": {"s3SchemaVersion": "1.0", "configurationId": "InboxUpload",
        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
        "object": {"key": key, "size": size, "eTag": "0123456789abcdef", "sequencer": sequencer}},
    }]}


def invoke_as_s3_does(event: dict) -> dict | None:
    """One asynchronous invocation plus MaximumRetryAttempts retries; the invocation record Lambda sends to the
    on-failure destination when all of them failed (AWS Lambda developer guide, "Example invocation record")."""
    config = TEMPLATE["Resources"]["IngestFunction"]["Properties"]["EventInvokeConfig"]
    attempts = 1 + config["MaximumRetryAttempts"]
    error = None
    for _ in range(attempts):
        try:
            ingest_handler()(event, LambdaContext("IngestFunction"))
            return None
        except Exception as exc:  # noqa: BLE001 - any error is a failed invocation to Lambda
            error = exc
    return {
        "version": "1.0", "timestamp": "2026-11-21T08:00:05.000Z",
        "requestContext": {"requestId": "e4b46cbf-b738-4d1c-8880-a18cdf61200e",
                           "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:IngestFunction:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": attempts},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
    }


def redrive(queue_url: str, visibility_timeout: int = 120) -> list[dict]:
    """The deploy notes' procedure: each record's requestPayload goes back to the function, synchronously; a record
    is deleted only when that invocation succeeded (else it stays, visible again after its visibility timeout)."""
    sqs = boto3.client("sqs")
    answers = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1,
                                   VisibilityTimeout=visibility_timeout).get("Messages")
        if not messages:
            return answers
        payload = json.loads(messages[0]["Body"])["requestPayload"]
        try:
            answers.append(ingest_handler()(payload, LambdaContext("IngestFunction")))
        except Exception:  # noqa: BLE001 - still failing: leave the record
            return answers
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])


@pytest.fixture
def s3_down():
    """S3 refuses every GetObject (an outage lasting longer than Lambda's retries), until the test ends it."""
    client = aws.client("s3")

    def refuse(**kwargs):
        raise client.exceptions.ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}},
                                            "GetObject")

    client.meta.events.register("before-call.s3.GetObject", refuse)
    yield lambda: client.meta.events.unregister("before-call.s3.GetObject", refuse)
    client.meta.events.unregister("before-call.s3.GetObject", refuse)


def test_an_event_that_fails_every_attempt_is_kept_and_its_redrive_makes_the_job_once(stack, s3_down):
    key, data = "inbox/remove_bg/lost/photo.jpg", portrait_jpeg(60, 80)
    boto3.client("s3").put_object(Bucket=get_settings().bucket, Key=key, Body=data, ContentType="image/jpeg")
    event = s3_event(key, len(data))
    record = invoke_as_s3_does(event)
    assert record is not None and record["requestContext"]["approximateInvokeCount"] == 3
    assert job_rows() == []  # nothing came of it, and without the destination nothing would remember it
    queue_url = failures_queue_url(stack)
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

    assert redrive(queue_url, visibility_timeout=0) == []  # S3 still failing: the record stays
    assert queue_depth(queue_url) == 1

    s3_down()  # S3 is back
    (answer,) = redrive(queue_url)
    (task_id,) = answer["tasks"]
    job = lifecycle.get_job(task_id)
    assert job["status"] == "pending" and job["params"]["source_key"] == key
    assert queue_depth(queue_url) == 0
    assert queue_depth(get_settings().image_queue_url) == 1

    # The same record redriven again (a copy kept, a redrive run twice) makes no second job.
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))
    assert redrive(queue_url) == [{"tasks": [task_id]}]
    assert [row["task_id"] for row in job_rows()] == [task_id]
