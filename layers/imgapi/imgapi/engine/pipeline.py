"""The image worker's pipelines, on bytes in and bytes out: the same code runs in Lambda and in `imgapi process`.

The mask is computed at the model's resolution and resampled once, straight to the output size;
colour is denoised, resampled and sharpened on uint8 arrays; the result is encoded with a fast
PNG setting (or lossless WebP, or AVIF), carrying the input's ICC profile. Pass `timings` (a dict) to get the seconds spent in each stage.
"""
from __future__ import annotations

import io
import struct
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from imgapi.core.cpus import cpu_count
from imgapi.engine import cutout, super_resolution
from imgapi.engine.cutout_settings import RemovalConfig
from imgapi.engine.enhance import bleed, enhance_colour, resample
from imgapi.engine.enhance_levels import (
    AVIF_QUALITY, AVIF_SPEED, FIX_FACTORS, JPEG_QUALITY, LEVELS, OUTPUT_FORMATS, EnhanceLevel, fix_level, output_size,
)
from imgapi.core.errors import ApiError, JobFailure
from imgapi.imagefiles.image_input import decode_upright
from imgapi.core.output_spec import OutputOptions, fit_pixels
from imgapi.imagefiles.png_writer import encode_rgba
from imgapi.core.settings import get_settings
from imgapi.core.observability import logger

@dataclass
class ImageOutput:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    foreground: object = None  # output_options.Foreground: the subject's box, when output options made it
    enhancer: str | None = None  # fix: which enlargement ran (super_resolution.describe, or classical and why)
    expander: str | None = None  # expand: what filled the new border (outpaint.run_expand)

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


def encode(pixels: np.ndarray, fmt: str = "png", icc_profile: bytes | None = None) -> ImageOutput:
    """The result in its format (png, webp, avif, jpg), with the input's ICC profile (so colours mean what they
    meant) when it had one. `pixels` is RGBA, RGB or a greyscale matte (2-D); a JPEG has no transparency, so what
    was transparent in RGBA is white there."""
    height, width = pixels.shape[:2]
    grey = pixels.ndim == 2
    extra = {"icc_profile": icc_profile} if icc_profile and not grey else {}
    if fmt == "png" and not grey and pixels.shape[2] == 4:
        data = encode_rgba(pixels, threads=cpu_count())
        return ImageOutput(with_icc_chunk(data, icc_profile) if icc_profile else data, "image/png", "png", width,
                           height)
    if fmt == "jpg" and not grey and pixels.shape[2] == 4:
        pixels = apply_background_colour(pixels[..., :3], pixels[..., 3], (255, 255, 255, 255))[0]
    image = Image.fromarray(np.ascontiguousarray(pixels), "L" if grey else ("RGBA" if pixels.shape[2] == 4 else "RGB"))
    buffer = io.BytesIO()
    if fmt == "webp":
        image.save(buffer, "WEBP", lossless=True, quality=0, method=0, **extra)
    elif fmt == "avif":
        image.save(buffer, "AVIF", quality=AVIF_QUALITY, speed=AVIF_SPEED, **extra)
    elif fmt == "jpg":
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, **extra)
    else:
        image.save(buffer, "PNG", compress_level=1, **extra)
    extension = "jpg" if fmt == "jpg" else (fmt if fmt in ("webp", "avif") else "png")
    content_type = "image/jpeg" if extension == "jpg" else f"image/{extension}"
    return ImageOutput(buffer.getvalue(), content_type, extension, width, height)


def with_icc_chunk(png: bytes, icc_profile: bytes) -> bytes:
    """The PNG with an iCCP chunk (the profile, deflated) right after its IHDR, where the PNG spec puts it."""
    payload = b"ICC Profile\0\0" + zlib.compress(icc_profile)
    chunk = struct.pack(">I", len(payload)) + b"iCCP" + payload + struct.pack(">I", zlib.crc32(b"iCCP" + payload))
    ihdr_end = 8 + 8 + 13 + 4  # the signature, then IHDR: length and type, 13 bytes, CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def to_rgba(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """One RGBA array, with invisible pixels zeroed so they compress to nothing."""
    rgba = cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    rgba[..., 3] = alpha
    rgba[alpha == 0] = 0
    return rgba


