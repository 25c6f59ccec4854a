"""Schemathesis against the local stack: every operation of the published document, fuzzed with data that fits its
schema and data that does not (wrong types, out-of-range numbers, missing fields), must never answer 5xx, and every
answer must be one the document declares, in its status, content type, headers and body.

The schema is the one the code generates (openapi.document(), loaded at collection so each operation is its own
test); the first test checks it is the very document the stack serves. Multipart file fields get real small images
in several formats and modes as well as arbitrary bytes, so the fuzzing gets past the image checks into the jobs.
"""
from __future__ import annotations

import io
import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.serialization import Binary

from imgapi.api import openapi

from imgapi.auth import users
from tests.e2e.conftest import login

# Schemathesis's own strategies draw from `random`; Hypothesis warns about it, not about anything of ours.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")]

FUZZ_USER, FUZZ_PASSWORD = "fuzz_user", "fuzz-password"
# Per operation; with the coverage phase's own boundary cases this keeps the whole run near a minute.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))  # FUZZ_EXAMPLES=200 for a longer hunt
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@st.composite
def small_images(draw) -> bytes:
    """A small image as a client might send it: JPEG, PNG or WebP, in the modes those formats carry."""
    fmt, mode = draw(st.sampled_from([("JPEG", "RGB"), ("JPEG", "L"), ("JPEG", "CMYK"), ("PNG", "RGB"),
                                      ("PNG", "RGBA"), ("PNG", "L"), ("PNG", "P"), ("PNG", "I;16"), ("PNG", "LA"),
                                      ("WEBP", "RGB"), ("WEBP", "RGBA")]))
    size = (draw(st.integers(1, 48)), draw(st.integers(1, 48)))
    colour = draw(st.integers(0, 255))
    image = Image.new(mode, size, colour if mode in ("L", "P", "I;16") else (colour,) * len(mode))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


schemathesis.openapi.format("binary", st.one_of(small_images(), st.binary(max_size=256)).map(Binary))

SCHEMA = schemathesis.openapi.from_dict(openapi.document(), config=schemathesis.Config.from_dict({
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
    # Methods a path does not declare are API Gateway's business (404), not the API's: not sent.
    "phases": {"stateful": {"enabled": False}, "coverage": {"unexpected-methods": []}},
}))


@pytest.fixture(scope="module")
def fuzz_token(local_stack) -> str:
    """A user of its own: the fuzzing's jobs and configurations do not show in other tests' listings."""
    users.create_user(FUZZ_USER, FUZZ_PASSWORD)
    return login(local_stack.url, FUZZ_USER, FUZZ_PASSWORD)


# Logging out everywhere and a new password revoke the caller's tokens, and wrong passwords lock its logins: these
# routes are fuzzed as a user of their own, with a fresh token for each case.
ACCOUNT_USER, ACCOUNT_ROUTES = "fuzz_account", frozenset({"/api/v1/auth/logout-all", "/api/v1/auth/password"})


@pytest.fixture(scope="module")
def account_token(local_stack):
    from imgapi.auth.tokens import issue_token

    users.create_user(ACCOUNT_USER, "fuzz-account-password")
    return lambda: issue_token(ACCOUNT_USER)[0]


def test_the_fuzzed_document_is_the_one_the_stack_serves(base_url):
    served = requests.get(f"{base_url}/api/v1/openapi.json", timeout=10)
    assert served.status_code == 200 and served.json() == openapi.document()


def _bounded_wait(case) -> None:
    """`wait` makes a submit hold the connection up to 25 s for its job: fuzzed, keep the wait (any valid one) short."""
    for values in (case.query, case.body if isinstance(case.body, dict) else None):
        wait = (values or {}).get("wait")
        try:  # a number, or a form's or query's text of one
            seconds = float(wait) if not isinstance(wait, bool) else None
        except (TypeError, ValueError):
            seconds = None
        if seconds is not None and 0.05 < seconds <= 25:
            values["wait"] = 0.05


@SCHEMA.parametrize()
# derandomize: the same examples on every run, so that the suite's outcome never depends on a random draw; a wider
# exploration is FUZZ_EXAMPLES=200 with FUZZ_RANDOM=1.
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=MAX_EXAMPLES,
          derandomize=not os.environ.get("FUZZ_RANDOM"))
def test_no_5xx_and_every_answer_is_documented(case, base_url, fuzz_token, account_token):
    _bounded_wait(case)
    token = account_token() if case.operation.path in ACCOUNT_ROUTES else fuzz_token
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS,
                           timeout=30)

