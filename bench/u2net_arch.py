"""U2-Net / U2-NetP as ONNX graphs with random weights, for benchmarking without the real weights.

The graph follows the reference PyTorch model of Qin et al. 2020 (U2-Net: Going Deeper with Nested
U-Structure for Salient Object Detection) layer for layer: RSU-7/6/5/4 and the dilated RSU-4F blocks,
encoder En_1..En_6, decoder De_1..De_5, six 3x3 side convs upsampled to the input size, a 1x1 fuse conv
over the six sides and a sigmoid on all seven outputs. So onnxruntime does the same work it would on
rembg's real `u2net.onnx` / `u2netp.onnx`; only the numbers in the weights differ.

The signature is rembg's: input `input.1` float32 [1, 3, 320, 320]; outputs d0 (fused) then d1..d6,
each [1, 1, 320, 320]. BatchNorm is folded into its conv (what ORT does at load time anyway), so the
parameter count is the convs' weights and biases: 44.0 M for u2net, 1.13 M for u2netp.

Built with onnx.helper / numpy_helper only: no torch on this machine, no network.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIDE = 320
OPSET = 17
INPUT = "input.1"

# Per variant: encoder stages En_1..En_6, decoder stages De_5..De_1 as (block, in, mid, out),
# then the side convs' input channels for d1..d6 (from De_1, De_2, De_3, De_4, De_5, En_6).
_CONFIGS = {
    "u2net": {
        "encoder": [(7, 3, 32, 64), (6, 64, 32, 128), (5, 128, 64, 256), (4, 256, 128, 512),
                    ("4F", 512, 256, 512), ("4F", 512, 256, 512)],
        "decoder": [("4F", 1024, 256, 512), (4, 1024, 128, 256), (5, 512, 64, 128),
                    (6, 256, 32, 64), (7, 128, 16, 64)],
        "sides": [64, 64, 128, 256, 512, 512],
    },
    "u2netp": {
        "encoder": [(7, 3, 16, 64), (6, 64, 16, 64), (5, 64, 16, 64), (4, 64, 16, 64),
                    ("4F", 64, 16, 64), ("4F", 64, 16, 64)],
        "decoder": [("4F", 128, 16, 64), (4, 128, 16, 64), (5, 128, 16, 64),
                    (6, 128, 16, 64), (7, 128, 16, 64)],
        "sides": [64, 64, 64, 64, 64, 64],
    },
}

# Each RSU block ends in `hx1d + hxin`, two non-negative ReLU outputs, so with variance-preserving
# convs every block would roughly double the signal; eleven blocks deep that saturates the sigmoids.
# Scaling the block's last conv by this keeps activations O(1) end to end (checked empirically), the
# way trained BatchNorm would.
_RESIDUAL_GAIN = 0.5


class _Graph:
    """Accumulates nodes and initializers; tracks each tensor's static [C, H, W] for Resize sizes."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shape: dict[str, tuple[int, int, int]] = {}
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def weight(self, array: np.ndarray, prefix: str) -> str:
        """An initializer (float32 here; isnet_arch stores fp16 behind a Cast, as fp16 exports do)."""
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def conv(self, x: str, out_ch: int, *, k: int = 3, dilation: int = 1, relu: bool = True,
             gain: float = 1.0, prefix: str = "conv", stride: int = 1) -> str:
        in_ch, h, w = self.shape[x]
        fan_in = in_ch * k * k
        # He-normal for conv+ReLU (std sqrt(2/fan_in)); plain LeCun (1/fan_in) where no ReLU follows.
        std = gain * math.sqrt((2.0 if relu else 1.0) / fan_in)
        weight = self.rng.standard_normal((out_ch, in_ch, k, k), dtype=np.float32) * np.float32(std)
        # A small random bias stands in for the folded BatchNorm shift (beta - mean * scale).
        bias = self.rng.standard_normal(out_ch, dtype=np.float32) * np.float32(0.01)
        wn, bn, y = self.weight(weight, prefix + "_w"), self.weight(bias, prefix + "_b"), self.name(prefix)
        pad = dilation * (k // 2)  # "same" output size, as padding=dirate in REBNCONV
        self.nodes.append(helper.make_node(
            "Conv", [x, wn, bn], [y], kernel_shape=[k, k], dilations=[dilation, dilation],
            pads=[pad] * 4, strides=[stride, stride]))
        self.shape[y] = (out_ch, -(-h // stride), -(-w // stride))
        if not relu:
            return y
        r = self.name(prefix + "_relu")
        self.nodes.append(helper.make_node("Relu", [y], [r]))
        self.shape[r] = self.shape[y]
        return r

    def pool(self, x: str) -> str:
        c, h, w = self.shape[x]
        y = self.name("pool")
        # ceil_mode=1 as nn.MaxPool2d(2, stride=2, ceil_mode=True): odd sizes keep their last row/column.
        self.nodes.append(helper.make_node("MaxPool", [x], [y], kernel_shape=[2, 2], strides=[2, 2],
                                           ceil_mode=1))
        self.shape[y] = (c, -(-h // 2), -(-w // 2))
        return y

    def upsample_like(self, x: str, target: str) -> str:
        c = self.shape[x][0]
        _, h, w = self.shape[target]
        if self.shape[x][1:] == (h, w):
            return x
        sizes = self.name("sizes")
        self.inits.append(numpy_helper.from_array(np.array([1, c, h, w], dtype=np.int64), sizes))
        y = self.name("up")
        # F.interpolate(mode="bilinear", align_corners=False) exports as linear + half_pixel.
        self.nodes.append(helper.make_node(
            "Resize", [x, "", "", sizes], [y], mode="linear", coordinate_transformation_mode="half_pixel"))
        self.shape[y] = (c, h, w)
        return y

    def concat(self, *xs: str) -> str:
        y = self.name("cat")
        self.nodes.append(helper.make_node("Concat", list(xs), [y], axis=1))
        _, h, w = self.shape[xs[0]]
        self.shape[y] = (sum(self.shape[x][0] for x in xs), h, w)
        return y

    def add(self, a: str, b: str) -> str:
        y = self.name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [y]))
        self.shape[y] = self.shape[a]
        return y

    def sigmoid(self, x: str, out: str) -> str:
        self.nodes.append(helper.make_node("Sigmoid", [x], [out]))
        self.shape[out] = self.shape[x]
        return out

    # --- U2-Net blocks -------------------------------------------------------------------------

    def rsu(self, x: str, height: int, mid: int, out: int) -> str:
        """RSU-L (L = height): a U-Net of depth L-1 with pooling, a dilated bottom, and a residual."""
        hxin = self.conv(x, out)
        enc = [self.conv(hxin, mid)]
        for _ in range(height - 2):  # L-2 pools, then one more conv at the lowest resolution
            enc.append(self.conv(self.pool(enc[-1]), mid))
        hx = self.conv(enc[-1], mid, dilation=2)
        for i, skip in enumerate(reversed(enc)):
            last = i == len(enc) - 1
            hx = self.conv(self.concat(self.upsample_like(hx, skip), skip), out if last else mid,
                           gain=_RESIDUAL_GAIN if last else 1.0)
        return self.add(hx, hxin)

    def rsu4f(self, x: str, mid: int, out: int) -> str:
        """RSU-4F: dilations 1, 2, 4, 8 instead of pooling, for the low-resolution stages."""
        hxin = self.conv(x, out)
        hx1 = self.conv(hxin, mid, dilation=1)
        hx2 = self.conv(hx1, mid, dilation=2)
        hx3 = self.conv(hx2, mid, dilation=4)
        hx4 = self.conv(hx3, mid, dilation=8)
        hx3d = self.conv(self.concat(hx4, hx3), mid, dilation=4)
        hx2d = self.conv(self.concat(hx3d, hx2), mid, dilation=2)
        hx1d = self.conv(self.concat(hx2d, hx1), out, dilation=1, gain=_RESIDUAL_GAIN)
        return self.add(hx1d, hxin)

    def block(self, x: str, spec: tuple) -> str:
        kind, in_ch, mid, out = spec
        assert self.shape[x][0] == in_ch, (spec, self.shape[x])
        return self.rsu4f(x, mid, out) if kind == "4F" else self.rsu(x, kind, mid, out)


def _build_graph(variant: str, seed: int) -> onnx.GraphProto:
    cfg = _CONFIGS[variant]
    g = _Graph(np.random.default_rng(seed))
    g.shape[INPUT] = (3, SIDE, SIDE)

    # Encoder: En_1..En_5 each followed by a 2x2 max-pool; En_6 at the lowest resolution.
    enc, x = [], INPUT
    for i, spec in enumerate(cfg["encoder"]):
        enc.append(g.block(x, spec))
        if i < len(cfg["encoder"]) - 1:
            x = g.pool(enc[-1])

    # Decoder: De_5..De_1, each on [upsampled deeper output, same-level encoder output].
    dec, hx = [], enc[-1]
    for spec, skip in zip(cfg["decoder"], reversed(enc[:-1])):
        hx = g.block(g.concat(g.upsample_like(hx, skip), skip), spec)
        dec.append(hx)

    # Side outputs d1..d6 from De_1, De_2, De_3, De_4, De_5, En_6, each brought to the input size.
    sources = list(reversed(dec)) + [enc[-1]]
    sides = []
    for src, ch in zip(sources, cfg["sides"]):
        assert g.shape[src][0] == ch
        sides.append(g.upsample_like(g.conv(src, 1, relu=False, prefix="side"), INPUT))
    fused = g.conv(g.concat(*sides), 1, k=1, relu=False, prefix="outconv")

    names = ["d0"] + [f"d{i}" for i in range(1, 7)]
    for logits, name in zip([fused] + sides, names):
        g.sigmoid(logits, name)
    return helper.make_graph(
        g.nodes, f"{variant}_random",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 3, SIDE, SIDE])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, SIDE, SIDE]) for n in names],
        initializer=g.inits,
    )


