"""What is in the in-memory AWS: for tests that check what a request stored (or that it stored nothing)."""
from __future__ import annotations

import boto3

from imgapi.core.settings import get_settings


def objects(prefix: str = "") -> list[str]:
    """The bucket's keys under `prefix`, sorted."""
    listing = boto3.client("s3").list_objects_v2(Bucket=get_settings().bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def job_rows() -> list[dict]:
    """Every row of the jobs table, as stored."""
    return boto3.resource("dynamodb").Table(get_settings().jobs_table).scan()["Items"]
