"""template.yaml as deployed: alarms that reach someone, S3 events that are never lost, users' data that outlives the
stack, and a DashScope secret the worker can read. No local run can show these (moto neither encrypts SNS topics nor
invokes asynchronously nor deletes stacks), so the template itself is read, as CloudFormation will see it."""
from __future__ import annotations

import re

import pytest

from imgapi_local.template import load_template
from tests.unit.test_template_iam import role_grants, transformed_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]


def _allowed(parameter: str, value: str) -> bool:
    spec = PARAMETERS[parameter]
    return "AllowedPattern" not in spec or re.fullmatch(spec["AllowedPattern"], value) is not None


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


# -- 5. Alarms reach someone ------------------------------------------------------------------------------------

def test_the_alarm_topic_is_under_a_customer_managed_key_cloudwatch_alarms_may_use():
    """CloudWatch cannot publish to a topic under alias/aws/sns (its key policy does not let cloudwatch.amazonaws.com
    use it, and cannot be changed): every alarm would fail its action and nobody would hear of it."""
    key_ref = RESOURCES["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    assert isinstance(key_ref, dict), f"an alias or id string ({key_ref!r}) is no key this stack controls"
    key_id = key_ref.get("Ref") or key_ref.get("Fn::GetAtt", [None])[0]
    key = RESOURCES[key_id]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"].get("EnableKeyRotation") is True
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    cloudwatch = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(_listed(cloudwatch[0]["Action"]))
    assert cloudwatch[0]["Resource"] == "*" and "Condition" not in cloudwatch[0]
    # The account keeps administering the key (a key policy without it would leave a key nobody can manage).
    root = [s for s in statements if s.get("Principal") == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}]
    assert len(root) == 1 and root[0]["Action"] == "kms:*"