def build_u2net(path, variant: str = "u2net", seed: int = 0) -> Path:
    """Write a random-weight U2-Net (`u2net`, 44.0 M params) or U2-NetP (`u2netp`, 1.13 M) to `path`."""
    if variant not in _CONFIGS:
        raise ValueError(f"variant must be one of {sorted(_CONFIGS)}, not {variant!r}")
    model = helper.make_model(_build_graph(variant, seed), opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="imgapi.bench.u2net_arch")
    model.ir_version = 8  # readable by any onnxruntime >= 1.10, like rembg's own exports
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # 176 MB at most: well under protobuf's 2 GB limit, so one self-contained file.
    onnx.save_model(model, str(path))
    return path


def count_parameters(path) -> int:
    """Number of float weights (fp32 or fp16) in the model's initializers (Resize size vectors are not parameters)."""
    model = onnx.load(str(path))
    kinds = (TensorProto.FLOAT, TensorProto.FLOAT16)
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type in kinds)


def u2net_home(work: Path, variant: str = "u2net") -> Path:
    """A U2NET_HOME whose "u2net" model is the `variant`-shaped random-weight one, built once and prepared as the
    worker image's build prepares it (engine/model_prep), so every bench section times the same graph."""
    from imgapi.engine import model_prep

    home = work / "models" / variant
    path = home / "models" / "u2net" / "u2net.onnx"  # rembg's "u2net" session loads this file
    if not path.exists():
        build_u2net(path, variant)
    if model_prep.prepared_model(path) is None:
        model_prep.prepare(path)
    return home
