"""Issue #22, point 3, over HTTP against the local stack: `imgapi password` and `imgapi logout --everywhere` revoke
every earlier token of the user; a new login works; another user's tokens and the user's API keys are untouched."""
from __future__ import annotations

import io
import json
import sys

import requests

from imgapi.auth import users
from imgapi_local.cli import main
from imgapi_local.client import CREDENTIALS_ENV
from tests.e2e.conftest import login

USER, PASSWORD, NEW_PASSWORD = "account_cli_user", "first-password", "second-password"


def _status(base_url: str, token: str) -> tuple[int, str | None]:
    response = requests.get(f"{base_url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return response.status_code, response.json().get("code")


def test_password_change_and_logging_out_everywhere_from_the_cli(base_url, monkeypatch, tmp_path, capsys):
    users.create_user(USER, PASSWORD)
    credentials = tmp_path / "credentials.json"
    monkeypatch.setenv(CREDENTIALS_ENV, str(credentials))
    monkeypatch.delenv("IMGAPI_TOKEN", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["client", "login", "--url", base_url, "--username", USER, "--password-stdin"]) == 0
    cli_token = json.loads(credentials.read_text())["logins"][base_url]["access_token"]
    other_device = login(base_url, USER, PASSWORD)
    someone_else = login(base_url)  # the demo user
    key = requests.post(f"{base_url}/api/v1/api-keys", headers={"Authorization": f"Bearer {other_device}"},
                        json={"name": "account-cli"}, timeout=10).json()["key"]

    # A wrong current password changes nothing.
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"not-the-password\n{NEW_PASSWORD}\n"))
    assert main(["password", "--url", base_url, "--password-stdin"]) == 2
    assert "current password is wrong" in capsys.readouterr().err
    assert _status(base_url, cli_token)[0] == 200

    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{PASSWORD}\n{NEW_PASSWORD}\n"))
    assert main(["password", "--url", base_url, "--password-stdin"]) == 0
    assert "logged in again" in capsys.readouterr().out
    assert _status(base_url, cli_token) == (401, "token_revoked")
    assert _status(base_url, other_device) == (401, "token_revoked")
    assert requests.post(f"{base_url}/api/v1/login", params={"username": USER, "password": PASSWORD},
                         timeout=10).status_code == 401
    relogged = json.loads(credentials.read_text())["logins"][base_url]["access_token"]
    assert _status(base_url, relogged)[0] == 200  # the CLI logged in with the new password
    assert _status(base_url, someone_else)[0] == 200
    assert requests.get(f"{base_url}/api/v1/jobs", headers={"X-Api-Key": key}, timeout=10).status_code == 200

    another_device = login(base_url, USER, NEW_PASSWORD)
    assert main(["logout", "--everywhere", "--url", base_url]) == 0
    assert "everywhere" in capsys.readouterr().out
    assert _status(base_url, relogged) == (401, "token_revoked")
    assert _status(base_url, another_device) == (401, "token_revoked")
    assert base_url not in json.loads(credentials.read_text())["logins"]  # the saved token is forgotten too
    assert _status(base_url, someone_else)[0] == 200
    assert requests.get(f"{base_url}/api/v1/jobs", headers={"X-Api-Key": key}, timeout=10).status_code == 200
    assert _status(base_url, login(base_url, USER, NEW_PASSWORD))[0] == 200  # a new login works
    assert main(["logout", "--everywhere", "--url", base_url]) == 2  # nothing saved any more: says so
    assert "not logged in" in capsys.readouterr().err
