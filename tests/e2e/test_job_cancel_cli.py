"""`imgapi client cancel` against the local stack: a running job ends cancelled; a finished one is refused."""
from __future__ import annotations

import requests

from imgapi_local.cli import main
from tests.e2e.conftest import login


def test_the_cli_cancels_a_running_job_and_says_when_it_cannot(base_url, fake_dashscope, monkeypatch, capsys):
    token = login(base_url)
    monkeypatch.setenv("IMGAPI_TOKEN", token)
    monkeypatch.setattr(fake_dashscope, "pending_polls", 10_000)  # the DashScope task stays PENDING
    submitted = requests.post(f"{base_url}/fix", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                              json={"base_image_url": "https://example.com/a.jpg", "engine": "dashscope"})
    assert submitted.status_code == 202, submitted.text
    task_id = submitted.json()["task_id"]

    assert main(["client", "cancel", task_id, "--url", base_url]) == 0
    assert f"cancelled {task_id} (fix)" in capsys.readouterr().out
    job = requests.get(f"{base_url}/api/v1/jobs/{task_id}", headers={"Authorization": f"Bearer {token}"},
                       timeout=10).json()
    assert job["status"] == "cancelled"

    assert main(["client", "cancel", task_id, "--url", base_url]) == 1
    assert f"not cancelled {task_id}" in capsys.readouterr().err
