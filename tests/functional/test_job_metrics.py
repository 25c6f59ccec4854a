"""Powertools metrics (CloudWatch EMF on stdout) for jobs submitted, completed and failed, and their durations,
each with the job's operation and engine as dimensions."""
from __future__ import annotations

import json

from imgapi.core.settings import get_settings
from tests.support.images import portrait_png
from tests.support.worker import drain


def _metrics(stdout: str) -> list[tuple[str, str, str, float]]:
    found = []
    for line in stdout.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert ["operation", "engine"] == directive["Dimensions"][0][:2]
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                found.append((metric["Name"], record["operation"], record["engine"],
                              value[0] if isinstance(value, list) else value))
    return found


def test_submitted_completed_failed_and_durations_per_operation_and_engine(api, alice, capsys):
    ok = api.call("POST", "/api/v1/upscale/combo", token=alice, files={"file": ("p.png", portrait_png(40, 50), "image/png")})
    edit = api.call("POST", "/expand", token=alice, form={"engine": "local"},
                    files={"base_image": ("p.png", portrait_png(40, 50), "image/png")})
    assert ok.status == 202 and edit.status == 202, edit.body
    from imgapi.core import storage

    storage.delete_object(f"uploads/alice/{ok.json()['task_id']}/input.png")  # this one will fail
    drain(get_settings().image_queue_url)
    metrics = _metrics(capsys.readouterr().out)
    names = {(name, operation, engine) for name, operation, engine, _ in metrics}
    assert {("JobsSubmitted", "combo", "local"), ("JobsSubmitted", "expand", "local"),
            ("JobsFailed", "combo", "local"), ("JobsCompleted", "expand", "local"),
            ("JobDuration", "combo", "local"), ("JobDuration", "expand", "local")} <= names
    assert all(value >= 0 for name, *_, value in metrics if name == "JobDuration")
