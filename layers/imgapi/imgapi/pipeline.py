"""The image worker's pipelines, on bytes in and bytes out: the same code runs in Lambda and in `imgapi process`.

The mask is computed at the model's resolution and resampled once, straight to the output size;
colour is denoised, resampled and sharpened on uint8 arrays; the result is encoded with a fast
PNG setting (or lossless WebP). Pass `timings` (a dict) to get the seconds spent in each stage.
"""
from __future__ import annotations

import io
import time
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps

from . import cutout
from .enhance import bleed, enhance_colour, resample
from .enhance_levels import FIX_FACTORS, LEVELS, OUTPUT_FORMATS, EnhanceLevel, fix_level, output_size
from .errors import JobFailure
from .png_writer import encode_rgba
from .removal_configs import RemovalConfig

@dataclass
class ImageOutput:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int

    def describe(self) -> dict:
        return {"content_type": self.content_type, "size_bytes": len(self.data), "width": self.width, "height": self.height}


class Stages:
    """Adds up wall-clock seconds per named stage into a dict (or does nothing without one)."""

    def __init__(self, timings: dict[str, float] | None):
        self.timings = timings

    @contextmanager
    def __call__(self, name: str):
        if self.timings is None:
            yield
            return
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started


def decode(data: bytes) -> tuple[Image.Image, np.ndarray | None]:
    """The upright RGB image and its own alpha channel if it has one; JobFailure if it cannot be decoded."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            img = ImageOps.exif_transpose(img)  # phones store portraits sideways with an EXIF flag
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise JobFailure(f"the input image could not be decoded (corrupt or truncated?): {exc}", code="corrupt_image") from exc
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        return rgba.convert("RGB"), np.asarray(rgba.getchannel("A"))
    if img.mode.startswith("I;16") or img.mode == "I":
        img = img.point(lambda v: v / 256).convert("L")  # 16-bit grey: keep the top 8 bits
    return (img if img.mode == "RGB" else img.convert("RGB")), None


def apply_background_colour(rgb: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    a = alpha.astype(np.float32)[..., None] / 255.0
    bg_a = colour[3] / 255.0
    out_a = a + bg_a * (1.0 - a)
    out_rgb = (rgb * a + np.array(colour[:3], np.float32) * bg_a * (1.0 - a)) / np.maximum(out_a, 1e-4)
    return np.clip(out_rgb, 0, 255).astype(np.uint8), np.rint(out_a[..., 0] * 255).astype(np.uint8)


def encode(rgba: np.ndarray, fmt: str = "png") -> ImageOutput:
    height, width = rgba.shape[:2]
    if fmt == "webp":
        buffer = io.BytesIO()
        Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1).save(
            buffer, "WEBP", lossless=True, quality=0, method=0)
        return ImageOutput(buffer.getvalue(), "image/webp", "webp", width, height)
    return ImageOutput(encode_rgba(rgba, threads=cutout.cpu_count()), "image/png", "png", width, height)


def to_rgba(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """One RGBA array, with invisible pixels zeroed so they compress to nothing."""
    rgba = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    rgba[..., 3] = alpha
    rgba[alpha == 0] = 0
    return rgba


def cut_out(data: bytes, config: RemovalConfig, level: EnhanceLevel | None, *, max_edge: int,
            fmt: str = "png", timings: dict[str, float] | None = None) -> ImageOutput:
    """Remove the background and, with a level, enhance the cut-out; encode the result."""
    if fmt not in OUTPUT_FORMATS:
        raise JobFailure(f"format must be one of {', '.join(OUTPUT_FORMATS)}", code="bad_parameter")
    stage = Stages(timings)
    with stage("decode"):
        image, own_alpha = decode(data)
    width, height = image.size
    size = output_size(width, height, level.scale, max_edge) if level else (width, height)
    mask = cutout.model_mask(image, config.model, stage)
    if own_alpha is None and not (config.alpha_matting or config.post_process_mask) and mask.shape != (height, width):
        # The common case: colour is the photo's own everywhere, so it is enhanced as it is and
        # the model's mask is resampled once, straight to the output size.
        with stage("enhance"):
            photo = np.asarray(image)
            image.close()  # frees Pillow's copy of the pixels: on a 12 MP photo, 36 MB less at the peak
            rgb = enhance_colour(photo, level, size) if level else photo
            del photo
        with stage("mask"):
            alpha = resample(mask, size)
    else:
        with stage("mask"):
            rgb, alpha = cutout.refine(image, resample(mask, (width, height)), config.alpha_matting, config.post_process_mask,
                                       (config.alpha_matting_foreground_threshold, config.alpha_matting_background_threshold,
                                        config.alpha_matting_erode_size))
            if own_alpha is not None:
                alpha = np.minimum(alpha, own_alpha)  # what was transparent stays transparent
        with stage("composite"):
            rgb = bleed(rgb, alpha)
        with stage("enhance"):
            rgb = enhance_colour(rgb, level, size) if level else rgb
            alpha = resample(alpha, size)
    with stage("composite"):
        if config.bgcolor:
            rgb, alpha = apply_background_colour(rgb, alpha, config.bgcolor)
        rgba = to_rgba(rgb, alpha)
        del rgb, alpha
    with stage("encode"):
        return encode(rgba, fmt)


def run_remove_bg(data: bytes, config: RemovalConfig, *, fmt: str = "png", timings: dict | None = None) -> ImageOutput:
    """Background removal alone: an image the size of the input, transparent where the background was."""
    return cut_out(data, config, None, max_edge=10**6, fmt=fmt, timings=timings)


def run_combo(data: bytes, level: str, config: RemovalConfig, *, max_edge: int, fmt: str = "png",
              timings: dict | None = None) -> ImageOutput:
    """Remove the background, then enhance the cut-out by the level (see enhance.LEVELS)."""
    if level not in LEVELS:
        raise JobFailure(f"unknown enhance level {level!r}", code="bad_parameter")
    return cut_out(data, config, LEVELS[level], max_edge=max_edge, fmt=fmt, timings=timings)


def run_fix(data: bytes, factor: int, *, max_edge: int, fmt: str = "png", timings: dict | None = None) -> ImageOutput:
    """Super-resolution and repair (the local engine's fix): the combo's enhancement without the cut-out, at
    upscale_factor 1-4 (1 = sharpen without enlarging), capped like the combo's output; alpha is kept."""
    if factor not in FIX_FACTORS:
        raise JobFailure(f"upscale_factor must be one of {', '.join(map(str, FIX_FACTORS))}", code="bad_parameter")
    stage = Stages(timings)
    with stage("decode"):
        image, own_alpha = decode(data)
    level = fix_level(factor)
    size = output_size(*image.size, level.scale, max_edge)
    with stage("enhance"):
        rgb = np.asarray(image)
        if own_alpha is not None:
            rgb = bleed(rgb, own_alpha)  # hidden colours must not seep into the edge as it is resampled
        rgb = enhance_colour(rgb, level, size)
        alpha = resample(own_alpha, size) if own_alpha is not None else np.full(rgb.shape[:2], 255, np.uint8)
    with stage("encode"):
        return encode(to_rgba(rgb, alpha), fmt)
