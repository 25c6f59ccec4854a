"""The load tests run against the local stack of the end-to-end tests (tests/e2e/conftest.py), one for this package.

The local stack makes moto atomic where AWS is (imgapi_local.moto_atomic), so what the tests measure under this
much concurrency is imgapi and not the emulator.
"""
from __future__ import annotations

from tests.e2e.conftest import base_url, fake_dashscope, local_stack  # noqa: F401  (fixtures, reused as they are)