def test_every_alarm_notifies_the_encrypted_alarm_topic():
    alarms = {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
    assert not [r for r in RESOURCES.values() if r["Type"] == "AWS::SNS::Topic" and
                str(r["Properties"].get("KmsMasterKeyId", "")).startswith("alias/aws/")]


def test_an_optional_alarm_email_subscribes_to_the_topic():
    spec = PARAMETERS["AlarmEmail"]
    assert spec["Default"] == ""
    assert _allowed("AlarmEmail", "") and _allowed("AlarmEmail", "ops+imgapi@example.com")
    assert not _allowed("AlarmEmail", "ops") and not _allowed("AlarmEmail", "ops@example")
    assert TEMPLATE["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    subscription = RESOURCES["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email",
                                          "Endpoint": {"Ref": "AlarmEmail"}}
    assert TEMPLATE["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}


# -- 7. No lost S3-triggered work ------------------------------------------------------------------------------

S3_TRIGGERED = sorted(name for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"
                      and any(e["Type"] == "S3" for e in (r["Properties"].get("Events") or {}).values()))


def test_the_ingest_function_is_the_s3_triggered_one():
    assert S3_TRIGGERED == ["IngestFunction"]


@pytest.mark.parametrize("function", S3_TRIGGERED)
def test_an_s3_event_that_fails_every_attempt_goes_to_a_queue_with_an_alarm_on_its_depth(function):
    """S3 invokes asynchronously: without an on-failure destination, an event that fails its retries is dropped."""
    config = RESOURCES[function]["Properties"]["EventInvokeConfig"]
    assert 0 <= config["MaximumRetryAttempts"] <= 2
    assert 60 <= config.get("MaximumEventAgeInSeconds", 21600) <= 21600
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    queue_id, attribute = on_failure["Destination"]["Fn::GetAtt"]
    assert attribute == "Arn"
    queue = RESOURCES[queue_id]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert not queue["Properties"].get("FifoQueue"), "Lambda destinations must be standard queues"
    assert queue["Properties"]["MessageRetentionPeriod"] == 1209600  # the most SQS keeps: time to redrive
    # Encrypted without a KMS key the function's role would also need.
    assert queue["Properties"].get("SqsManagedSseEnabled") is True and "KmsMasterKeyId" not in queue["Properties"]
    # Its depth raises an alarm that reaches the topic.
    alarms = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    depth = [a for a in alarms if a["Namespace"] == "AWS/SQS" and a["MetricName"] == "ApproximateNumberOfMessagesVisible"
             and a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]]
    assert len(depth) == 1
    assert depth[0]["Threshold"] == 0 and depth[0]["ComparisonOperator"] == "GreaterThanThreshold"
    assert depth[0]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # ... and so does a record Lambda could not deliver.
    assert [a for a in alarms if a["MetricName"] == "DestinationDeliveryFailures"
            and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]]
    # As deployed: the function's unqualified invocations (S3's) use it, and the role may send to the queue.
    transformed = transformed_template()["Resources"]
    invoke = transformed[f"{function}EventInvokeConfig"]["Properties"]
    assert invoke["Qualifier"] == "$LATEST" and invoke["FunctionName"] == {"Ref": function}
    assert invoke["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}}
    assert queue_id in role_grants(function)["sqs:SendMessage"]
    assert TEMPLATE["Outputs"]["IngestFailuresQueueUrl"]["Value"] == {"Ref": queue_id}


# -- 8. Users' data survives the stack ---------------------------------------------------------------------------

RETAINED = sorted(["ImagesBucket", "ImagesBucketPolicy", "ApiKeysTable", "ConfigsTable", "JobsTable", "JwtSecret", "UsersTable",
                   "WebhookSecretsTable"])


def test_accounts_configurations_jobs_the_signing_key_and_the_bucket_outlive_the_stack():
    """Deleting the stack or replacing one of these resources must not destroy accounts or results."""
    retained = sorted(name for name, r in RESOURCES.items() if r.get("DeletionPolicy") == "Retain")
    assert retained == RETAINED
    for name in RETAINED:
        assert RESOURCES[name].get("UpdateReplacePolicy") == "Retain", name


def test_retention_survives_sams_transform_of_the_bucket_its_s3_events_use():
    """SAM rewrites ImagesBucket for IngestFunction's S3 events (NotificationConfiguration, DependsOn on the
    permissions): the deployed bucket must still be retained."""
    transformed = transformed_template()["Resources"]
    assert "NotificationConfiguration" in transformed["ImagesBucket"]["Properties"]
    for name in RETAINED:
        assert transformed[name]["DeletionPolicy"] == "Retain", name
        assert transformed[name]["UpdateReplacePolicy"] == "Retain", name


def test_retained_resources_carry_the_stack_name_to_find_them_after_sam_delete():
    for name in RETAINED:
        if name == "ImagesBucketPolicy":
            continue  # goes with the bucket
        tags = RESOURCES[name]["Properties"]["Tags"]
        assert {"Key": "imgapi:stack", "Value": {"Ref": "AWS::StackName"}} in tags, name


# -- 9. The DashScope secret is readable as deployed -------------------------------------------------------------

FULL_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imgapi/dashscope-AbC12z"


def test_the_dashscope_secret_is_taken_as_its_complete_arn():
    """An IAM resource must match the secret's ARN, which ends in '-' and six random characters: the parameter
    refuses a name or a partial ARN (whose grant would match no secret), and the grant is the ARN itself."""
    assert _allowed("DashScopeApiKeySecretArn", "") and _allowed("DashScopeApiKeySecretArn", FULL_ARN)
    assert _allowed("DashScopeApiKeySecretArn", FULL_ARN.replace(":aws:", ":aws-cn:"))
    for partial in ("imgapi/dashscope", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:imgapi/dashscope",
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dashscope-key", FULL_ARN + "-??????"):
        assert not _allowed("DashScopeApiKeySecretArn", partial), partial
    statement = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": {"Ref": "DashScopeApiKeySecretArn"}}
    policies = RESOURCES["DashScopeWorkerFunction"]["Properties"]["Policies"]
    assert {"Fn::If": ["HasDashScopeKeySecret", {"Statement": [statement]}, {"Ref": "AWS::NoValue"}]} in policies
    assert role_grants("DashScopeWorkerFunction")["secretsmanager:GetSecretValue"] == [
        "DashScopeApiKeySecretArn if HasDashScopeKeySecret"]


def test_a_dashscope_secret_under_a_customer_managed_key_can_be_decrypted_through_secrets_manager_only():
    spec = PARAMETERS["DashScopeApiKeySecretKmsKeyArn"]
    assert spec["Default"] == ""
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert _allowed("DashScopeApiKeySecretKmsKeyArn", "") and _allowed("DashScopeApiKeySecretKmsKeyArn", key)
    assert not _allowed("DashScopeApiKeySecretKmsKeyArn", "alias/dashscope")  # IAM grants Decrypt on keys, not aliases
    condition = TEMPLATE["Conditions"]["HasDashScopeKeySecretKmsKey"]
    assert {"Condition": "HasDashScopeKeySecret"} in condition["Fn::And"]
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "DashScopeApiKeySecretKmsKeyArn"}, ""]}]} in condition["Fn::And"]
    assert role_grants("DashScopeWorkerFunction")["kms:Decrypt"] == [
        "DashScopeApiKeySecretKmsKeyArn via secretsmanager for DashScopeApiKeySecretArn if HasDashScopeKeySecretKmsKey"]
    # Nobody else may decrypt anything.
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::Serverless::Function" and name != "DashScopeWorkerFunction":
            assert not [a for a in role_grants(name) if a.startswith("kms:")], name
