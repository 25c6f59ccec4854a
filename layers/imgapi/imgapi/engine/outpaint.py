"""expand on the local engine: grow the canvas and fill the new area so it continues the image's edges.

No generative model. Each new strip continues the colours of the original's edge beside it: the mean of a
thin ring along that edge, carried straight outward and blurred along the edge more and more with distance
(a box of half-width half the distance, applied twice), so detail right at the seam turns into broad colour
further out. Left and right are extended first, then top and bottom from the widened rows, so the corners
continue both. No seam (the first new row is the edge's own mean colour), no streaks far out, gradients kept
along the edge (a sky stays blue above a blue edge). The grain of the original's border (sensor noise, film
grain, JPEG texture) is measured and added to the fill at the same strength, so the smooth fill does not show
as a flat patch beside a textured photo. The original pixels are copied back last, unchanged to the bit.

It cannot invent anything: objects, structured textures (brick, foliage, text) and perspective lines are
continued as smeared edge colour, a gradient across an edge is carried on at the edge's colour (not
extrapolated), and a subject cut by the frame stays cut (its colour streaks outward).
"""
from __future__ import annotations

import cv2
import numpy as np

from imgapi.engine.enhance import bleed
from imgapi.core.errors import JobFailure
from imgapi.engine.pipeline import ImageOutput, Stages, decode, encode, to_rgba
from imgapi.core.vocabulary import SCALE_RANGE

SIDES = ("top", "bottom", "left", "right")
# The ring along each edge whose mean colour is carried outward, in pixels.
_RING = 3
# At a distance d from the edge, the colours are blurred along it by a box of half-width d * this (twice).
_BLUR_PER_DISTANCE = 0.5
# Grain: measured on a strip this wide along each seam, as the residual of a blur of this sigma,
# and never added stronger than this (a very busy border is texture, not grain).
_GRAIN_STRIP = 24
_GRAIN_SIGMA = 1.5
_GRAIN_MAX_STD = 8.0
_GRAIN_SEED = 20250101  # a fixed seed: the same input always gives the same output


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


def grain_std(edges: list[np.ndarray]) -> np.ndarray:
    """Per channel: the standard deviation of the fine texture (residual of a blur) in strips of the image
    along the given edges, robustly (median absolute deviation), capped."""
    residuals = []
    for strip in edges:
        strip = strip.astype(np.float32)
        residuals.append((strip - cv2.GaussianBlur(strip, (0, 0), _GRAIN_SIGMA)).reshape(-1, strip.shape[-1]))
    stacked = np.concatenate(residuals)
    mad = np.median(np.abs(stacked - np.median(stacked, axis=0)), axis=0)
    # A blur of this sigma leaves about 96.5% of white noise's variance in the residual.
    return np.minimum(1.4826 * mad / np.sqrt(0.965), _GRAIN_MAX_STD)


def add_grain(image: np.ndarray, std: np.ndarray, rows: int = 512) -> None:
    """Adds Gaussian grain of the given per-channel strength to the colour channels of a float image, in place
    (a band of rows at a time: no second full-size array); the same image always gets the same grain."""
    if std.max() < 0.5:
        return
    rng = np.random.default_rng(_GRAIN_SEED)
    scale = std.astype(np.float32)
    for top in range(0, image.shape[0], rows):
        band = image[top:top + rows, :, :3]
        noise = rng.standard_normal(band.shape, dtype=np.float32)
        noise *= scale
        band += noise


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


def expand(rgb: np.ndarray, alpha: np.ndarray | None, scales: dict[str, float], *,
           max_pixels: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The canvas grown by the scales (see margins), the new area filled; the original pixels unchanged."""
    height, width = rgb.shape[:2]
    pad = margins(width, height, scales)
    top, left = pad["top"], pad["left"]
    out_w, out_h = width + left + pad["right"], height + top + pad["bottom"]
    if out_w * out_h > max_pixels:
        raise JobFailure(f"the expanded image would be {out_w}x{out_h} ({out_w * out_h} pixels); the limit is "
                         f"{max_pixels} pixels: use smaller scales or a smaller image", code="too_many_pixels")
    if out_w == width and out_h == height:
        return rgb, alpha
    # Hidden colours under transparency are meaningless (often black): give them their visible neighbours' first.
    original = rgb if alpha is None else np.dstack([bleed(rgb, alpha), alpha])
    canvas = np.empty((out_h, out_w, original.shape[2]), np.float32)
    band = canvas[top:top + height]  # the original's rows, widened left and right
    band[:, left:left + width] = original
    ring = min(_RING, width)
    band[:, :left] = extend_edge(original[:, :ring].mean(axis=1), left)[::-1].transpose(1, 0, 2)
    band[:, left + width:] = extend_edge(original[:, -ring:].mean(axis=1), pad["right"]).transpose(1, 0, 2)
    ring = min(_RING, height)
    canvas[:top] = extend_edge(band[:ring].mean(axis=0), top)[::-1]
    canvas[top + height:] = extend_edge(band[-ring:].mean(axis=0), pad["bottom"])
    strips = [strip for side, strip in (("top", rgb[:_GRAIN_STRIP]), ("bottom", rgb[-_GRAIN_STRIP:]),
                                        ("left", rgb[:, :_GRAIN_STRIP]), ("right", rgb[:, -_GRAIN_STRIP:]))
              if pad[side] > 0]
    add_grain(canvas, grain_std(strips))
    np.rint(canvas, out=canvas)
    np.clip(canvas, 0, 255, out=canvas)
    out = canvas.astype(np.uint8)
    del canvas, band
    out[top:top + height, left:left + width] = rgb if alpha is None else np.dstack([rgb, alpha])  # exactly, last
    if alpha is None:
        return out, None
    return np.ascontiguousarray(out[..., :3]), np.ascontiguousarray(out[..., 3])


def run_expand(data: bytes, scales: dict[str, float], *, max_pixels: int, fmt: str = "png",
               timings: dict | None = None) -> ImageOutput:
    """expand on bytes: the image grown by the scales, as PNG (or WebP), transparency kept."""
    stage = Stages(timings)
    with stage("decode"):
        image, own_alpha = decode(data)
        rgb = np.asarray(image)
    with stage("fill"):
        rgb, alpha = expand(rgb, own_alpha, scales, max_pixels=max_pixels)
    if alpha is None:
        alpha = np.full(rgb.shape[:2], 255, np.uint8)
    with stage("encode"):
        return encode(to_rgba(rgb, alpha), fmt)
