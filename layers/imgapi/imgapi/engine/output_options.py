"""Rendering a cut-out (colour + alpha at full size) as the output options ask (core/output_spec): the one
implementation behind the remove.bg compatible route and the native remove_bg/combo.

In order: fit the pixel budget (size), keep only the region of interest (roi), crop to the subject with its margin,
scale and position the subject on the canvas, then the background (bg_color or a background image, scaled to
cover), the channels (rgba, or the alpha matte alone) and the encoding (png, jpg, webp, or zip = color.jpg +
alpha.png, as remove.bg's). The subject's box in the result is reported (remove.bg's X-Foreground-* headers).
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, replace

import numpy as np

from imgapi.core.errors import BadRequest
from imgapi.engine.enhance import bleed, resample
from imgapi.core.output_spec import OutputOptions, fit_pixels
from imgapi.engine.pipeline import ImageOutput, apply_background_colour, encode, to_rgba


@dataclass(frozen=True)
class Foreground:
    top: int
    left: int
    width: int
    height: int


def _bbox(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) exclusive of the visible pixels, or None when nothing is visible."""
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _apply_roi(alpha: np.ndarray, options: OutputOptions, input_size: tuple[int, int]) -> np.ndarray:
    height, width = alpha.shape
    in_w, in_h = input_size  # px values are the input's pixels: scaled with the image
    x1, y1, x2, y2 = (length.px(ref) * (1.0 if length.percent else cur / ref)
                      for length, ref, cur in zip(options.roi, (in_w, in_h, in_w, in_h), (width, height, width, height)))
    if x2 > width + 0.5 or y2 > height + 0.5:
        raise BadRequest("ROI exceeds image bounds", code="roi_exceeds_bounds")
    left, top, right, bottom = int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2))
    if right <= left or bottom <= top:
        raise BadRequest("ROI region is empty", code="roi_region_empty")
    kept = np.zeros_like(alpha)
    kept[top:bottom, left:right] = alpha[top:bottom, left:right]
    return kept


def _crop(rgb: np.ndarray, alpha: np.ndarray, box, options: OutputOptions):
    top, left, bottom, right = box
    sub_w, sub_h = right - left, bottom - top
    margin_t, margin_r, margin_b, margin_l = (
        int(round(min(m.px(ref), ref / 2 if m.percent else m.value)))
        for m, ref in zip(options.crop_margin, (sub_h, sub_w, sub_h, sub_w)))
    top, left, bottom, right = top - margin_t, left - margin_l, bottom + margin_b, right + margin_r
    out_h, out_w = bottom - top, right - left
    out_rgb, out_alpha = np.zeros((out_h, out_w, 3), np.uint8), np.zeros((out_h, out_w), np.uint8)
    src_t, src_l = max(top, 0), max(left, 0)
    src_b, src_r = min(bottom, alpha.shape[0]), min(right, alpha.shape[1])
    out_rgb[src_t - top:src_b - top, src_l - left:src_r - left] = rgb[src_t:src_b, src_l:src_r]
    out_alpha[src_t - top:src_b - top, src_l - left:src_r - left] = alpha[src_t:src_b, src_l:src_r]
    return out_rgb, out_alpha


def _place(rgb: np.ndarray, alpha: np.ndarray, box, options: OutputOptions):
    """The subject scaled (scale: to fit that fraction of the canvas) and moved (position) on a canvas of the same size."""
    top, left, bottom, right = box
    height, width = alpha.shape
    sub_rgb, sub_alpha = rgb[top:bottom, left:right], alpha[top:bottom, left:right]
    sub_w, sub_h = right - left, bottom - top
    if options.scale is not None:
        factor = min(options.scale * width / sub_w, options.scale * height / sub_h)
        sub_w, sub_h = max(1, round(sub_w * factor)), max(1, round(sub_h * factor))
        sub_rgb, sub_alpha = resample(np.ascontiguousarray(sub_rgb), (sub_w, sub_h)), resample(
            np.ascontiguousarray(sub_alpha), (sub_w, sub_h))
    px, py = options.position if options.position is not None else (0.5, 0.5)
    new_left, new_top = round(px * (width - sub_w)), round(py * (height - sub_h))
    out_rgb, out_alpha = np.zeros_like(rgb), np.zeros_like(alpha)
    out_rgb[new_top:new_top + sub_h, new_left:new_left + sub_w] = sub_rgb
    out_alpha[new_top:new_top + sub_h, new_left:new_left + sub_w] = sub_alpha
    return out_rgb, out_alpha


