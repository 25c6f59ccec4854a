"""Creating the resources template.yaml declares (tables, queues, bucket, secret) in any AWS endpoint.

The local stack and the tests run this against moto; nothing here names a table or a queue:
it all comes from the template.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import boto3

from .template import Resolver, function_environment, functions, load_template, parameter_defaults


def reset_caches() -> None:
    """Forget what the package cached from the environment (clients, settings, the token key), after
    pointing it at another AWS: the local stack and the tests' in-memory AWS both do."""
    from aws_lambda_powertools.utilities.parameters import clear_caches

    from imgapi.core import aws
    from imgapi.core.settings import get_settings

    aws.reset()
    get_settings.cache_clear()
    clear_caches()


@dataclass
class Stack:
    template: dict
    resolver: Resolver

    def environment(self) -> dict[str, str]:
        """The union of every function's environment (they agree on everything shared)."""
        env: dict[str, str] = {}
        for spec in functions(self.template):
            env.update(function_environment(self.template, spec, self.resolver))
        env.pop("POWERTOOLS_SERVICE_NAME", None)
        env.pop("U2NET_HOME", None)  # the image's path; locally rembg's own default or the user's setting applies
        return env

    def parameter_variables(self) -> set[str]:
        """The environment variables the template sets straight from a stack parameter (DASHSCOPE_BASE_URL, ...)."""
        parameters = set(self.template.get("Parameters") or {})
        sources = [((self.template.get("Globals") or {}).get("Function") or {}).get("Environment", {})]
        sources += [spec.properties.get("Environment") or {} for spec in functions(self.template)]
        return {name for source in sources for name, value in (source.get("Variables") or {}).items()
                if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters}


def _table(props: dict, name: str, resolver: Resolver) -> None:
    kwargs = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection")}
            for gsi in props["GlobalSecondaryIndexes"]
        ]
    boto3.client("dynamodb").create_table(**kwargs)


def _queue(props: dict, name: str, resolver: Resolver) -> tuple[str, dict]:
    attributes = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
        if key in props:
            attributes[key] = str(props[key])
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(resolver.resolve(props["RedrivePolicy"]))
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, {"Arn": arn, "QueueName": name, "QueueUrl": url}


def provision(template: dict | None = None, parameters: dict[str, str] | None = None, prefix: str = "imgapi-local") -> Stack:
    """Create every table, queue, bucket and secret of the template, in dependency order."""
    template = template or load_template()
    resolver = Resolver({**parameter_defaults(template), **(parameters or {})})
    resolver.pseudo["AWS::Region"] = boto3.session.Session().region_name or "us-east-1"
    pending = {k: v for k, v in template["Resources"].items()
               if v["Type"] in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::SecretsManager::Secret")}
    while pending:
        progressed = False
        for logical_id, resource in list(pending.items()):
            props = resource.get("Properties") or {}
            try:
                resolver.resolve(props)
            except KeyError:
                continue  # depends on a resource not created yet
            name = f"{prefix}-{logical_id}"
            kind = resource["Type"]
            if kind == "AWS::DynamoDB::Table":
                _table(props, name, resolver)
                resolver.refs[logical_id] = name
                resolver.attributes[logical_id] = {"Arn": f"arn:aws:dynamodb:::table/{name}"}
            elif kind == "AWS::SQS::Queue":
                url, attrs = _queue(props, name, resolver)
                resolver.refs[logical_id] = url
                resolver.attributes[logical_id] = attrs
            elif kind == "AWS::S3::Bucket":
                bucket = resolver.resolve(props.get("BucketName", name.lower()))
                s3 = boto3.client("s3")
                region = resolver.pseudo["AWS::Region"]
                if region == "us-east-1":
                    s3.create_bucket(Bucket=bucket)
                else:
                    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
                resolver.refs[logical_id] = bucket
                resolver.attributes[logical_id] = {"Arn": f"arn:aws:s3:::{bucket}"}
            elif kind == "AWS::SecretsManager::Secret":
                arn = boto3.client("secretsmanager").create_secret(Name=name, SecretString=secrets.token_urlsafe(48))["ARN"]
                resolver.refs[logical_id] = arn
            del pending[logical_id]
            progressed = True
        if not progressed:
            raise RuntimeError(f"cannot resolve the dependencies of {sorted(pending)}")
    return Stack(template, resolver)
