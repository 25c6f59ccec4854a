"""bench.u2net_arch: random-weight U2-Net / U2-NetP with rembg's u2net signature, and rembg really loads it."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from bench.u2net_arch import build_u2net, count_parameters
from tests.support.images import portrait_array

SIDE = 320


def assert_u2net_signature(path) -> None:
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}
    (inp,) = [i for i in graph.input if i.name not in initializers]
    assert inp.name == "input.1"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 3, SIDE, SIDE]
    assert [o.name for o in graph.output] == ["d0", "d1", "d2", "d3", "d4", "d5", "d6"]
    for out in graph.output:
        assert out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 1, SIDE, SIDE]
    # Every output is a sigmoid, the fused d0 included (rembg reads d0 only).
    producers = {n.output[0]: n.op_type for n in graph.node}
    assert all(producers[o.name] == "Sigmoid" for o in graph.output)


def rembg_input() -> np.ndarray:
    """The test portrait normalised the way rembg's U2netSession feeds the model."""
    img = np.asarray(Image.fromarray(portrait_array()).resize((SIDE, SIDE))) / 255.0
    img = (img - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)
    return img.transpose(2, 0, 1)[None].astype(np.float32)


@pytest.mark.slow
def test_u2netp_builds_checks_and_runs(tmp_path):
    path = build_u2net(tmp_path / "u2netp.onnx", "u2netp")

    assert_u2net_signature(path)
    assert count_parameters(path) == pytest.approx(1.13e6, rel=0.10)
    onnx.checker.check_model(str(path), full_check=True)  # full_check: shape inference agrees too

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input.1": rembg_input()})
    assert len(outputs) == 7
    for out in outputs:
        assert out.shape == (1, 1, SIDE, SIDE)
        assert np.isfinite(out).all()
        assert out.min() >= 0.0 and out.max() <= 1.0
    # rembg min-max normalises d0; a constant map would divide by zero, so d0 must really vary.
    assert outputs[0].max() - outputs[0].min() > 0.1
    assert outputs[0].std() > 0.01


def test_u2netp_is_deterministic_per_seed(tmp_path):
    a = build_u2net(tmp_path / "a.onnx", "u2netp", seed=3).read_bytes()
    b = build_u2net(tmp_path / "b.onnx", "u2netp", seed=3).read_bytes()
    c = build_u2net(tmp_path / "c.onnx", "u2netp", seed=4).read_bytes()
    assert a == b
    assert a != c


def test_full_u2net_has_the_official_size_and_signature(tmp_path):
    # About 2 s to build and 0.3 s to load and check on 2 cores; inference (0.3 s) is left to the benchmark.
    path = build_u2net(tmp_path / "u2net.onnx", "u2net")

    assert count_parameters(path) == pytest.approx(44.0e6, rel=0.05)
    assert_u2net_signature(path)
    onnx.checker.check_model(str(path))
    assert 150e6 < path.stat().st_size < 200e6  # 44 M float32 in one file, no external data


def test_unknown_variant_is_refused(tmp_path):
    with pytest.raises(ValueError, match="variant"):
        build_u2net(tmp_path / "x.onnx", "u2net_huge")


@pytest.mark.slow
def test_rembg_loads_and_runs_it_as_its_u2net(tmp_path, monkeypatch):
    home = tmp_path / "u2net_home"
    build_u2net(home / "models" / "u2net" / "u2net.onnx", "u2netp")  # u2net's signature, 1/40 of the weights
    monkeypatch.setenv("U2NET_HOME", str(home))  # overrides conftest's own model home for this test

    # rembg keeps no session cache: new_session loads the file at U2NET_HOME now.
    from rembg.session_factory import new_session

    session = new_session("u2net")
    assert session.inner_session._model_path == str(home / "models" / "u2net" / "u2net.onnx")

    image = Image.fromarray(portrait_array(width=240, height=300))
    mask = session.predict(image)[0]
    assert mask.mode == "L"
    assert mask.size == image.size
    values = np.asarray(mask)
    assert values.min() < values.max()  # not a blank mask (rembg stretches d0 to 0..255)
