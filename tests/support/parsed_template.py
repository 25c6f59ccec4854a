"""template.yaml parsed once per test process: parsing it takes ~0.15 s (more on a busy machine), and the stack
fixture, the API and the queue workers' handlers each need it for every test. Each caller gets its own copy, so no
test can change what the next one reads."""
from __future__ import annotations

import copy
from functools import lru_cache

from imgapi_local.template import load_template


@lru_cache(maxsize=1)
def _parsed() -> dict:
    return load_template()


def template() -> dict:
    return copy.deepcopy(_parsed())
