"""The `imgapi` command: pipelines on local files, and user management."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgapi.auth import users
from imgapi.engine.enhance_levels import LEVELS, output_size
from imgapi.core.settings import get_settings
from imgapi_local.cli import main
from tests.support.images import portrait_jpeg, subject_mask

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("level", ["light", "strong"])
def test_process_combo_writes_the_workers_output(tmp_path, capsys, level):
    source = tmp_path / "in.jpg"
    source.write_bytes(portrait_jpeg(120, 160))
    target = tmp_path / "out.png"
    assert main(["process", "combo", str(source), "-o", str(target), "--enhance-level", level]) == 0
    image = Image.open(target)
    assert image.mode == "RGBA" and image.size == output_size(120, 160, LEVELS[level].scale, get_settings().max_output_edge)
    assert "out.png" in capsys.readouterr().out


def test_process_remove_bg_keeps_the_input_size_and_is_transparent_outside_the_subject(tmp_path):
    source = tmp_path / "in.jpg"
    source.write_bytes(portrait_jpeg(120, 160))
    target = tmp_path / "out.png"
    assert main(["process", "remove_bg", str(source), "-o", str(target)]) == 0
    image = Image.open(target)
    assert image.size == (120, 160)
    alpha = np.asarray(image.getchannel("A"))
    assert alpha[5, 5] == 0 and alpha[88, 60] == 255
    assert alpha[subject_mask(120, 160)].mean() > 240


def test_process_reports_bad_input_without_a_traceback(tmp_path, capsys):
    source = tmp_path / "in.jpg"
    source.write_bytes(b"not an image")
    assert main(["process", "combo", str(source), "-o", str(tmp_path / "o.png")]) == 1
    assert "could not be decoded" in capsys.readouterr().err
    assert main(["process", "combo", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "o.png")]) == 1
    assert main(["process", "combo", str(source), "-o", str(tmp_path / "o.png"), "--enhance-level", "x"]) == 1


def test_process_runs_as_the_installed_command(tmp_path):
    source = tmp_path / "in.jpg"
    source.write_bytes(portrait_jpeg(64, 80))
    imgapi = Path(sys.executable).with_name("imgapi")
    done = subprocess.run([str(imgapi), "process", "remove_bg", str(source), "-o", str(tmp_path / "o.png")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "o.png").mode == "RGBA"


def test_users_add_list_remove(stack, monkeypatch, capsys):
    table = get_settings().users_table
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret-password\n"))
    assert main(["users", "add", "frank", "--table", table, "--password-stdin"]) == 0
    assert users.authenticate("frank", "s3cret-password")
    assert main(["users", "list", "--table", table]) == 0
    assert "frank" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("another-password\n"))
    assert main(["users", "add", "frank", "--table", table, "--password-stdin"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["users", "remove", "frank", "--table", table]) == 0
    assert users.token_generation("frank") is None
    assert main(["users", "remove", "frank", "--table", table]) == 1


def test_users_needs_to_know_the_table(monkeypatch, capsys):
    monkeypatch.delenv("USERS_TABLE", raising=False)
    assert main(["users", "list"]) == 2
    assert "--stack" in capsys.readouterr().err
