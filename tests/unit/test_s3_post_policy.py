"""The local stack's S3 POST policy check: what S3 refuses (and how it says so), and what it lets through to moto."""
from __future__ import annotations

import base64
import io
import json
import time

import boto3
import pytest
from botocore.config import Config
from urllib3.filepost import encode_multipart_formdata

from imgapi_local.s3_post_policy import S3PostPolicy

BUCKET, KEY, LIMIT = "imgapi-local-bucket", "incoming/alice/t-1/photo.jpg", 1000


def presigned(expires_in: int = 900, conditions: list | None = None, fields: dict | None = None) -> dict:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local",
                      endpoint_url="http://127.0.0.1:4566", config=Config(signature_version="s3v4"))
    return s3.generate_presigned_post(
        BUCKET, KEY, Fields={"Content-Type": "image/jpeg", **(fields or {})}, ExpiresIn=expires_in,
        Conditions=conditions if conditions is not None else [["content-length-range", 1, LIMIT],
                                                              ["starts-with", "$Content-Type", "image/"]])


class Downstream:
    """moto's place: records the body it was handed."""

    def __init__(self):
        self.bodies: list[bytes] = []

    def __call__(self, environ, start_response):
        self.bodies.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        start_response("204 No Content", [])
        return [b""]


def post(fields: dict, data: bytes = b"x" * 10, *, path: str = f"/{BUCKET}", clock=time.time, host="127.0.0.1:4566"):
    body, content_type = encode_multipart_formdata([*fields.items(), ("file", ("photo.jpg", data, "image/jpeg"))])
    downstream = Downstream()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_TYPE": content_type, "HTTP_HOST": host,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    status: list[str] = []
    answer = b"".join(S3PostPolicy(downstream, clock=clock)(environ, lambda s, headers: status.append(s)))
    return int(status[0].split()[0]), answer.decode(), downstream, body


def test_an_upload_within_the_policy_reaches_moto_unchanged():
    status, _, downstream, body = post(presigned()["fields"], b"x" * LIMIT)
    assert status == 204 and downstream.bodies == [body]


def test_a_file_over_the_content_length_range_is_entity_too_large():
    status, answer, downstream, _ = post(presigned()["fields"], b"x" * (LIMIT + 1))
    assert status == 400 and downstream.bodies == []
    assert "<Code>EntityTooLarge</Code>" in answer and f"<ProposedSize>{LIMIT + 1}</ProposedSize>" in answer
    assert f"<MaxSizeAllowed>{LIMIT}</MaxSizeAllowed>" in answer


def test_an_empty_file_is_entity_too_small():
    status, answer, _, _ = post(presigned()["fields"], b"")
    assert status == 400 and "<Code>EntityTooSmall</Code>" in answer and "<MinSizeAllowed>1</MinSizeAllowed>" in answer


def test_an_expired_policy_is_access_denied():
    status, answer, downstream, _ = post(presigned(expires_in=60)["fields"], clock=lambda: time.time() + 61)
    assert status == 403 and "<Code>AccessDenied</Code>" in answer and "Policy expired" in answer and not downstream.bodies


@pytest.mark.parametrize("change,why", [
    ({"Content-Type": "text/html"}, '["starts-with", "$Content-Type", "image/"]'),
    ({"key": "incoming/alice/t-1/../../other.jpg"}, '["eq", "$key", "incoming/alice/t-1/photo.jpg"]'),
    ({"x-amz-meta-owner": "mallory"}, "Extra input fields: x-amz-meta-owner"),
])
def test_a_field_the_policy_does_not_allow_is_access_denied(change, why):
    status, answer, downstream, _ = post({**presigned()["fields"], **change})
    assert status == 403 and "Invalid according to Policy" in answer and why in answer.replace("&quot;", '"')
    assert downstream.bodies == []


def test_the_bucket_of_the_url_must_be_the_policys():
    status, answer, _, _ = post(presigned()["fields"], path="/another-bucket")
    assert status == 403 and '"$bucket"' in answer


def test_the_bucket_may_be_in_the_host_name():
    status, _, _, _ = post(presigned()["fields"], path="/", host=f"{BUCKET}.s3.amazonaws.com")
    assert status == 204


def test_a_condition_with_a_missing_field_fails_and_x_ignore_fields_need_none():
    conditions = [["content-length-range", 1, LIMIT], ["starts-with", "$success_action_status", ""]]
    assert post(presigned(conditions=conditions)["fields"])[0] == 403
    fields = {**presigned(conditions=[["starts-with", "$Content-Type", ""]])["fields"], "x-ignore-tag": "anything"}
    assert post(fields)[0] == 204


def test_a_malformed_policy_is_refused_and_posts_without_one_pass_through():
    fields = {**presigned()["fields"], "policy": base64.b64encode(b"[1, 2]").decode()}
    status, answer, _, _ = post(fields)
    assert status == 400 and "<Code>InvalidPolicyDocument</Code>" in answer
    status, _, downstream, body = post({"key": KEY})
    assert status == 204 and downstream.bodies == [body]


def test_other_requests_pass_through_untouched():
    downstream = Downstream()
    body = json.dumps({"TableName": "x"}).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": "application/x-amz-json-1.0",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    S3PostPolicy(downstream)(environ, lambda *a: None)
    assert downstream.bodies == [body]
