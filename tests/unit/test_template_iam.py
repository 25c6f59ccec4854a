"""Least privilege, written down: what each function may do, as one table, checked against template.yaml.

IAM is the table below: function, then the actions its code calls, then the resources (and key prefixes) it calls
them on. Widening a grant in template.yaml fails these tests until the table says so too, in the same change.
tests/unit/test_template_iam_calls.py checks the other side: every AWS call a function makes while the functional
tests run is within its row.

The template is checked as CloudFormation will see it: SAM's transform is run (samtranslator, as `sam validate` does),
so what SAM adds to a role (the on-failure destination's sqs:SendMessage, managed policies) is counted, and a SAM
policy template (S3CrudPolicy & co., which grant more than any function uses) shows up as the grants it expands to.

Resource notation:
  JobsTable                    the table (!GetAtt JobsTable.Arn)
  JobsTable/index/open-jobs    one of its indexes
  UsersTable[username,token_generation] GetItem of those attributes only (dynamodb:Attributes, dynamodb:Select SPECIFIC_ATTRIBUTES)
  bucket, bucket/results/*     the images bucket (built from its name: a reference to it would be a circular
                               dependency through its S3 event sources), and a key prefix in it
  ImageJobsQueue, JwtSecret    a queue, a secret (its complete ARN)
  X if Condition               granted only when the template's condition holds
  K via secretsmanager for S   kms:Decrypt with key K only through Secrets Manager, for secret S
"""
from __future__ import annotations

import copy
import json
import os
import re
from functools import lru_cache

import pytest

from imgapi_local.template import load_template

# -- the table ------------------------------------------------------------------------------------------------

# Every API route but login and the playground authenticates: the token's key, and whether its user still exists;
# or an X-Api-Key: its hash's owner, and when it was last used.
_TOKEN = {
    "dynamodb:GetItem": ["UsersTable[username,token_generation]", "ApiKeysTable"],
    "dynamodb:UpdateItem": ["ApiKeysTable"],
    "secretsmanager:GetSecretValue": ["JwtSecret"],
}
# A submit (combo, the first API's edits): the usage counters, the job row (replay, write, undo, wait), the inputs.
_SUBMIT = {
    "dynamodb:GetItem": ["JobsTable", "UsersTable[username,token_generation]", "ApiKeysTable"],
    "dynamodb:PutItem": ["JobsTable"],
    "dynamodb:UpdateItem": ["JobsTable", "UsageTable", "ApiKeysTable"],
    "dynamodb:DeleteItem": ["JobsTable"],
    "s3:PutObject": ["bucket/uploads/*"],
    "s3:DeleteObject": ["bucket/uploads/*"],
    "secretsmanager:GetSecretValue": ["JwtSecret"],
    "sqs:SendMessage": ["WebhookQueue"],  # an undone submit's job, failed: its webhook event
}
# Whatever ends a job (complete, fail, cancel) queues its webhook event when it names a webhook_url.
_ENDS_JOBS = {"sqs:SendMessage": ["WebhookQueue"]}


def _row(*parts: dict, **extra: list[str]) -> dict[str, list[str]]:
    row: dict[str, set[str]] = {}
    for part in (*parts, {k.replace("__", ":"): v for k, v in extra.items()}):
        for action, resources in part.items():
            row.setdefault(action, set()).update(resources)
    return {action: sorted(resources) for action, resources in sorted(row.items())}


