"""change_bg on the local engine: the subject of one image in front of another image.

1. The subject: the base image's own alpha when it has transparency (a cut-out), else the rembg model's
   mask, resampled once, straight to the base's size.
2. Its edge decontaminated: every pixel that is not solid subject takes the colour of the solid subject
   nearest to it (pull-push from the solid region, enhance.spread), so no trace of the old background
   comes along into the new picture (no halo, whatever the edge's width).
3. The alpha feathered by a Gaussian of about a pixel (more on large images), so a hard, aliased cut-out
   edge gets the soft transition a photographed edge has.
4. The reference scaled, aspect kept, to cover the output and centred; the output has the base's size.
5. The composite: solid subject pixels are the base's own, background pixels the reference's, and the
   edge in between is blended in linear light, as light mixes (sRGB blending darkens edges).
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from imgapi.engine import cutout
from imgapi.engine.enhance import resample, spread
from imgapi.engine.pipeline import ImageOutput, Stages, apply_background_colour, decode, encode

# Alpha from which a pixel counts as solid subject: its colour is the subject's own.
SOLID_ALPHA = 250
# The feather's sigma in pixels: at least this, and more on large images (a fraction of the longer side).
FEATHER_MIN_SIGMA = 0.7
FEATHER_SIDE_FRACTION = 1 / 1500
WHITE = (255, 255, 255, 255)


def subject_alpha(image: Image.Image, own_alpha: np.ndarray | None, model: str,
                  clock: cutout.Clock | None = None) -> np.ndarray:
    """The subject's alpha at the image's size: its own if it has any transparency, else the model's mask."""
    if own_alpha is not None and (own_alpha < 255).any():
        return own_alpha
    return resample(cutout.model_mask(image, model, clock), image.size)


def cover(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The image scaled (aspect kept) to cover `size` (width, height), centred and cropped to it."""
    width, height = size
    source_h, source_w = image.shape[:2]
    scale = max(width / source_w, height / source_h)
    scaled_w, scaled_h = max(width, round(source_w * scale)), max(height, round(source_h * scale))
    scaled = resample(image, (scaled_w, scaled_h))
    left, top = (scaled_w - width) // 2, (scaled_h - height) // 2
    return np.ascontiguousarray(scaled[top:top + height, left:left + width])


def feather(alpha: np.ndarray) -> np.ndarray:
    sigma = max(FEATHER_MIN_SIGMA, max(alpha.shape) * FEATHER_SIDE_FRACTION)
    return cv2.GaussianBlur(alpha, (0, 0), sigma)


def decontaminate(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """float32 colours: the photo's own where the subject is solid, the nearest solid subject's elsewhere."""
    solid = alpha >= min(SOLID_ALPHA, int(alpha.max()))
    if solid.all():
        return rgb.astype(np.float32)
    return spread(rgb, solid)


def _to_linear(srgb: np.ndarray) -> np.ndarray:
    c = srgb * (1.0 / 255)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _to_srgb(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    c = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.rint(c * 255).astype(np.uint8)


def composite(rgb: np.ndarray, edge_colour: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """`rgb` where alpha is 255, `background` where it is 0, and between them `edge_colour` over the
    background in linear light (only the edge pixels are converted: it is a thin band)."""
    out = background.copy()
    solid = alpha == 255
    out[solid] = rgb[solid]
    edge = (alpha > 0) & ~solid
    a = alpha[edge].astype(np.float32)[:, None] * (1.0 / 255)
    mixed = _to_linear(edge_colour[edge]) * a + _to_linear(background[edge].astype(np.float32)) * (1.0 - a)
    out[edge] = _to_srgb(mixed)
    return out


def change_background(rgb: np.ndarray, alpha: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The subject (`rgb` with `alpha`) in front of `reference` scaled to cover it: an RGB array of rgb's size."""
    height, width = alpha.shape
    background = cover(reference, (width, height))
    return composite(rgb, decontaminate(rgb, alpha), feather(alpha), background)


def run_change_bg(base: bytes, reference: bytes, *, model: str, fmt: str = "png",
                  timings: dict | None = None) -> ImageOutput:
    """change_bg on bytes: base's subject in front of reference, at base's size, as an opaque PNG (or WebP)."""
    stage = Stages(timings)
    with stage("decode"):
        image, own_alpha = decode(base)
        ref_image, ref_alpha = decode(reference)
        backdrop = np.asarray(ref_image)
        if ref_alpha is not None:  # a reference with transparency is seen on white
            backdrop = apply_background_colour(backdrop, ref_alpha, WHITE)[0]
    alpha = subject_alpha(image, own_alpha, model, stage)
    with stage("composite"):
        out = change_background(np.asarray(image), alpha, backdrop)
    with stage("encode"):
        return encode(cv2.cvtColor(out, cv2.COLOR_RGB2RGBA), fmt)
