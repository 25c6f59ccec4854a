"""expand with a deployer's inpainting model: LaMa- and MI-GAN-shaped ONNX models (tiny ones of the same signature,
made here) fill the new border, each mask's meaning respected; the result says which model ran; without one, or
when its file is missing, the exemplar synthesis runs and the result says that."""
from __future__ import annotations

import io

import numpy as np
import pytest
import skimage.data
from onnx import TensorProto, helper
from PIL import Image

from imgapi.engine.outpaint import EXEMPLAR, ModelSignatureError, expand, load_model, margins, run_expand
from tests.support.images import encode
from tests.support.inpaint_model import build_inpainting_model
from tests.support.u2net_model import save_graph

SCALES = {"top": 1.5, "bottom": 1.25, "left": 2.0, "right": 1.5}


@pytest.fixture
def photo() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.coffee()[100:260, 150:390])  # 240 x 160


def _border(shape: tuple[int, int], pad: dict[str, int], h: int, w: int, margin: int = 0) -> np.ndarray:
    """The new border, leaving out `margin` pixels next to the original."""
    border = np.ones(shape, bool)
    border[max(0, pad["top"] - margin):pad["top"] + h + margin, max(0, pad["left"] - margin):pad["left"] + w + margin] = False
    return border


@pytest.mark.parametrize("kind", ["lama", "migan"])
def test_the_model_fills_exactly_where_its_mask_says_to(tmp_path, photo, kind):
    """A model that answers white where told to fill and black elsewhere: the border comes out white, so the
    mask's polarity (LaMa 1 = fill, MI-GAN 0 = fill) and the output's range were both read right."""
    model = build_inpainting_model(tmp_path / "m.onnx", kind, weights="mask")
    out, alpha, expander = expand(photo, None, SCALES, max_pixels=10**8, model=str(model))
    h, w = photo.shape[:2]
    pad = margins(w, h, SCALES)
    assert alpha is None and expander == "inpainting model m.onnx (onnx, the deployment's)"
    assert np.array_equal(out[pad["top"]:pad["top"] + h, pad["left"]:pad["left"] + w], photo)
    assert out[_border(out.shape[:2], pad, h, w, margin=6)].min() >= 250


@pytest.mark.parametrize("kind", ["lama", "migan"])
def test_a_random_weight_model_of_each_shape_runs_through_run_expand(tmp_path, photo, kind):
    model = build_inpainting_model(tmp_path / f"{kind}.onnx", kind, weights="random", seed=3)
    first = run_expand(encode(photo, "PNG"), SCALES, max_pixels=10**8, model=str(model))
    again = run_expand(encode(photo, "PNG"), SCALES, max_pixels=10**8, model=str(model))
    exemplar = run_expand(encode(photo, "PNG"), SCALES, max_pixels=10**8)
    assert first.expander == f"inpainting model {kind}.onnx (onnx, the deployment's)"
    assert exemplar.expander == EXEMPLAR
    ours = np.asarray(Image.open(io.BytesIO(first.data)).convert("RGB"))
    h, w = photo.shape[:2]
    pad = margins(w, h, SCALES)
    assert ours.shape == (h + pad["top"] + pad["bottom"], w + pad["left"] + pad["right"], 3)
    assert np.array_equal(ours[pad["top"]:pad["top"] + h, pad["left"]:pad["left"] + w], photo)
    assert first.data == again.data
    theirs = np.asarray(Image.open(io.BytesIO(exemplar.data)).convert("RGB"))
    border = _border(ours.shape[:2], pad, h, w)
    assert np.abs(ours[border].astype(int) - theirs[border]).mean() > 10  # the model's fill, not the exemplar's


def test_without_its_file_the_exemplar_synthesis_runs_and_says_why(tmp_path, photo):
    output = run_expand(encode(photo, "PNG"), SCALES, max_pixels=10**8, model=str(tmp_path / "gone.onnx"))
    assert output.expander == f"{EXEMPLAR}; the deployment's inpainting model is missing"
    assert "gone.onnx" not in output.expander and str(tmp_path) not in output.expander  # no server paths


def test_a_model_that_is_not_image_and_mask_to_image_is_refused(tmp_path):
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["output"])], "one_input",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 64, 64])])
    save_graph(graph, tmp_path / "one.onnx")
    with pytest.raises(ModelSignatureError):
        load_model(str(tmp_path / "one.onnx"), 1)
