"""expand on the local engine: grow the canvas and fill the new border, without a generative model.

The fill is exemplar synthesis (engine/exemplar_fill): the border is quilted from patches of the photo taken along
the edge each part continues, so texture (grass, gravel, wood, fabric, sky, walls) carries on with the photo's own
sharpness and grain. It cannot invent: an object cut by the frame is not completed, and what lies beyond the frame
is a plausible continuation of what lies along it, never the real scene. `make bench` (bench/quality.py) measures it
against OpenCV's inpainting (Telea) on real photos. When the deployment bakes an inpainting model into the worker
(EXPAND_MODEL; the second half of this module), that model fills the border instead. Transparency: the alpha of the border
continues the edge's own (the edge's mean carried outward, blurred with distance), so a cut-out stays cut out.
The result says which fill ran (ImageOutput.expander). The original pixels are copied back last, unchanged to the bit.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import cv2
import numpy as np

from imgapi.core.cpus import cpu_count
from imgapi.core.errors import JobFailure
from imgapi.core.observability import logger
from imgapi.core.vocabulary import SCALE_RANGE
from imgapi.engine import exemplar_fill
from imgapi.engine.enhance import bleed
from imgapi.engine.pipeline import ImageOutput, Stages, decode, encode, to_rgba

SIDES = ("top", "bottom", "left", "right")
EXEMPLAR = "exemplar synthesis (local, not generative)"
# At a distance d from the edge, the alpha is blurred along it by a box of half-width d * this (twice).
_BLUR_PER_DISTANCE = 0.5
_RING = 3  # the ring along each edge whose mean alpha is carried outward, in pixels


def margins(width: int, height: int, scales: dict[str, float]) -> dict[str, int]:
    """Pixels added on each side for DashScope's expand scales.

    wanx2.1-imageedit documents top_scale, bottom_scale, left_scale, right_scale as "图像居中，向上按比例扩展图像。
    默认值为1.0，取值范围[1.0, 2.0]" (image centred, expand upward in proportion; 1.0-2.0), and its video twin's
    English reference says "setting left_scale to 1.5 expands the left side of the frame to 1.5 times its original
    width" (help.aliyun.com wanx-image-edit-api-reference; alibabacloud.com wan-vace-guide). So a scale multiplies the
    extent from the image's centre to that side: top_scale 1.5 adds a quarter of the height above the image, and
    all four at 2.0 centre the image on a canvas twice its width and height, as image-out-painting's x_scale/y_scale
    2.0 does.
    """
    low, high = SCALE_RANGE
    for side in SIDES:
        value = scales[side]
        if not low <= value <= high:
            raise JobFailure(f"{side}_scale must be from {low:g} to {high:g}; got {value!r}", code="bad_parameter")
    half_w, half_h = width / 2, height / 2
    return {"top": round((scales["top"] - 1) * half_h), "bottom": round((scales["bottom"] - 1) * half_h),
            "left": round((scales["left"] - 1) * half_w), "right": round((scales["right"] - 1) * half_w)}


def _box(line: np.ndarray, radius: int) -> np.ndarray:
    """A (N, C) line blurred along N by a box of 2 * radius + 1, its ends extended with their own values."""
    if radius <= 0:
        return line
    padded = np.pad(line, ((radius + 1, radius), (0, 0)), mode="edge")
    sums = np.cumsum(padded, axis=0, dtype=np.float64)
    return ((sums[2 * radius + 1:] - sums[:-2 * radius - 1]) / (2 * radius + 1)).astype(np.float32)


def extend_edge(edge: np.ndarray, length: int) -> np.ndarray:
    """(length, N, C): the rows 1 ... length away from an edge whose colours are `edge` (N, C), each one the edge
    blurred along itself in proportion to its distance."""
    rows = np.empty((length,) + edge.shape, np.float32)
    for distance in range(1, length + 1):
        radius = int(distance * _BLUR_PER_DISTANCE)
        rows[distance - 1] = _box(_box(edge, radius), radius)
    return rows


def _carry_alpha(alpha: np.ndarray, pad: dict[str, int]) -> np.ndarray:
    """The alpha of the grown canvas: each edge's mean (of a thin ring) carried straight outward and blurred along
    the edge more and more with distance; left and right first, then top and bottom from the widened rows."""
    height, width = alpha.shape
    top, left = pad["top"], pad["left"]
    original = alpha[..., None].astype(np.float32)
    canvas = np.empty((height + top + pad["bottom"], width + left + pad["right"], 1), np.float32)
    band = canvas[top:top + height]
    band[:, left:left + width] = original
    ring = min(_RING, width)
    band[:, :left] = extend_edge(original[:, :ring].mean(axis=1), left)[::-1].transpose(1, 0, 2)
    band[:, left + width:] = extend_edge(original[:, -ring:].mean(axis=1), pad["right"]).transpose(1, 0, 2)
    ring = min(_RING, height)
    canvas[:top] = extend_edge(band[:ring].mean(axis=0), top)[::-1]
    canvas[top + height:] = extend_edge(band[-ring:].mean(axis=0), pad["bottom"])
    return np.clip(np.rint(canvas[..., 0]), 0, 255).astype(np.uint8)


def expand(rgb: np.ndarray, alpha: np.ndarray | None, scales: dict[str, float], *, max_pixels: int,
           model: str = "") -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """The canvas grown by the scales (see margins), the new area filled; the original pixels unchanged. `model`:
    the path of a deployer's inpainting model, used when it is there. Returns the RGB, the alpha (None when the
    input had none) and what filled the border (None when nothing was added)."""
    height, width = rgb.shape[:2]
    pad = margins(width, height, scales)
    top, left = pad["top"], pad["left"]
    out_w, out_h = width + left + pad["right"], height + top + pad["bottom"]
    if out_w * out_h > max_pixels:
        raise JobFailure(f"the expanded image would be {out_w}x{out_h} ({out_w * out_h} pixels); the limit is "
                         f"{max_pixels} pixels: use smaller scales or a smaller image", code="too_many_pixels")
    if out_w == width and out_h == height:
        return rgb, alpha, None
    # Hidden colours under transparency are meaningless (often black): give them their visible neighbours' first.
    colours = rgb if alpha is None else bleed(rgb, alpha)
    if model and os.path.isfile(model):
        out, expander = model_fill(colours, pad, model), describe_model(model)
    else:
        if model:
            logger.warning("expand runs the exemplar synthesis: the inpainting model file is missing",
                           extra={"expand_model": os.path.basename(model)})
        out, expander = exemplar_fill.fill(colours, pad), EXEMPLAR if not model else \
            f"{EXEMPLAR}; the deployment's inpainting model is missing"
    out[top:top + height, left:left + width] = rgb  # exactly, last
    if alpha is None:
        return out, None, expander
    out_alpha = _carry_alpha(alpha, pad)
    out_alpha[top:top + height, left:left + width] = alpha
    return out, out_alpha, expander


def run_expand(data: bytes, scales: dict[str, float], *, max_pixels: int, fmt: str = "png",
               timings: dict | None = None, model: str = "") -> ImageOutput:
    """expand on bytes: the image grown by the scales, as PNG (or WebP), transparency kept; the output's
    `expander` says what filled the border."""
    stage = Stages(timings)
    with stage("decode"):
        image, own_alpha = decode(data)
        rgb = np.asarray(image)
    with stage("fill"):
        rgb, alpha, expander = expand(rgb, own_alpha, scales, max_pixels=max_pixels, model=model)
    if alpha is None:
        alpha = np.full(rgb.shape[:2], 255, np.uint8)
    with stage("encode"):
        output = encode(to_rgba(rgb, alpha), fmt)
    output.expander = expander
    return output

# The deployment's inpainting model: an ONNX file baked into the worker image, never downloaded at run time
# (functions/image_worker/Dockerfile: EXPAND_MODEL_URL and EXPAND_MODEL_SHA256, checked when the image is built).
# None ships with the project: a deployer who has a licence for one chooses it. Two shapes are understood, told
# apart by the model's own signature (two inputs: the image, 3 channels, and the mask, 1 channel; one output image):
# - LaMa's ONNX exports: float inputs, the image in 0..1, the mask 1 where to fill; the output in 0..255 (or 0..1,
#   told by its range); usually a fixed 512 x 512.
# - MI-GAN's ONNX pipeline: uint8 inputs, the mask 255 where the image is known and 0 where to fill; uint8 out; any size.
# The grown canvas (the new border empty) is resized to the model's size (a fixed one, or at most MODEL_MAX_SIDE on
# its longer edge), filled, and the model's output resized back is used on the new border only.

MODEL_MAX_SIDE = 1024  # the longer edge a model of any size runs at (the border is resized back from it)


class ModelSignatureError(ValueError):
    """The file is not an image + mask -> image inpainting model."""


@dataclass(frozen=True)
class Signature:
    image: str
    mask: str
    integer: bool  # uint8 in and out, the mask's 255 meaning known (MI-GAN); else float, 1 meaning fill (LaMa)
    size: tuple[int, int] | None  # (width, height) when the model takes one size only


def describe_model(path: str) -> str:
    """What a job's result says about the model that filled its border."""
    return f"inpainting model {os.path.basename(path)} (onnx, the deployment's)"