IAM: dict[str, dict[str, list[str]]] = {
    "LoginFunction": _row({
        "dynamodb:GetItem": ["UsersTable", "LoginAttemptsTable", "ApiKeysTable"],  # the password hash; the failure counter
        "dynamodb:PutItem": ["LoginAttemptsTable"],
        "dynamodb:UpdateItem": ["LoginAttemptsTable", "ApiKeysTable",  # an attempt counted before the password check
                                # logging out everywhere, a new password: the token generation and the hash only
                                "UsersTable[username,password_hash,token_generation]"],
        "dynamodb:DeleteItem": ["LoginAttemptsTable"],
        "secretsmanager:GetSecretValue": ["JwtSecret"],
    }),
    "PlaygroundFunction": {},
    "ComboSubmitFunction": _row(_SUBMIT, {
        "dynamodb:GetItem": ["ConfigsTable"],
        "sqs:SendMessage": ["ImageJobsQueue"],
    }),
    "RemoveBgFunction": _row(_SUBMIT, {
        "dynamodb:GetItem": ["ConfigsTable"],
        "s3:GetObject": ["bucket/results/*"],  # presigned result URLs when `wait` saw the job finish
        "sqs:SendMessage": ["ImageJobsQueue"],
    }),
    "ChangeBgFunction": _row(_SUBMIT, {
        "s3:GetObject": ["bucket/results/*"],
        "sqs:SendMessage": ["DashScopeJobsQueue", "ImageJobsQueue"],
    }),
    "ChangeClothFunction": _row(_SUBMIT, {
        "s3:GetObject": ["bucket/results/*"],
        "sqs:SendMessage": ["DashScopeJobsQueue"],
    }),
    "ExpandFunction": _row(_SUBMIT, {
        "s3:GetObject": ["bucket/results/*"],
        "sqs:SendMessage": ["DashScopeJobsQueue", "ImageJobsQueue"],
    }),
    "FixFunction": _row(_SUBMIT, {
        "s3:GetObject": ["bucket/results/*"],
        "sqs:SendMessage": ["DashScopeJobsQueue", "ImageJobsQueue"],
    }),
    "UploadsFunction": _row(_ENDS_JOBS, _TOKEN, {
        "dynamodb:GetItem": ["JobsTable", "ConfigsTable",
                             "WebhookSecretsTable[username,default_url]"],  # the owner's default webhook URL
        "dynamodb:PutItem": ["JobsTable"],
        "dynamodb:UpdateItem": ["JobsTable", "UsageTable"],
        "dynamodb:DeleteItem": ["JobsTable"],
        "s3:PutObject": ["bucket/incoming/*"],  # the presigned POST
        "s3:GetObject": ["bucket/incoming/*"],  # HeadObject: did an expired upload arrive after all?
        "s3:ListBucket": ["bucket"],  # ... 404 rather than 403 when it did not
    }),
    "JobsFunction": _row(_ENDS_JOBS, _TOKEN, {
        "dynamodb:GetItem": ["JobsTable"],
        "dynamodb:UpdateItem": ["JobsTable"],  # an abandoned upload's job is failed when read
        "dynamodb:Query": ["JobsTable/index/owner-created_at"],
        "s3:GetObject": ["bucket/results/*", "bucket/incoming/*"],
        "s3:ListBucket": ["bucket"],
    }),
    "ConfigsFunction": _row(_TOKEN, {
        "dynamodb:GetItem": ["ConfigsTable"],
        "dynamodb:PutItem": ["ConfigsTable"],
        "dynamodb:DeleteItem": ["ConfigsTable"],
        "dynamodb:Query": ["ConfigsTable/index/owner-index"],
    }),
    "ApiKeysFunction": _row(_TOKEN, {
        "dynamodb:PutItem": ["ApiKeysTable"],
        "dynamodb:DeleteItem": ["ApiKeysTable"],
        "dynamodb:Query": ["ApiKeysTable/index/owner-index"],
    }),
    "IngestFunction": _row(_ENDS_JOBS, {
        "s3:GetObject": ["bucket/inbox/*", "bucket/incoming/*"],
        "s3:ListBucket": ["bucket"],  # a missing sidecar or a taken-in upload is 404, not 403
        "s3:PutObject": ["bucket/uploads/*"],
        "s3:DeleteObject": ["bucket/incoming/*"],
        "dynamodb:GetItem": ["JobsTable", "IdempotencyTable", "ConfigsTable",
                             "WebhookSecretsTable[username,default_url]"],  # the batch owner's default webhook URL
        "dynamodb:PutItem": ["JobsTable", "IdempotencyTable"],
        "dynamodb:UpdateItem": ["JobsTable", "IdempotencyTable"],
        "dynamodb:DeleteItem": ["IdempotencyTable"],
        # IngestFailuresQueue: Lambda's on-failure destination (SAM adds the grant for EventInvokeConfig).
        "sqs:SendMessage": ["ImageJobsQueue", "IngestFailuresQueue"],
    }),
    "SweeperFunction": _row(_ENDS_JOBS, {
        "dynamodb:Query": ["JobsTable/index/open-jobs"],
        "dynamodb:GetItem": ["JobsTable"],
        "dynamodb:UpdateItem": ["JobsTable"],
        "s3:GetObject": ["bucket/incoming/*"],
        "s3:ListBucket": ["bucket"],
    }),
    "ImageWorkerFunction": _row(_ENDS_JOBS, {
        "dynamodb:UpdateItem": ["JobsTable"],
        "s3:GetObject": ["bucket/uploads/*", "bucket/inbox/*"],
        "s3:ListBucket": ["bucket"],  # a deleted input fails its job at once (404), not after every retry (403)
        "s3:PutObject": ["bucket/results/*"],
    }),
    # remove.bg's API, synchronous: the caller, the usage counters (charged, refunded, read for its headers).
    "RemoveBgCompatFunction": _row(_TOKEN, {
        "dynamodb:GetItem": ["UsageTable"],
        "dynamodb:UpdateItem": ["UsageTable"],
    }),
    "DashScopeWorkerFunction": _row(_ENDS_JOBS, {
        "dynamodb:GetItem": ["JobsTable"],
        "dynamodb:UpdateItem": ["JobsTable", "DashScopeSlotsTable"],
        "dynamodb:BatchGetItem": ["DashScopeSlotsTable"],
        "dynamodb:DeleteItem": ["DashScopeSlotsTable"],
        "s3:GetObject": ["bucket/uploads/*"],  # inputs handed to DashScope as presigned URLs
        "s3:PutObject": ["bucket/results/*"],
        "sqs:SendMessage": ["DashScopeJobsQueue"],
        "secretsmanager:GetSecretValue": ["DashScopeApiKeySecretArn if HasDashScopeKeySecret"],
        "kms:Decrypt": ["DashScopeApiKeySecretKmsKeyArn via secretsmanager for DashScopeApiKeySecretArn"
                        " if HasDashScopeKeySecretKmsKey"],
    }),
    # Webhooks: the caller's secret (made on first use, rotated) and default URL.
    "WebhooksFunction": _row(_TOKEN, {
        "dynamodb:GetItem": ["WebhookSecretsTable"],
        "dynamodb:UpdateItem": ["WebhookSecretsTable"],
    }),
    # The delivery: the job (its view, its delivery state), the owner's secrets, presigned results in the view, the
    # retry sent again and the spent event dead-lettered.
    "WebhookDeliveryFunction": _row({
        "dynamodb:GetItem": ["JobsTable", "WebhookSecretsTable"],
        "dynamodb:UpdateItem": ["JobsTable", "WebhookSecretsTable"],
        "s3:GetObject": ["bucket/results/*"],
        "sqs:SendMessage": ["WebhookDeadLetterQueue", "WebhookQueue"],
    }),
}

