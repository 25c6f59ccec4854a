"""The DashScope model tables of README.md and docs/dashscope.md say what the code does: each model's operations,
regions and call (synchronous or not) are those of its family in dashscope/models.py, every model the code serves
is in them, and each is dated."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from imgapi.dashscope.models import BEIJING, OPERATION_FAMILIES, SINGAPORE, model_choices

ROOT = Path(__file__).resolve().parents[2]
REGIONS = {"Beijing": BEIJING, "Singapore": SINGAPORE}
TABLES = {"README.md": "## DashScope models", "docs/dashscope.md": "### The models, as of"}


def _rows(document: str, heading: str) -> tuple[str, list[list[str]]]:
    """The text under `heading` up to the next heading, and its table's rows (cells), header left out."""
    text = (ROOT / document).read_text()
    section = text[text.index(heading):]
    section = section[:section.index("\n#", len(heading))]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| model ")]
    return section, rows


def _family(model: str):
    return next(family for families in OPERATION_FAMILIES.values() for family in families if family.serves(model))


@pytest.mark.parametrize("document", list(TABLES))
def test_the_model_table_says_what_the_code_does(document):
    section, rows = _rows(document, TABLES[document])
    assert re.search(r"as of 20\d\d-\d\d-\d\d", section, re.I), "the table is dated"
    listed = set()
    for row in rows:
        models = re.findall(r"`([a-z0-9.-]+)`", row[0])
        operations = set(row[1].split(", "))
        regions = {REGIONS[name] for name in row[2].split(", ")}
        for model in models:
            listed.add(model)
            family = _family(model)
            can = {operation for operation in OPERATION_FAMILIES if model in model_choices(operation)}
            assert operations == can, (document, model, operations, can)
            assert regions == set(family.regions), (document, model)
            assert row[3] == ("asynchronous" if family.asynchronous else "synchronous"), (document, model)
    served = {model for operation in OPERATION_FAMILIES for model in model_choices(operation)}
    assert served <= listed, served - listed
