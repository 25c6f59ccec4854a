"""The combo job's enhancement (denoise, resample, sharpen; also the local engine's fix), the resampling of a
cut-out's colour and alpha, and filling colours in from known pixels (bleed, spread).

Everything here works on uint8 arrays with OpenCV: a 12 MP photo is 36 MB as uint8 and
four times that as float32, and OpenCV's uint8 kernels are vectorised and multi-threaded.
"""
from __future__ import annotations

import cv2
import numpy as np

from imgapi.engine.enhance_levels import EnhanceLevel

# spread(): a level's own colour counts fully where its footprint holds about this many known pixels; with fewer,
# the coarser level's colour is mixed in.
_SPREAD_TRUST = 1.0


def resample(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic when enlarging, area averaging when shrinking (no aliasing), nothing when equal."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    enlarging = size[0] * size[1] > image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC if enlarging else cv2.INTER_AREA)


def denoise(rgb: np.ndarray, diameter: int) -> np.ndarray:
    if diameter <= 0:
        return rgb
    # Edge-preserving: smooths sensor noise and JPEG blocks without blurring the outline.
    return cv2.bilateralFilter(rgb, diameter, sigmaColor=6.0 * diameter, sigmaSpace=diameter)


def sharpen(rgb: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    """Halo-free unsharp mask: the result is clamped to each pixel's 3x3 neighbourhood range,
    so edges get crisper without the dark and light rings a plain unsharp mask draws.
    Works in place where it can: on a 12 MP photo every extra array is 36 MB."""
    if amount <= 0:
        return rgb
    out = cv2.GaussianBlur(rgb, (0, 0), sigma)
    cv2.addWeighted(rgb, 1.0 + amount, out, -amount, 0, dst=out)
    kernel = np.ones((3, 3), np.uint8)
    cv2.max(out, cv2.erode(rgb, kernel), dst=out)
    cv2.min(out, cv2.dilate(rgb, kernel), dst=out)
    return out


def bleed(rgb: np.ndarray, alpha: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    """Give pixels that are not fully opaque the colour of their visible neighbours.

    Where the colour under transparency is not the photo's own (a transparent PNG's hidden pixels
    are often black; matting estimates colours only for the subject), resampling or sharpening
    would pull that colour into the edge. Compositing each pixel over its neighbourhood's
    alpha-weighted average colour (normalised convolution) is premultiplied-alpha resampling's
    result, computed once so the rest of the pipeline can work on plain colour.
    """
    a = alpha.astype(np.float32) * (1.0 / 255.0)
    weight = cv2.GaussianBlur(a, (0, 0), sigma)
    average = cv2.GaussianBlur(rgb.astype(np.float32) * a[..., None], (0, 0), sigma)
    average /= np.maximum(weight, 1e-4)[..., None]
    mixed = rgb * a[..., None] + average * (1.0 - a[..., None])
    return np.clip(mixed, 0, 255).astype(np.uint8)


def spread(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """bleed() for any distance: `image` (H, W, C uint8, C = 3 or 4) as float32, every pixel where `known` (H, W bool)
    is False given the colour of the known pixels nearest to it; known pixels keep their values exactly.

    Pull-push (Gortler et al., "The Lumigraph", 1996): the known pixels are averaged down a pyramid, each level
    half the previous one's size, until one pixel covers everything; on the way back up each level keeps the
    colour its own known pixels give and takes the rest from the coarser level, upsampled. A pixel far from
    anything known gets the average of what is nearest at the scale of that distance; the cost is a few passes
    over the image, however far the colours must go (a Gaussian of that reach would be hundreds of taps)."""
    if not known.any():
        raise ValueError("nothing is known to spread from")
    height, width = known.shape
    # The first halving in 16-bit fixed point (no full-size float copy of a large canvas), the rest in float32.
    scaled = image.astype(np.uint16) << 8
    scaled[~known] = 0
    values = cv2.pyrDown(scaled).astype(np.float32) * (1.0 / 256)
    del scaled
    weight = cv2.pyrDown(known.astype(np.uint16) << 8).astype(np.float32) * (1.0 / 256)
    levels = [(values, weight)]
    while max(levels[-1][1].shape) > 1:
        values, weight = levels[-1]
        levels.append((cv2.pyrDown(values), cv2.pyrDown(weight)))
    values, weight = levels[-1]
    colour = _normalised(values, weight)
    for level in range(len(levels) - 2, -1, -1):
        values, weight = levels[level]
        coarser = _upsample(colour, weight.shape)
        # weight is the known share of a pixel's footprint; times the footprint's area in full-size pixels
        # (4 ** (level + 1): levels[0] is already one halving down), about how many known pixels it holds.
        trust = np.minimum(weight * (4.0 ** (level + 1) / _SPREAD_TRUST), 1.0)[..., None]
        colour = _normalised(values, weight)
        colour *= trust
        colour += coarser * (1.0 - trust)
    full = _upsample(colour, (height, width))
    np.copyto(full, image, where=known[..., None])
    return full


def _upsample(colour: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.pyrUp(colour, dstsize=(shape[1], shape[0])).reshape(shape + colour.shape[2:])


def _normalised(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return values / np.maximum(weight, 1e-6)[..., None]


def enhance_colour(rgb: np.ndarray, level: EnhanceLevel, size: tuple[int, int]) -> np.ndarray:
    """Denoise at the input's size (cheaper, and noise is finest there), resample, then sharpen."""
    rgb = denoise(np.ascontiguousarray(rgb), level.denoise)
    return sharpen(resample(rgb, size), level.sharpen, level.sharpen_sigma)
