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


def build_u2net_like(path: Path) -> Path:
    weight = np.zeros((1, 3, 1, 1), dtype=np.float32)
    weight[0, 0, 0, 0], weight[0, 2, 0, 0] = STEEPNESS, -STEEPNESS  # red minus blue (normalised)
    nodes = [
        helper.make_node("Conv", ["input.1", "w", "b"], ["score"]),
        helper.make_node("Sigmoid", ["score"], ["d0"]),
    ]
    outputs = [helper.make_tensor_value_info("d0", TensorProto.FLOAT, [1, 1, SIDE, SIDE])]
    for i in range(1, 7):
        nodes.append(helper.make_node("Identity", ["d0"], [f"d{i}"]))
        outputs.append(helper.make_tensor_value_info(f"d{i}", TensorProto.FLOAT, [1, 1, SIDE, SIDE]))
    graph = helper.make_graph(
        nodes, "u2net_signature",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, SIDE, SIDE])],
        outputs,
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.zeros(1, np.float32), "b")],
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
