"""Tiny ONNX models with the signatures of the inpainting models a deployer may bake in (engine/inpaint_model.py).

- "lama": LaMa's ONNX export: `image` float32 [1, 3, 512, 512] in 0..1 and `mask` float32 [1, 1, 512, 512], 1 where to
  fill; `output` float32 [1, 3, 512, 512] in 0..255.
- "migan": MI-GAN's ONNX pipeline: `image` uint8 [1, 3, H, W] and `mask` uint8 [1, 1, H, W], 255 where known and 0
  where to fill, any H and W; `result` uint8 [1, 3, H, W].

weights="random": a 3x3 convolution of the image and the mask with seeded random weights, squashed to 0..255 (what a
real model's plumbing sees, without its weights). weights="mask": white exactly where the model is told to fill and
black elsewhere, so a test can see that the mask's meaning was respected.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.support.u2net_model import save_graph

LAMA_SIDE = 512


def build_inpainting_model(path: Path, kind: str = "lama", weights: str = "random", seed: int = 0) -> Path:
    if kind == "lama":
        shape, dtype, out_name = [1, None, LAMA_SIDE, LAMA_SIDE], TensorProto.FLOAT, "output"
    elif kind == "migan":
        shape, dtype, out_name = [1, None, "height", "width"], TensorProto.UINT8, "result"
    else:
        raise ValueError(kind)
    integer = dtype == TensorProto.UINT8
    nodes, init = [], [numpy_helper.from_array(np.array(255.0, np.float32), "k255")]
    image, mask = "image", "mask"
    if integer:  # to float, the mask to 1 where to fill, as LaMa's
        nodes += [helper.make_node("Cast", ["image"], ["image_f"], to=TensorProto.FLOAT),
                  helper.make_node("Div", ["image_f", "k255"], ["image_01"]),
                  helper.make_node("Cast", ["mask"], ["mask_f"], to=TensorProto.FLOAT),
                  helper.make_node("Div", ["mask_f", "k255"], ["known"]),
                  helper.make_node("Sub", ["one", "known"], ["hole"])]
        init.append(numpy_helper.from_array(np.array(1.0, np.float32), "one"))
        image, mask = "image_01", "hole"
    if weights == "random":
        rng = np.random.default_rng(seed)
        init += [numpy_helper.from_array(rng.normal(0, 0.5, (3, 4, 3, 3)).astype(np.float32), "w"),
                 numpy_helper.from_array(rng.normal(0, 0.1, 3).astype(np.float32), "b")]
        nodes += [helper.make_node("Concat", [image, mask], ["stacked"], axis=1),
                  helper.make_node("Conv", ["stacked", "w", "b"], ["score"], pads=[1, 1, 1, 1]),
                  helper.make_node("Sigmoid", ["score"], ["unit"])]
    elif weights == "mask":
        nodes += [helper.make_node("Concat", [mask, mask, mask], ["unit"], axis=1)]
    else:
        raise ValueError(weights)
    nodes.append(helper.make_node("Mul", ["unit", "k255"], ["scaled" if integer else out_name]))
    if integer:
        nodes.append(helper.make_node("Cast", ["scaled"], [out_name], to=TensorProto.UINT8))
    graph = helper.make_graph(
        nodes, f"{kind}_signature",
        [helper.make_tensor_value_info("image", dtype, [shape[0], 3, *shape[2:]]),
         helper.make_tensor_value_info("mask", dtype, [shape[0], 1, *shape[2:]])],
        [helper.make_tensor_value_info(out_name, dtype, [shape[0], 3, *shape[2:]])],
        initializer=init,
    )
    return save_graph(graph, path)
