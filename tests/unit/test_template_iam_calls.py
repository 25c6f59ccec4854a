"""The IAM table is tied to the code: every AWS call a function makes while the tests run is within its row.

Importing this module (pytest does when it collects the session, before any test runs) starts recording: each
function handler imgapi_local loads is wrapped so that calls made during it are attributed to its function, and
botocore's API calls and S3 presigning are recorded (what was asked, on what, and whether a read found no object).
The tour below drives every function through its handler and checks what it recorded against
tests/unit/test_template_iam.py's table. It looks only at its own calls (the record is emptied when it starts), so its
outcome does not depend on which tests ran before it, in which order or on which worker.

Calls outside a handler (fixtures, provisioning, a test's own look at the bucket), and calls the tests' own code makes
while a handler runs (a worker drained while a submit waits), are not any function's and are not recorded. Translation of a call into IAM terms follows AWS's authorization reference: HeadObject and presigned GETs
need s3:GetObject, a presigned POST s3:PutObject, each item of TransactWriteItems its own action, and a read that
finds no object answers 404 only with s3:ListBucket (else 403).
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import botocore.client
import botocore.signers
from botocore.exceptions import ClientError

import imgapi_local.handlers as handlers
from imgapi_local.template import load_template
from tests.unit.test_template_iam import IAM

_TEMPLATE = load_template()
_KINDS = {name: r["Type"] for name, r in _TEMPLATE["Resources"].items()}
_HANDLER_MODULE = re.compile(r"^imgapi_fn.*?_([A-Za-z0-9]+Function)_[A-Za-z0-9_]+_\d+$")
_MISSING = ("404", "NoSuchKey", "NotFound")
_TESTS = str(Path(__file__).resolve().parents[1]) + os.sep
_THIS = str(Path(__file__).resolve())


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    resource: str  # in the table's notation
    attributes: frozenset | None = None  # the attributes a read asked for or an update names (None: the whole item)
    operation: str = ""


CALLS: list[Call] = []
_current = threading.local()


# -- attributing calls to functions --------------------------------------------------------------------------

def _function() -> str | None:
    """The function a call is made for: the handler running in this thread, unless the code making the call is the
    tests' own (a test that runs a worker while a submit waits, a fault hook): that is no function's call."""
    function = getattr(_current, "function", None)
    if function is None:
        return None
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (f"{os.sep}botocore{os.sep}" in filename or f"{os.sep}boto3{os.sep}" in filename or filename == _THIS):
            return None if filename.startswith(_TESTS) else function
        frame = frame.f_back
    return function


def _wrap_handler(module) -> None:
    found = _HANDLER_MODULE.match(module.__name__)
    handler = getattr(module, "handler", None)
    if not found or handler is None or getattr(handler, "_records_iam_calls", False):
        return
    function = found.group(1)

    def recorded_handler(event, context):
        previous = getattr(_current, "function", None)
        _current.function = function
        try:
            return handler(event, context)
        finally:
            _current.function = previous

    recorded_handler._records_iam_calls = True
    module.handler = recorded_handler


def _install() -> None:
    if getattr(handlers, "_records_iam_calls", False):
        return
    handlers._records_iam_calls = True
    original_load = handlers._load_module

    def load_module(path, name):
        module = original_load(path, name)
        with handlers._import_lock:
            _wrap_handler(module)
        return module

    handlers._load_module = load_module
    for module in list(handlers._modules.values()):
        _wrap_handler(module)

    original_call = botocore.client.BaseClient._make_api_call

    def make_api_call(self, operation_name, api_params):
        function = _function()
        if function is None:
            return original_call(self, operation_name, api_params)
        service = self.meta.service_model.service_name
        try:
            result = original_call(self, operation_name, api_params)
        except ClientError as exc:
            missing = exc.response.get("Error", {}).get("Code") in _MISSING
            _record(function, service, operation_name, api_params, missing=missing)
            raise
        _record(function, service, operation_name, api_params)
        return result

    botocore.client.BaseClient._make_api_call = make_api_call

    # S3 clients get these at class creation (every client creates its class), so patching the module suffices.
    original_url, original_post = botocore.signers.generate_presigned_url, botocore.signers.generate_presigned_post

    def generate_presigned_url(self, ClientMethod, Params=None, *args, **kwargs):  # noqa: N803 - botocore's names
        function = _function()
        if function is not None:
            operation = self.meta.method_to_api_mapping.get(ClientMethod, ClientMethod)
            _record(function, self.meta.service_model.service_name, operation, Params or {}, presigned=True)
        return original_url(self, ClientMethod, Params, *args, **kwargs)

    def generate_presigned_post(self, Bucket, Key, *args, **kwargs):  # noqa: N803
        function = _function()
        if function is not None:
            _record(function, "s3", "PutObject", {"Bucket": Bucket, "Key": Key}, presigned=True)
        return original_post(self, Bucket, Key, *args, **kwargs)

    botocore.signers.generate_presigned_url = generate_presigned_url
    botocore.signers.generate_presigned_post = generate_presigned_post


# -- a call in IAM terms -------------------------------------------------------------------------------------

def _logical_id(name: str, kind: str) -> str:
    """The template resource a provisioned name stands for (imgapi_local names them <prefix>-<LogicalId>)."""
    for logical_id, resource_kind in _KINDS.items():
        if resource_kind == kind and (name == logical_id or name.endswith("-" + logical_id)):
            return logical_id
    return f"? {name}"


def _attributes(params: dict) -> frozenset | None:
    projection = params.get("ProjectionExpression")
    if not projection:
        return None
    names = params.get("ExpressionAttributeNames") or {}
    return frozenset(names.get(p.strip(), p.strip()).split(".")[0].split("[")[0] for p in projection.split(","))


_EXPRESSION_WORDS = frozenset({"SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "IN", "BETWEEN", "attribute_exists",
                               "attribute_not_exists", "attribute_type", "begins_with", "contains", "size",
                               "if_not_exists", "list_append"})


def _updated_attributes(params: dict) -> frozenset:
    """UpdateItem's dynamodb:Attributes: the item's key and every attribute its update and condition expressions name."""
    names = params.get("ExpressionAttributeNames") or {}
    text = " ".join(params.get(k) or "" for k in ("UpdateExpression", "ConditionExpression"))
    words = re.findall(r"(?<![:\w#])#?[A-Za-z_]\w*", text)
    return frozenset(params.get("Key", {})) | {names.get(w, w) for w in words if w not in _EXPRESSION_WORDS}


def _bucket(params: dict, suffix: str = "") -> str:
    bucket = params.get("Bucket", "")
    return ("bucket" if bucket == os.environ.get("BUCKET_NAME") else f"? bucket {bucket}") + suffix


def _secret(secret_id: str) -> str:
    for parameter, variable in (("DashScopeApiKeySecretArn", "DASHSCOPE_API_KEY_SECRET_ARN"), ("JwtSecret", "JWT_SECRET_ARN")):
        if secret_id and secret_id == os.environ.get(variable):
            return parameter
    return f"? secret {secret_id}"


def _record(function: str, service: str, operation: str, params: dict, *, missing: bool = False,
            presigned: bool = False) -> None:
    try:
        calls = list(_translate(service, operation, params, missing))
    except Exception as exc:  # never let the recorder break the code under test; the check reports it
        calls = [(f"{service}:{operation}", f"? untranslatable ({type(exc).__name__}: {exc})", None)]
    label = f"{'presigned ' if presigned else ''}{operation}"
    CALLS.extend(Call(function, action, resource, attributes, label) for action, resource, attributes in calls)


def _translate(service: str, operation: str, params: dict, missing: bool):
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                (kind, body), = item.items()
                action = "ConditionCheckItem" if kind == "ConditionCheck" else f"{kind}Item"
                yield f"dynamodb:{action}", _logical_id(body["TableName"], "AWS::DynamoDB::Table"), None
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            for table, request in params["RequestItems"].items():
                attributes = _attributes(request) if operation == "BatchGetItem" else None
                yield f"dynamodb:{operation}", _logical_id(table, "AWS::DynamoDB::Table"), attributes
        else:
            resource = _logical_id(params["TableName"], "AWS::DynamoDB::Table")
            if params.get("IndexName"):
                resource += "/index/" + params["IndexName"]
            attributes = _updated_attributes(params) if operation == "UpdateItem" else _attributes(params)
            yield f"dynamodb:{operation}", resource, attributes
    elif service == "s3":
        if operation in ("GetObject", "HeadObject"):
            yield "s3:GetObject", _bucket(params, "/" + params["Key"]), None
            if missing:
                yield "s3:ListBucket", _bucket(params), None
        elif operation in ("PutObject", "DeleteObject"):
            yield f"s3:{operation}", _bucket(params, "/" + params["Key"]), None
        elif operation in ("ListObjects", "ListObjectsV2"):
            yield "s3:ListBucket", _bucket(params), None
        else:
            yield f"s3:{operation}", _bucket(params), None
    elif service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
        yield "sqs:SendMessage", _logical_id(params["QueueUrl"].rsplit("/", 1)[-1], "AWS::SQS::Queue"), None
    elif service == "secretsmanager" and operation == "GetSecretValue":
        yield "secretsmanager:GetSecretValue", _secret(params.get("SecretId", "")), None
    else:
        yield f"{service}:{operation}", "?", None


# -- checking against the table ------------------------------------------------------------------------------

def _allows(grant: str, call: Call) -> bool:
    grant = grant.split(" if ", 1)[0].split(" via ", 1)[0]
    only = re.fullmatch(r"(.*)\[([^\]]*)\]", grant)
    if only:
        grant = only.group(1)
        if call.attributes is None or not call.attributes <= set(only.group(2).split(",")):
            return False
    return fnmatch.fnmatchcase(call.resource, grant)


def outside_the_table(calls: list[Call]) -> list[str]:
    problems = set()
    for call in calls:
        grants = IAM.get(call.function, {}).get(call.action, [])
        if not any(_allows(grant, call) for grant in grants):
            attributes = "" if call.attributes is None else f" (attributes {sorted(call.attributes)})"
            problems.add(f"{call.function}: {call.action} on {call.resource}{attributes} [{call.operation}]")
    return sorted(problems)


_install()


# -- a tour, so that the check has calls to look at when this module runs alone ------------------------------

def test_every_aws_call_of_a_tour_of_the_functions_is_within_their_rows_of_the_iam_table(stack, api, alice):
    """Login, a saved configuration, a direct upload taken in by the ingest function and run by the image worker,
    the job read back, the sweeper: each through its handler, as the functional tests do at length."""
    import boto3

    from imgapi.core.settings import get_settings
    from imgapi.core.settings import get_webhook_settings
    from imgapi_local.events import LambdaContext, scheduled_event
    from imgapi_local.handlers import load_handler
    from imgapi_local.template import functions
    from imgapi.auth.tokens import issue_token
    from tests.support.images import portrait_jpeg
    from tests.support.worker import drain

    from aws_lambda_powertools.utilities.parameters import clear_caches

    specs = {spec.logical_id: spec for spec in functions(_TEMPLATE)}
    CALLS.clear()  # only this tour's calls: other tests (which ran before it, or not) must not change the outcome
    clear_caches()  # issuing alice's token read the signing key: let the functions read it themselves
    assert api.call("POST", "/api/v1/login", json_body={"username": "alice", "password": "alice-password"}).status == 200
    assert api.call("POST", "/api/v1/login", json_body={"username": "alice", "password": "wrong-password"}).status == 401
    config = api.call("POST", "/api/v1/configs", token=alice, json_body={"name": "tour", "alpha_matting": False})
    assert config.status == 201, config.body
    assert api.call("GET", "/api/v1/configs", token=alice).status == 200
    key = api.call("POST", "/api/v1/api-keys", token=alice, json_body={"name": "tour"}).json()
    assert api.call("GET", "/api/v1/api-keys", headers={"x-api-key": key["key"]}).status == 200
    assert api.call("GET", "/api/v1/jobs", headers={"x-api-key": key["key"]}).status == 200
    assert api.call("DELETE", f"/api/v1/api-keys/{key['id']}", token=alice).status == 204
    hook = "http://no-such-host.invalid/hook"  # accepted (it may resolve later); its attempt fails and is re-queued
    upload = api.call("POST", "/api/v1/uploads", token=alice, headers={"idempotency-key": "tour-1"},
                      json_body={"operation": "remove_bg", "filename": "tour.jpg", "webhook_url": hook,
                                 "params": {"config_id": config.json()["config_id"]}})
    assert upload.status == 201, upload.body
    task_id, key = upload.json()["task_id"], upload.json()["upload"]["fields"]["key"]
    bucket = get_settings().bucket
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=portrait_jpeg(40, 50), ContentType="image/jpeg")
    event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Post", "s3": {
        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
        "object": {"key": key, "size": len(portrait_jpeg(40, 50)), "sequencer": "00TOUR"}}}]}
    ingest = load_handler(specs["IngestFunction"])
    ingest(event, LambdaContext("IngestFunction"))
    ingest(event, LambdaContext("IngestFunction"))  # S3 delivers again: the object is gone by now
    drain(get_settings().image_queue_url, load_handler(specs["ImageWorkerFunction"]))
    drain(get_webhook_settings().queue_url, load_handler(specs["WebhookDeliveryFunction"]))
    job = api.call("GET", f"/api/v1/jobs/{task_id}", token=alice)
    assert job.status == 200 and job.json()["status"] == "completed", job.body
    assert job.json()["webhook"]["state"] == "retrying", job.json()["webhook"]
    assert api.call("GET", "/api/v1/webhook-secret", token=alice).status == 200
    assert api.call("POST", "/api/v1/webhook-secret/rotate", token=alice).status == 200
    assert api.call("PUT", "/api/v1/webhook-settings", token=alice, json_body={"default_url": hook}).status == 200
    assert api.call("GET", "/api/v1/webhook-settings", token=alice).status == 200
    assert api.call("GET", "/api/v1/jobs", token=alice).status == 200
    assert api.call("POST", "/api/v1/uploads", token=alice, headers={"idempotency-key": "tour-1"},
                    json_body={"operation": "remove_bg", "filename": "tour.jpg", "webhook_url": hook,  # the replay
                               "params": {"config_id": config.json()["config_id"]}}).status == 200
    assert api.call("DELETE", f"/api/v1/configs/{config.json()['config_id']}", token=alice).status == 204
    load_handler(specs["SweeperFunction"])(scheduled_event("SweeperFunction"), LambdaContext("SweeperFunction"))
    # The account's routes (last: each revokes alice's tokens), one of them with an API key.
    assert api.call("POST", "/api/v1/auth/password", token=alice, json_body={
        "current_password": "alice-password", "new_password": "alice-password-2"}).status == 204
    api_key = api.call("POST", "/api/v1/api-keys", token=issue_token("alice")[0], json_body={"name": "tour-2"}).json()
    assert api.call("POST", "/api/v1/auth/logout-all", headers={"x-api-key": api_key["key"]}).status == 204
    functions_seen = {call.function for call in CALLS}
    assert {"LoginFunction", "ConfigsFunction", "ApiKeysFunction", "UploadsFunction", "IngestFunction", "ImageWorkerFunction",
            "JobsFunction", "SweeperFunction", "WebhooksFunction", "WebhookDeliveryFunction"} <= functions_seen
    # A function calling something its row does not grant would be refused in AWS (AccessDenied): add the grant to
    # template.yaml and to the table together, or do not make the call.
    assert outside_the_table(CALLS) == []


def test_the_recorder_translates_calls_into_iam_terms(monkeypatch):
    calls = list(_translate("dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Update": {"TableName": "imgapi-local-UsageTable"}}, {"ConditionCheck": {"TableName": "x-JobsTable"}}]}, False))
    assert calls == [("dynamodb:UpdateItem", "UsageTable", None), ("dynamodb:ConditionCheckItem", "JobsTable", None)]
    get = Call("JobsFunction", "dynamodb:GetItem", "UsersTable", frozenset({"username"}))
    assert outside_the_table([get]) == []
    assert outside_the_table([Call("JobsFunction", "dynamodb:GetItem", "UsersTable", None)]) != []  # the hash too
    assert outside_the_table([Call("JobsFunction", "dynamodb:Scan", "UsersTable")]) != []
    update = list(_translate("dynamodb", "UpdateItem", {
        "TableName": "x-UsersTable", "Key": {"username": {"S": "a"}}, "UpdateExpression": "SET password_hash = :h, #g = :g",
        "ConditionExpression": "attribute_exists(username)", "ExpressionAttributeNames": {"#g": "token_generation"}}, False))
    assert update == [("dynamodb:UpdateItem", "UsersTable", frozenset({"username", "password_hash", "token_generation"}))]
    assert outside_the_table([Call("LoginFunction", *update[0])]) == []
    assert outside_the_table([Call("LoginFunction", "dynamodb:UpdateItem", "UsersTable", frozenset({"username", "x"}))])
    bucket = "imgapi-dev-123456789012-eu-west-1"
    monkeypatch.setenv("BUCKET_NAME", bucket)
    head = list(_translate("s3", "HeadObject", {"Bucket": bucket, "Key": "incoming/a/b/c.jpg"}, True))
    assert head == [("s3:GetObject", "bucket/incoming/a/b/c.jpg", None), ("s3:ListBucket", "bucket", None)]
    assert outside_the_table([Call("SweeperFunction", action, resource) for action, resource, _ in head]) == []
    assert outside_the_table([Call("ImageWorkerFunction", "s3:DeleteObject", "bucket/uploads/x")]) != []
    assert json.dumps(outside_the_table([Call("LoginFunction", "s3:GetObject", "bucket/results/x")]))
