"""The tests' in-memory AWS: moto, atomic where AWS is (imgapi_local.moto_atomic, the patch the local stack uses too),
with boto3's default session kept between tests."""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Iterator

import botocore.session
from moto import mock_aws
from moto.core.config import default_user_config

from imgapi_local.moto_atomic import atomic_moto

# moto's other defaults, but boto3's default session is kept from one test to the next: a new one re-reads every
# service's model for each client (~0.15 s a test). Every test has the same fake credentials and region anyway.
MOTO_CONFIG = {"core": {**default_user_config["core"], "reset_boto3_session": False}}


@contextmanager
def in_memory_aws() -> Iterator[None]:
    """moto's mock of every service, whose DynamoDB and SQS are atomic as AWS's are, for as long as the block runs."""
    with mock_aws(config=MOTO_CONFIG), atomic_moto():
        yield


def share_botocore_models() -> None:
    """Every botocore session of the test process reads the service models, endpoints and rulesets once.

    Each new session (boto3.session.Session(): provisioning makes one, Powertools' secrets provider another, for
    every test) otherwise parses botocore's JSON again (~0.1 s, several times that on a busy machine). botocore already
    shares what a loader parsed among the clients of one session; this shares it among sessions too."""
    if getattr(botocore.session.create_loader, "shared", False):
        return
    shared = functools.lru_cache(maxsize=None)(botocore.session.create_loader)
    shared.shared = True
    botocore.session.create_loader = shared
