"""IS-Net (DIS) as an ONNX graph with random weights: rembg's `isnet-general-use` without the real weights.

The graph follows the reference PyTorch ISNetDIS of Qin et al. 2022 (Highly Accurate Dichotomous Image
Segmentation) layer for layer: a stride-2 3x3 input conv (3 -> 64, so stage 1 runs at 512x512), the
U2-Net encoder En_1..En_6 and decoder De_5..De_1 built of RSU-7/6/5/4/4F blocks (the same blocks as
bench.u2net_arch), and six 3x3 side convs, each upsampled to the input size and put through a sigmoid.
No fuse conv: the first side output (from De_1, the finest) is the mask, as rembg reads it.

Its signature is the export rembg downloads: input `input_image` float32 [1, 3, 1024, 1024] (rembg
normalises it with mean 0.5, std 1.0); six outputs [1, 1, 1024, 1024], the mask first. 44.0 M
parameters stored as fp16 (88 MB), each behind a Cast to float32, as the real file has them: so the
load-time work (constant-folding the casts) and the memory it costs are the real model's too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from bench.u2net_arch import _CONFIGS, OPSET, _Graph

SIDE = 1024
INPUT = "input_image"
OUTPUTS = [f"d{i}" for i in range(1, 7)]
MEAN, STD = (0.5, 0.5, 0.5), (1.0, 1.0, 1.0)  # rembg's DisSession.predict


class _Fp16Graph(_Graph):
    """Weights stored as float16 initializers, each cast to float32 where it is used."""

    def weight(self, array: np.ndarray, prefix: str) -> str:
        stored = super().weight(array.astype(np.float16), prefix + "_fp16")
        cast = self.name(prefix)
        self.nodes.append(helper.make_node("Cast", [stored], [cast], to=TensorProto.FLOAT))
        return cast


def _build_graph(seed: int) -> onnx.GraphProto:
    cfg = _CONFIGS["u2net"]
    g = _Fp16Graph(np.random.default_rng(seed))
    g.shape[INPUT] = (3, SIDE, SIDE)
    # conv_in: Conv2d(3, 64, 3, stride=2, padding=1), no ReLU and no pooling after it (ISNetDIS.forward).
    x = g.conv(INPUT, 64, relu=False, stride=2, prefix="conv_in")
    encoder = [(7, 64, 32, 64)] + cfg["encoder"][1:]  # stage1 = RSU7(64, 32, 64); the rest as U2-Net's

    enc = []
    for i, spec in enumerate(encoder):
        enc.append(g.block(x, spec))
        if i < len(encoder) - 1:
            x = g.pool(enc[-1])
    dec, hx = [], enc[-1]
    for spec, skip in zip(cfg["decoder"], reversed(enc[:-1])):
        hx = g.block(g.concat(g.upsample_like(hx, skip), skip), spec)
        dec.append(hx)

    sources = list(reversed(dec)) + [enc[-1]]  # side1..side6 from De_1..De_5 and En_6
    for src, ch, name in zip(sources, cfg["sides"], OUTPUTS):
        assert g.shape[src][0] == ch
        g.sigmoid(g.upsample_like(g.conv(src, 1, relu=False, prefix="side"), INPUT), name)
    return helper.make_graph(
        g.nodes, "isnet_dis_random",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 3, SIDE, SIDE])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, SIDE, SIDE]) for n in OUTPUTS],
        initializer=g.inits,
    )


def build_isnet(path, seed: int = 0) -> Path:
    """Write a random-weight IS-Net (44.0 M fp16 parameters, 88 MB) to `path`."""
    model = helper.make_model(_build_graph(seed), opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="imgapi.bench.isnet_arch")
    model.ir_version = 8
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path