def cut_out(data: bytes, config: RemovalConfig, level: EnhanceLevel | None, *, max_edge: int,
            fmt: str = "png", timings: dict[str, float] | None = None, options: OutputOptions | None = None,
            background: np.ndarray | None = None) -> ImageOutput:
    """Remove the background and, with a level, enhance the cut-out; encode the result. With `options`
    (core/output_spec), the output options render it instead (crop, channels, background, format, size)."""
    if options is None and fmt not in OUTPUT_FORMATS:
        raise JobFailure(f"format must be one of {', '.join(OUTPUT_FORMATS)}", code="bad_parameter")
    stage = Stages(timings)
    cutout.preload(config.model)  # a model not loaded yet loads while the photo decodes
    with stage("decode"):
        image, own_alpha = decode(data)
    icc_profile = image.info.get("icc_profile")
    width, height = image.size
    size = output_size(width, height, level.scale, max_edge) if level else (width, height)
    if options is not None:
        size = fit_pixels(size, options.max_pixels)
    model_input = cutout.model_input(image, config.model, stage)
    if own_alpha is None and not (config.alpha_matting or config.post_process_mask):
        # The common case: colour is the photo's own everywhere, so it is enhanced as it is and
        # the model's mask is resampled once, straight to the output size (whatever its own size: a
        # 1024x1024 photo and IS-Net's 1024x1024 mask take this path too, not the refinements').
        # The colour needs no mask, so when the model runs on a small tensor of its own, the colour comes first:
        # on a worker's first job the model is still loading meanwhile (cutout.preload), and the photo's pixels are
        # freed before inference needs memory. A model that rembg runs on the photo itself gets its mask first.
        colour_first = model_input is not image
        mask = None if colour_first else cutout.mask_of(model_input, config.model, stage)
        with stage("enhance"):
            photo = np.asarray(image)
            image.close()  # frees Pillow's copy of the pixels: on a 12 MP photo, 36 MB less at the peak
            rgb = enhance_colour(photo, level, size) if level else resample(photo, size)
            del photo
        if colour_first:
            mask = cutout.mask_of(model_input, config.model, stage)
        del model_input
        with stage("mask"):
            alpha = resample(mask, size)
    else:
        mask = cutout.mask_of(model_input, config.model, stage)
        del model_input
        with stage("mask"):
            rgb, alpha = cutout.refine(image, resample(mask, (width, height)), config.alpha_matting, config.post_process_mask,
                                       (config.alpha_matting_foreground_threshold, config.alpha_matting_background_threshold,
                                        config.alpha_matting_erode_size))
            if own_alpha is not None:
                alpha = np.minimum(alpha, own_alpha)  # what was transparent stays transparent
        with stage("composite"):
            rgb = bleed(rgb, alpha)
        with stage("enhance"):
            rgb = enhance_colour(rgb, level, size) if level else resample(rgb, size)
            alpha = resample(alpha, size)
    if options is not None:
        from imgapi.engine.output_options import render  # it builds on this module's encoders
        with stage("encode"):
            return render(rgb, alpha, options, input_size=(width, height), background=background,
                          icc_profile=icc_profile)
    with stage("composite"):
        if config.bgcolor:
            rgb, alpha = apply_background_colour(rgb, alpha, config.bgcolor)
        rgba = to_rgba(rgb, alpha)
        del rgb, alpha
    with stage("encode"):
        return encode(rgba, fmt, icc_profile)


def run_remove_bg(data: bytes, config: RemovalConfig, *, fmt: str = "png", timings: dict | None = None,
                  options: OutputOptions | None = None, background: np.ndarray | None = None) -> ImageOutput:
    """Background removal alone: an image the size of the input, transparent where the background was."""
    return cut_out(data, config, None, max_edge=10**6, fmt=fmt, timings=timings, options=options, background=background)


def run_combo(data: bytes, level: str, config: RemovalConfig, *, max_edge: int, fmt: str = "png",
              timings: dict | None = None, options: OutputOptions | None = None) -> ImageOutput:
    """Remove the background, then enhance the cut-out by the level (see enhance.LEVELS)."""
    if level not in LEVELS:
        raise JobFailure(f"unknown enhance level {level!r}", code="bad_parameter")
    return cut_out(data, config, LEVELS[level], max_edge=max_edge, fmt=fmt, timings=timings, options=options)


def run_fix(data: bytes, factor: int, *, max_edge: int, fmt: str = "png", timings: dict | None = None,
            sr_model: str = super_resolution.DEFAULT_MODEL) -> ImageOutput:
    """Super-resolution and repair (the local engine's fix) at upscale_factor 1-4 (1 = sharpen without enlarging),
    capped like the combo's output; alpha is kept. The enlargement is the learnt network `sr_model`
    (engine/super_resolution) or, with "classical", the combo's enhancement without the cut-out; the classical path
    also runs when nothing is enlarged, when the network's estimated time is above its budget, or when its weights
    are missing. The output's `enhancer` says which ran, and why when it is not the network asked for."""
    if factor not in FIX_FACTORS:
        raise JobFailure(f"upscale_factor must be one of {', '.join(map(str, FIX_FACTORS))}", code="bad_parameter")
    stage = Stages(timings)
    with stage("decode"):
        image, own_alpha = decode(data)
    icc_profile = image.info.get("icc_profile")
    level = fix_level(factor)
    size = output_size(*image.size, level.scale, max_edge)
    with stage("enhance"):
        rgb = np.asarray(image)
        if own_alpha is not None:
            rgb = bleed(rgb, own_alpha)  # hidden colours must not seep into the edge as it is resampled
        enhancer = _fix_plan(sr_model, image.size, size)
        if enhancer is None:
            try:
                rgb, enhancer = super_resolution.upscale(rgb, size, sr_model), super_resolution.describe(sr_model)
            except super_resolution.ModelNotFound as missing:
                logger.warning("fix runs the classical path: the network's weights are missing",
                               extra={"sr_model": sr_model, "reason": str(missing)})
                enhancer = "classical (weights missing)"
        if not enhancer.startswith("super-resolution"):
            rgb = enhance_colour(rgb, level, size)
        alpha = resample(own_alpha, size) if own_alpha is not None else np.full(rgb.shape[:2], 255, np.uint8)
    with stage("encode"):
        output = encode(to_rgba(rgb, alpha), fmt, icc_profile)
    output.enhancer = enhancer
    return output


def _fix_plan(sr_model: str, input_size: tuple[int, int], size: tuple[int, int]) -> str | None:
    """None when the network runs; else what the classical path's result says about why it ran."""
    if sr_model == super_resolution.CLASSICAL:
        return "classical (the deployment's FIX_SR_MODEL)"
    if size[0] * size[1] <= input_size[0] * input_size[1]:
        return "classical (nothing to enlarge)"
    if sr_model in super_resolution.MODELS:
        cpu_seconds = super_resolution.estimated_cpu_seconds(sr_model, *input_size)
        if cpu_seconds > super_resolution.CPU_SECONDS_BUDGET:
            return (f"classical (input too large for {sr_model} within the worker's time: about {cpu_seconds:.0f} "
                    f"CPU-s, the budget is {super_resolution.CPU_SECONDS_BUDGET:.0f})")
    return None  # an unknown name fails as missing weights do: upscale raises ModelNotFound