def signature(session) -> Signature:
    """The inputs' roles and conventions, from the model itself; ModelSignatureError when it is not inpainting's."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 2 or len(outputs) < 1:
        raise ModelSignatureError(f"an inpainting model takes an image and a mask and gives an image; this one takes "
                                  f"{len(inputs)} input(s) and gives {len(outputs)}")
    channels = {arg.name: arg.shape[1] if len(arg.shape) == 4 else None for arg in inputs}
    image = next((arg for arg in inputs if channels[arg.name] == 3), None)
    mask = next((arg for arg in inputs if channels[arg.name] == 1), None)
    if image is None or mask is None or len(outputs[0].shape) != 4:
        raise ModelSignatureError("an inpainting model's inputs are an image [1, 3, H, W] and a mask [1, 1, H, W]; "
                                  f"this one's are {[(arg.name, arg.shape) for arg in inputs]}")
    height, width = image.shape[2:]
    size = (width, height) if isinstance(width, int) and isinstance(height, int) else None
    return Signature(image.name, mask.name, image.type == "tensor(uint8)", size)


@functools.lru_cache(maxsize=2)
def load_model(path: str, threads: int):
    """The session and its signature, loaded once per process (a warm worker does not reload it)."""
    import onnxruntime as ort  # here: a worker that never expands with a model never loads it for this

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session, signature(session)


def model_fill(rgb: np.ndarray, pad: dict[str, int], path: str) -> np.ndarray:
    """`rgb` (H, W, 3 uint8) on the canvas grown by `pad`, the new border filled by the model at `path`."""
    session, spec = load_model(path, cpu_count())
    h, w = rgb.shape[:2]
    top, left = pad["top"], pad["left"]
    height, width = h + top + pad["bottom"], w + left + pad["right"]
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[top:top + h, left:left + w] = rgb
    hole = np.ones((height, width), np.float32)
    hole[top:top + h, left:left + w] = 0
    size = spec.size or _model_size(width, height)
    small = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole, size, interpolation=cv2.INTER_AREA) > 0  # a pixel partly new is to be filled
    small[small_hole] = 0
    image = small.transpose(2, 0, 1)[None]
    if spec.integer:
        feed = {spec.image: np.ascontiguousarray(image),
                spec.mask: np.where(small_hole, 0, 255).astype(np.uint8)[None, None]}
    else:
        feed = {spec.image: np.ascontiguousarray(image, np.float32) / 255.0,
                spec.mask: small_hole.astype(np.float32)[None, None]}
    result = np.asarray(session.run(None, feed)[0], np.float32)[0].transpose(1, 2, 0)
    if not spec.integer and result.max() <= 1.0 + 1e-3:  # an export that answers in 0..1
        result *= 255.0
    result = cv2.resize(np.clip(result, 0, 255), (width, height), interpolation=cv2.INTER_CUBIC)
    out = np.clip(result + 0.5, 0, 255).astype(np.uint8)
    out[top:top + h, left:left + w] = rgb
    return out


def _model_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) for a model of any size: at most MODEL_MAX_SIDE on the longer edge, multiples of 8."""
    factor = min(1.0, MODEL_MAX_SIDE / max(width, height))
    return max(8, round(width * factor / 8) * 8), max(8, round(height * factor / 8) * 8)
