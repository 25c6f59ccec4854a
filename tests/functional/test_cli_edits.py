"""`imgapi process change_bg | expand | fix`: the local engine's pipelines on local files, as the worker runs them."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imgapi.engine.outpaint import margins
from imgapi_local.cli import main
from tests.support.images import encode, portrait_array, portrait_jpeg

GREEN = (40, 160, 60)


@pytest.fixture
def portrait(tmp_path):
    path = tmp_path / "in.png"
    path.write_bytes(encode(portrait_array(120, 160), "PNG"))
    return path


def test_process_change_bg_puts_the_subject_on_the_reference(tmp_path, portrait, capsys):
    ref = tmp_path / "beach.png"
    ref.write_bytes(encode(np.full((90, 300, 3), GREEN, np.uint8), "PNG"))
    target = tmp_path / "out.png"
    assert main(["process", "change_bg", str(portrait), "--ref", str(ref), "-o", str(target)]) == 0
    out = np.asarray(Image.open(target).convert("RGB"))
    assert out.shape == (160, 120, 3)
    assert tuple(out[3, 3]) == GREEN and tuple(out[88, 60]) == tuple(portrait_array(120, 160)[88, 60])
    assert "120x160" in capsys.readouterr().out


def test_process_expand_grows_the_canvas_by_the_scales(tmp_path, portrait):
    target = tmp_path / "out.png"
    assert main(["process", "expand", str(portrait), "-o", str(target), "--top", "2", "--left", "1.5",
                 "--bottom", "1", "--right", "1"]) == 0
    pad = margins(120, 160, {"top": 2.0, "bottom": 1.0, "left": 1.5, "right": 1.0})
    out = np.asarray(Image.open(target).convert("RGB"))
    assert out.shape == (160 + pad["top"], 120 + pad["left"], 3)
    assert np.array_equal(out[pad["top"]:, pad["left"]:], portrait_array(120, 160))


def test_process_fix_enlarges_by_the_factor(tmp_path):
    source = tmp_path / "in.jpg"
    source.write_bytes(portrait_jpeg(100, 80))
    target = tmp_path / "out.png"
    assert main(["process", "fix", str(source), "-o", str(target), "--factor", "3"]) == 0
    assert Image.open(target).size == (300, 240)


def test_process_edits_report_bad_input_without_a_traceback(tmp_path, portrait, capsys):
    assert main(["process", "change_bg", str(portrait), "-o", str(tmp_path / "o.png")]) == 1
    assert "--ref" in capsys.readouterr().err
    assert main(["process", "expand", str(portrait), "-o", str(tmp_path / "o.png"), "--top", "2.5"]) == 1
    assert "top_scale" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["process", "fix", str(portrait), "-o", str(tmp_path / "o.png"), "--factor", "5"])
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("setting,says", [
    (None, "super-resolution: REALESRGAN_ANIMAVIDEOV3_UP4X (ncnn)"),
    ("classical", "classical (the deployment's FIX_SR_MODEL)"),
])
def test_process_fix_honours_fix_sr_model_as_the_worker_does_and_says_which_ran(tmp_path, monkeypatch, capsys,
                                                                                 setting, says):
    if setting:
        monkeypatch.setenv("FIX_SR_MODEL", setting)
    else:
        monkeypatch.delenv("FIX_SR_MODEL", raising=False)
    source = tmp_path / "in.png"
    source.write_bytes(encode(portrait_array(64, 48), "PNG"))
    assert main(["process", "fix", str(source), "-o", str(tmp_path / "out.png"), "--factor", "2"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(says)


def test_process_expand_says_what_filled_the_border(tmp_path, portrait, capsys):
    assert main(["process", "expand", str(portrait), "-o", str(tmp_path / "out.png")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("exemplar synthesis (local, not generative)")
