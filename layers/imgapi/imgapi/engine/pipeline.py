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
from PIL import Image

from imgapi.engine import cutout
from imgapi.engine.cutout_settings import RemovalConfig
from imgapi.engine.enhance import bleed, enhance_colour, resample
from imgapi.engine.enhance_levels import FIX_FACTORS, LEVELS, OUTPUT_FORMATS, EnhanceLevel, fix_level, output_size
from imgapi.core.errors import ApiError, JobFailure
from imgapi.engine.image_input import decode_upright
from imgapi.engine.png_writer import encode_rgba
from imgapi.core.settings import get_settings

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


def decode(data: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None) -> tuple[Image.Image, np.ndarray | None]:
    """The upright RGB image and its own alpha channel if it has one; JobFailure if it is not an image we accept.

    Every input goes through image_input's checks here, whoever stored it (defence in depth: an object put in the
    bucket directly meets the same rules as an upload) and its one normalisation (EXIF orientation, colour mode).
    The limits default to the deployment's settings."""
    settings = get_settings()
    try:
        img, _ = decode_upright(data, max_bytes=settings.max_upload_bytes if max_bytes is None else max_bytes,
                                max_pixels=settings.max_input_pixels if max_pixels is None else max_pixels)
    except ApiError as refused:
        raise JobFailure(f"the input image could not be decoded: {refused.message}", code=refused.code) from refused
    if img.mode == "RGBA":
        alpha = np.asarray(img.getchannel("A"))
        return img.convert("RGB"), alpha
    return img, None


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
