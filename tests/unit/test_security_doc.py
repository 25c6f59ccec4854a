"""SECURITY.md names the test behind every defence: each one named must exist, in the file named."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHORT = {"hostile": "functional/test_hostile_input.py", "access": "functional/test_access_control.py",
         "faults": "functional/test_faults.py"}


def test_every_test_named_in_security_md_exists():
    text = (ROOT / "SECURITY.md").read_text()
    named = 0
    for row in text.splitlines():
        if not row.startswith("|"):
            continue
        current = None
        for token in re.findall(r"`([^`]+)`", row):
            path, _, test = token.partition("::")
            if path in SHORT:
                path = SHORT[path]
            if path.endswith(".py") and path.split("/")[0] in ("unit", "functional", "e2e", "browser", "load"):
                current = ROOT / "tests" / path
                assert current.exists(), token
            if test:
                assert current is not None, f"{token}: no file named before it"
                assert re.search(rf"^(async )?def {re.escape(test)}\(", current.read_text(), re.M), f"{current.name}::{test}"
                named += 1
    assert named >= 60