# AWS managed policies SAM attaches: logs and X-Ray for every function; the SQS event source's poller for the two
# queue workers (AWS's policy, on any queue: SAM's SQS events come with it).
_BASE_MANAGED = ["AWSXrayWriteOnlyAccess", "service-role/AWSLambdaBasicExecutionRole"]
MANAGED_POLICIES: dict[str, list[str]] = {
    name: sorted(_BASE_MANAGED + (["service-role/AWSLambdaSQSQueueExecutionRole"]
                                  if name in ("ImageWorkerFunction", "DashScopeWorkerFunction",
                                              "WebhookDeliveryFunction") else []))
    for name in IAM
}

# -- reading the template's grants ------------------------------------------------------------------------------

BUCKET_ARN = "arn:${AWS::Partition}:s3:::imgapi-${Stage}-${AWS::AccountId}-${AWS::Region}"
_ONLY_ATTRIBUTES = re.compile(r"^(.*)\[([^\]]*)\]$")


@lru_cache(maxsize=1)
def transformed_template() -> dict:
    """template.yaml after SAM's transform (code locations stubbed: they do not change any role)."""
    from samtranslator.parser import parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(load_template())
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/imgapi:latest"
            else:
                props["CodeUri"] = "s3://bucket/key"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://bucket/key"
    region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"  # SAM resolves AWS::Region (and the partition) from it
    try:
        return Translator(managed_policy_map=None, sam_parser=parser.Parser()).translate(
            sam_template=template, parameter_values={})
    finally:
        if region is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = region


