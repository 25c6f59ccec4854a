"""The worker image's build step for expand's inpainting model (functions/image_worker/bake_expand_model.py, run by
the Dockerfile with the EXPAND_MODEL_URL and EXPAND_MODEL_SHA256 build arguments): nothing without a URL; with one,
the file is baked in only when its SHA-256 matches and it is an image + mask -> image model; else the build fails."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest

from tests.support.http_server import ScriptedServer
from tests.support.inpaint_model import build_inpainting_model
from tests.support.u2net_model import build_u2net_like

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bake_expand_model", ROOT / "functions/image_worker/bake_expand_model.py")
bake_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bake_module)


@pytest.fixture
def served(tmp_path):
    model = build_inpainting_model(tmp_path / "src" / "migan.onnx", "migan").read_bytes()
    other = build_u2net_like(tmp_path / "src" / "u2net.onnx").read_bytes()
    with ScriptedServer() as server:
        server.route("/migan.onnx", body=model, content_type="application/octet-stream")
        server.route("/u2net.onnx", body=other, content_type="application/octet-stream")
        yield server, model, other


def test_a_model_whose_sha256_matches_is_baked_in(tmp_path, served, capsys):
    server, model, _ = served
    target = tmp_path / "opt" / "inpaint.onnx"
    args = [server.url("/migan.onnx"), hashlib.sha256(model).hexdigest().upper(), str(target)]
    assert bake_module.main(args) == 0
    assert target.read_bytes() == model
    assert "baked into" in capsys.readouterr().out


def test_a_wrong_sha256_fails_the_build_and_leaves_nothing(tmp_path, served, capsys):
    server, model, _ = served
    target = tmp_path / "opt" / "inpaint.onnx"
    assert bake_module.main([server.url("/migan.onnx"), hashlib.sha256(model + b"x").hexdigest(), str(target)]) == 1
    assert "SHA-256" in capsys.readouterr().err
    assert list(target.parent.iterdir()) == []  # neither the model nor a partial download


def test_a_model_that_is_not_inpainting_fails_the_build(tmp_path, served, capsys):
    server, _, other = served
    target = tmp_path / "opt" / "inpaint.onnx"
    assert bake_module.main([server.url("/u2net.onnx"), hashlib.sha256(other).hexdigest(), str(target)]) == 1
    assert "not an inpainting model" in capsys.readouterr().err and not target.exists()


@pytest.mark.parametrize("url,sha,says", [
    ("", "", None),  # the default build: no model
    ("https://models.example/m.onnx", "", "64 hex digits"),
    ("", "a" * 64, "EXPAND_MODEL_URL is not"),
    ("file:///etc/passwd", "a" * 64, "http(s) URL"),
])
def test_the_arguments_are_checked_before_anything_is_fetched(tmp_path, capsys, url, sha, says):
    target = tmp_path / "opt" / "inpaint.onnx"
    assert bake_module.main([url, sha, str(target)]) == (0 if says is None else 1)
    assert not target.exists()
    if says:
        assert says in capsys.readouterr().err


def test_the_worker_image_runs_the_step_with_the_build_arguments_the_template_declares():
    from imgapi_local.template import load_template

    dockerfile = (ROOT / "functions/image_worker/Dockerfile").read_text()
    assert 'bake_expand_model.py "${EXPAND_MODEL_URL}" "${EXPAND_MODEL_SHA256}"' in dockerfile
    assert "ENV EXPAND_MODEL=${EXPAND_MODEL_URL:+/opt/expand-model/inpaint.onnx}" in dockerfile  # empty without one
    build_args = load_template()["Resources"]["ImageWorkerFunction"]["Metadata"]["DockerBuildArgs"]
    assert build_args["EXPAND_MODEL_URL"] == "" and build_args["EXPAND_MODEL_SHA256"] == ""
