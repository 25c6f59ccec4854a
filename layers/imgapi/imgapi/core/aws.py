"""boto3 clients and resources, created once per container.

boto3 honours AWS_ENDPOINT_URL, which is how the local stack points every
client at its in-process AWS without any code here knowing about it.
"""
from __future__ import annotations

from functools import lru_cache

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, signature_version="s3v4")


@lru_cache(maxsize=None)
def client(service: str):
    return boto3.client(service, config=_CONFIG)


@lru_cache(maxsize=None)
def table(name: str):
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)


def reset() -> None:
    """Forget cached clients (tests start a fresh in-memory AWS for each case)."""
    client.cache_clear()
    table.cache_clear()
