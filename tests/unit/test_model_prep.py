"""engine/model_prep: a model's graph optimised once (fp16 Casts folded to float32), found again, never stale; the
worker's session loads the prepared graph through rembg's own session class."""
from __future__ import annotations

import os
from collections import Counter

import numpy as np
import onnx
from PIL import Image

from imgapi.engine import cutout, model_prep
from tests.support.images import portrait_array


def test_prepare_folds_fp16_casts_into_float32_weights_and_checks_the_mask(isnet_model):
    assert model_prep.prepared_model(isnet_model) is None

    report = model_prep.prepare(isnet_model)

    assert set(report["prepared"]) == {"portable", model_prep.isa()}
    for row in report["prepared"].values():
        assert row["mask_agreement"] == 1.0
        graph = onnx.load(str(isnet_model.with_name(row["path"]))).graph
        assert "Cast" not in Counter(node.op_type for node in graph.node)
        assert {t.data_type for t in graph.initializer} == {onnx.TensorProto.FLOAT}
    path, complete = model_prep.prepared_model(isnet_model)
    assert complete and path.name == report["prepared"][model_prep.isa()]["path"]


def test_a_replaced_model_is_never_paired_with_its_old_prepared_graph(isnet_model):
    model_prep.prepare(isnet_model)
    stat = isnet_model.stat()
    os.utime(isnet_model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    assert model_prep.prepared_model(isnet_model) is None
    model_prep.prepare(isnet_model)  # preparing again replaces the stale graphs, it does not add to them
    assert len(list(isnet_model.parent.glob("*.prepared-*"))) == 2


def test_another_cpu_kind_gets_the_portable_graph(isnet_model, monkeypatch):
    model_prep.prepare(isnet_model)
    monkeypatch.setattr(model_prep, "isa", lambda: "x86_64-elsewhere")

    path, complete = model_prep.prepared_model(isnet_model)
    assert not complete and ".prepared-portable-" in path.name


def test_the_worker_session_loads_the_prepared_graph_with_rembgs_session_class(isnet_model):
    from rembg.sessions.dis_general_use import DisSession

    model_prep.prepare(isnet_model)
    session = cutout.get_session("isnet-general-use")

    assert isinstance(session, DisSession)
    assert session.inner_session._model_path == str(model_prep.prepared_model(isnet_model)[0])
    # The mask is the one rembg's own predict() gives with the original file.
    image = Image.fromarray(portrait_array(200, 160))
    original = DisSession("isnet-general-use", None)
    assert original.inner_session._model_path == str(isnet_model)
    theirs = np.asarray(original.predict(image)[0]).astype(int)
    ours = np.asarray(session.predict(image)[0]).astype(int)
    assert np.abs(ours - theirs).max() <= 1
