"""A tiny ONNX model with U2-Net's input and output signature, so rembg's real path runs without weights.

Input `input.1` float32 [1, 3, 320, 320]; seven outputs [1, 1, 320, 320] like U2-Net's d0..d6.
It scores a pixel as subject when it is much redder than it is blue: the test images paint a
red subject on a blue-grey background, so the expected mask is known exactly.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIDE = 320
STEEPNESS = 8.0


def build_u2net_like(path: Path, *, side: int = SIDE, input_name: str = "input.1", outputs: int = 7,
                     fp16: bool = False) -> Path:
    """U2-Net's signature by default; `side=1024, input_name="input_image", outputs=6, fp16=True` gives IS-Net's
    (rembg's isnet-general-use), its weights stored as fp16 behind Cast nodes as that export has them."""
    weight = np.zeros((1, 3, 1, 1), dtype=np.float32)
    weight[0, 0, 0, 0], weight[0, 2, 0, 0] = STEEPNESS, -STEEPNESS  # red minus blue (normalised)
    names = [f"d{i}" for i in range(outputs)]
    nodes = [
        helper.make_node("Conv", [input_name, "w", "b"], ["score"]),
        helper.make_node("Sigmoid", ["score"], [names[0]]),
    ]
    initializers = [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.zeros(1, np.float32), "b")]
    if fp16:
        initializers = [numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name + "_fp16")
                        for t in initializers]
        nodes[:0] = [helper.make_node("Cast", [t.name], [t.name[:-len("_fp16")]], to=TensorProto.FLOAT)
                     for t in initializers]
    for name in names[1:]:
        nodes.append(helper.make_node("Identity", [names[0]], [name]))
    graph = helper.make_graph(
        nodes, "u2net_signature",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 1, side, side]) for name in names],
        initializer=initializers,
    )
    return save_graph(graph, path)


def save_graph(graph, path: Path) -> Path:
    """The graph as a checked ONNX model (opset 13, IR 8: what the pinned onnxruntime reads) at `path`."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
