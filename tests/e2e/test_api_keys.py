"""API keys over HTTP against the local stack: `imgapi keys create|list|revoke` (the CLI, as the logged-in user),
then the key used with plain requests in place of a login token."""
from __future__ import annotations

import requests

from imgapi_local.cli import main
from imgapi_local.client import CREDENTIALS_ENV
from tests.e2e.conftest import login


def test_the_cli_creates_lists_and_revokes_a_key_that_works_until_revoked(base_url, monkeypatch, capsys):
    monkeypatch.setenv("IMGAPI_TOKEN", login(base_url))
    assert main(["keys", "create", "e2e-cli", "--url", base_url]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("imgapi_") and "shown only now" in err

    jobs = requests.get(f"{base_url}/api/v1/jobs", headers={"X-Api-Key": key}, timeout=10)
    assert jobs.status_code == 200, jobs.text

    assert main(["keys", "list", "--url", base_url]) == 0
    listing = capsys.readouterr().out
    [line] = [line for line in listing.splitlines() if line.endswith("e2e-cli")]
    key_id, prefix = line.split()[:2]
    assert key.startswith(prefix) and key not in listing
    assert "never" not in line  # used once above

    assert main(["keys", "revoke", key_id, "--url", base_url]) == 0
    refused = requests.get(f"{base_url}/api/v1/jobs", headers={"X-Api-Key": key}, timeout=10)
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_api_key"
    assert main(["keys", "revoke", key_id, "--url", base_url]) == 2
    assert "HTTP 404" in capsys.readouterr().err


def test_the_cli_without_a_login_says_so(base_url, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("IMGAPI_TOKEN", raising=False)
    monkeypatch.setenv(CREDENTIALS_ENV, str(tmp_path / "credentials.json"))
    assert main(["keys", "list", "--url", base_url]) == 2
    assert "not logged in" in capsys.readouterr().err