def _encode(rgb: np.ndarray, alpha: np.ndarray, fmt: str, channels: str, icc_profile: bytes | None) -> ImageOutput:
    """pipeline.encode's formats, and zip: color.jpg (the colour, edges bled outwards) + alpha.png, as remove.bg's."""
    height, width = alpha.shape
    if fmt == "auto":
        fmt = "png" if (alpha < 255).any() or channels == "alpha" else "jpg"
    if channels == "alpha":
        return encode(alpha, "png" if fmt == "zip" else fmt)  # the matte alone: a zip of it is the matte
    if fmt == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("color.jpg", encode(bleed(rgb, alpha), "jpg", icc_profile).data)
            archive.writestr("alpha.png", encode(alpha, "png").data)
        return ImageOutput(buffer.getvalue(), "application/zip", "zip", width, height)
    return encode(to_rgba(rgb, alpha), fmt, icc_profile)


def render(rgb: np.ndarray, alpha: np.ndarray, options: OutputOptions, *, input_size: tuple[int, int] | None = None,
           background: np.ndarray | None = None, icc_profile: bytes | None = None) -> ImageOutput:
    """The encoded result, with the subject's box in it as its `foreground`. `rgb`/`alpha` are the cut-out at the
    input's size (or at the budget's, when `input_size` says what the input's was); `background` an RGB image to
    put behind. With options.max_bytes, a result larger than that is rendered again from the same cut-out with fewer pixels
    (resampled and encoded again; the cut-out is not made again) until it fits."""
    output = _render(rgb, alpha, options, input_size, background, icc_profile)
    while options.max_bytes and len(output.data) > options.max_bytes and output.width * output.height > 1:
        budget = int(output.width * output.height * options.max_bytes / len(output.data) * 0.95)  # ~ bytes per pixel
        options = replace(options, max_pixels=max(1, budget))
        output = _render(rgb, alpha, options, input_size, background, icc_profile)
    return output


def _render(rgb: np.ndarray, alpha: np.ndarray, options: OutputOptions, input_size: tuple[int, int] | None,
            background: np.ndarray | None, icc_profile: bytes | None) -> ImageOutput:
    height, width = alpha.shape
    input_size = input_size or (width, height)
    size = fit_pixels((width, height), options.max_pixels)
    if size != (width, height):
        rgb, alpha = resample(rgb, size), resample(alpha, size)
    if options.roi is not None:
        alpha = _apply_roi(alpha, options, input_size)
    box = _bbox(alpha)
    if box is None and options.require_foreground:
        raise BadRequest("Could not identify foreground in image. For details and recommendations see "
                         "https://www.remove.bg/supported-images.", code="unknown_foreground")
    if box is not None and options.crop:
        rgb, alpha = _crop(rgb, alpha, box, options)
        box = _bbox(alpha)
    if box is not None and (options.scale is not None or options.position is not None):
        rgb, alpha = _place(rgb, alpha, box, options)
        box = _bbox(alpha)
    top, left, bottom, right = box or (0, 0, 0, 0)
    if options.channels != "alpha":
        if background is not None:
            from imgapi.engine.compose import change_background  # compose imports pipeline, as this module does
            rgb = change_background(np.ascontiguousarray(rgb), alpha, background)
            alpha = np.full_like(alpha, 255)
        elif options.bg_color is not None:
            rgb, alpha = apply_background_colour(rgb, alpha, options.bg_color)
    output = _encode(rgb, alpha, options.format, options.channels, icc_profile)
    output.foreground = Foreground(top, left, right - left, bottom - top)
    return output
