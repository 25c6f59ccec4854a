"""bench.isnet_arch: a random-weight IS-Net with rembg's isnet-general-use signature, fp16 weights behind Casts,
and rembg's DisSession loads it from the path it loads the real one."""
from __future__ import annotations

from collections import Counter

import onnx
import pytest

from bench.isnet_arch import INPUT, OUTPUTS, SIDE, build_isnet
from bench.u2net_arch import count_parameters


@pytest.fixture(scope="module")
def isnet(tmp_path_factory):
    # About 3 s to build on 2 cores; inference (seconds at 1024x1024) is left to the benchmark.
    return build_isnet(tmp_path_factory.mktemp("isnet") / "models" / "isnet-general-use" / "isnet-general-use.onnx")


def test_it_has_isnets_signature_and_size(isnet):
    graph = onnx.load(str(isnet)).graph
    (inp,) = graph.input
    assert inp.name == INPUT == "input_image"
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 3, SIDE, SIDE] == [1, 3, 1024, 1024]
    assert [o.name for o in graph.output] == OUTPUTS and len(OUTPUTS) == 6
    for out in graph.output:
        assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 1, 1024, 1024]
    producers = {n.output[0]: n.op_type for n in graph.node}
    assert all(producers[o.name] == "Sigmoid" for o in graph.output)
    # The reference ISNetDIS: a stride-2 input conv, then U2-Net's RSU encoder/decoder, six side convs, no fuse conv.
    first_conv = next(n for n in graph.node if n.op_type == "Conv")
    assert next(a.ints for a in first_conv.attribute if a.name == "strides") == [2, 2]
    assert count_parameters(isnet) == pytest.approx(44.0e6, rel=0.02)
    onnx.checker.check_model(str(isnet), full_check=True)


def test_its_weights_are_fp16_behind_casts_as_the_real_export(isnet):
    graph = onnx.load(str(isnet)).graph
    assert {t.data_type for t in graph.initializer if len(t.dims) == 4} == {onnx.TensorProto.FLOAT16}
    initializers = {t.name for t in graph.initializer}
    casts = [n for n in graph.node if n.op_type == "Cast"]
    assert {n.input[0] for n in casts} >= {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT16}
    assert all(n.input[1] not in initializers for n in graph.node if n.op_type == "Conv")  # every weight via a Cast
    assert 80e6 < isnet.stat().st_size < 95e6  # 44 M fp16 weights: the 88 MB of rembg's download
    assert Counter(n.op_type for n in graph.node)["Conv"] == 119


def test_rembg_loads_it_where_it_loads_isnet_general_use(isnet, monkeypatch):
    monkeypatch.setenv("U2NET_HOME", str(isnet.parents[2]))
    from rembg.session_factory import new_session

    session = new_session("isnet-general-use")
    assert session.inner_session._model_path == str(isnet)
    assert session.inner_session.get_inputs()[0].name == "input_image"