def resource_symbol(value) -> str:
    """A Resource of a statement in the table's notation (anything else: its JSON, which no row names)."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Fn::GetAtt" and isinstance(arg, list) and arg[1:] == ["Arn"]:
            return arg[0]
        if key == "Ref" and isinstance(arg, str):
            return arg
        if key == "Fn::Sub" and isinstance(arg, str):
            if arg == BUCKET_ARN:
                return "bucket"
            if arg.startswith(BUCKET_ARN + "/"):
                return "bucket" + arg[len(BUCKET_ARN):]
            found = re.fullmatch(r"\$\{(\w+)\.Arn\}(/index/[\w.-]+)", arg)
            if found:
                return found.group(1) + found.group(2)
    return json.dumps(value, sort_keys=True)


def _with_condition(symbol: str, condition: dict | None) -> str:
    if not condition:
        return symbol
    attributes = condition.get("ForAllValues:StringEquals", {}).get("dynamodb:Attributes")
    if condition == {"ForAllValues:StringEquals": {"dynamodb:Attributes": attributes},
                     "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}} and attributes:
        return f"{symbol}[{','.join(attributes)}]"
    equals = condition.get("StringEquals", {})
    secret = equals.get("kms:EncryptionContext:SecretARN")
    if condition == {"StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"},
                                      "kms:EncryptionContext:SecretARN": secret}} and secret:
        return f"{symbol} via secretsmanager for {resource_symbol(secret)}"
    return f"{symbol} when {json.dumps(condition, sort_keys=True)}"


def _policies(items: list) -> list[tuple[dict, str]]:
    """(policy document, " if Condition" or "") for each inline policy of a role; NoValue branches dropped."""
    found = []
    for item in items or []:
        suffix = ""
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            condition, when_true, when_false = item["Fn::If"]
            assert when_false == {"Ref": "AWS::NoValue"}, f"a policy replaced, not removed, by a condition: {item}"
            item, suffix = when_true, f" if {condition}"
        found.append((item["PolicyDocument"], suffix))
    return found


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def role_grants(function: str) -> dict[str, list[str]]:
    """What the function's role allows, in the table's notation."""
    role = transformed_template()["Resources"][f"{function}Role"]["Properties"]
    grants: dict[str, set[str]] = {}
    for document, suffix in _policies(role.get("Policies")):
        for statement in _listed(document["Statement"]):
            assert statement["Effect"] == "Allow", f"{function}: {statement}"
            assert not {"NotAction", "NotResource"} & set(statement), f"{function}: {statement}"
            for action in _listed(statement["Action"]):
                for resource in _listed(statement["Resource"]):
                    symbol = _with_condition(resource_symbol(resource), statement.get("Condition")) + suffix
                    grants.setdefault(action, set()).add(symbol)
    return {action: sorted(symbols) for action, symbols in sorted(grants.items())}


def managed_policies(function: str) -> list[str]:
    role = transformed_template()["Resources"][f"{function}Role"]["Properties"]
    return sorted(arn.split(":policy/", 1)[1] for arn in role.get("ManagedPolicyArns", []))


FUNCTIONS = sorted(name for name, r in load_template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function")

# -- the tests --------------------------------------------------------------------------------------------------


def test_the_table_has_a_row_for_every_function_and_no_other():
    assert sorted(IAM) == FUNCTIONS


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_is_granted_exactly_its_row_of_the_table(function):
    """Widening a grant (another action, resource or prefix; a SAM policy template; a dropped condition) fails here."""
    assert role_grants(function) == IAM.get(function)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_has_only_the_managed_policies_sam_attaches_for_logs_tracing_and_its_queue(function):
    assert managed_policies(function) == MANAGED_POLICIES.get(function)


def test_policies_are_written_as_explicit_statements_without_wildcards():
    """No SAM policy template (S3CrudPolicy grants s3:PutLifecycleConfiguration, DynamoDBReadPolicy Scan ...), no
    managed policy, no action or resource wildcard other than a key prefix."""
    for name, resource in load_template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies") or []:
            if set(policy) == {"Fn::If"}:
                policy = policy["Fn::If"][1]
            assert set(policy) == {"Statement"}, f"{name}: {policy}"
    for function in FUNCTIONS:
        for action, resources in role_grants(function).items():
            assert "*" not in action, f"{function}: {action}"
            for resource in resources:
                assert resource.split("/*")[0].count("*") == 0 and "{" not in resource, f"{function}: {resource}"
    transformed = transformed_template()["Resources"]
    assert not [k for k, r in transformed.items() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")]


def test_no_function_may_scan_or_read_password_hashes_but_login():
    """DynamoDBReadPolicy let nine functions Scan the users table, hashes and all."""
    for function in FUNCTIONS:
        users = {action: [s for s in symbols if re.match(r"UsersTable\b", s)]
                 for action, symbols in role_grants(function).items()}
        users = {action: symbols for action, symbols in users.items() if symbols}
        if function == "LoginFunction":
            assert users == {"dynamodb:GetItem": ["UsersTable"],
                             "dynamodb:UpdateItem": ["UsersTable[username,password_hash,token_generation]"]}
        else:
            assert users in ({}, {"dynamodb:GetItem": ["UsersTable[username,token_generation]"]}), function


def test_nothing_may_change_bucket_settings_acls_or_lifecycle():
    forbidden = {"s3:PutLifecycleConfiguration", "s3:PutObjectAcl", "s3:PutBucketPolicy", "s3:PutBucketAcl",
                 "s3:DeleteBucket", "s3:PutBucketNotification"}
    for function in FUNCTIONS:
        assert not forbidden & set(role_grants(function)), function


def test_the_workers_may_not_delete_objects():
    for function in ("ImageWorkerFunction", "DashScopeWorkerFunction"):
        assert "s3:DeleteObject" not in role_grants(function)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_table_names_only_resources_the_template_declares_or_takes_as_parameters(function):
    template = load_template()
    known = set(template["Resources"]) | set(template["Parameters"]) | {"bucket"}
    for resources in IAM[function].values():
        for symbol in resources:
            name = re.split(r"[\[/ ]", symbol, maxsplit=1)[0]
            assert name in known, f"{function}: {symbol}"
