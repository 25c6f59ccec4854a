"""The combo job's enhancement levels and output size rule, and the result formats.

Plain data, no image libraries: the API functions (zip, without numpy or OpenCV) validate
requests against these, and the image worker applies them.
"""
from __future__ import annotations

from dataclasses import dataclass

# Result formats; all but JPEG keep transparency (WebP lossless; AVIF lossy at AVIF_QUALITY, far smaller for
# photos); a JPEG has white where the cut-out is transparent.
OUTPUT_FORMATS = ("png", "webp", "avif", "jpg")
JPEG_QUALITY = 90
AVIF_QUALITY = 85
AVIF_SPEED = 8  # libavif's 0 (slowest, smallest) .. 10: a Lambda's CPU budget


@dataclass(frozen=True)
class EnhanceLevel:
    name: str
    scale: float  # upscale factor before the output-edge cap
    denoise: int  # bilateral filter diameter in pixels (0 = none), applied at input size
    sharpen: float  # unsharp-mask amount (0 = none), applied at output size
    sharpen_sigma: float


LEVELS: dict[str, EnhanceLevel] = {
    # Good inputs: enlarge and crisp up a little, nothing smoothed away.
    "light": EnhanceLevel("light", scale=2.0, denoise=0, sharpen=0.3, sharpen_sigma=1.0),
    # The default: mild noise reduction, then a moderate unsharp mask.
    "medium": EnhanceLevel("medium", scale=2.0, denoise=5, sharpen=0.6, sharpen_sigma=1.2),
    # Poor (small, noisy, soft) inputs: more enlargement, stronger denoise and sharpening.
    "strong": EnhanceLevel("strong", scale=3.0, denoise=9, sharpen=1.0, sharpen_sigma=1.5),
}
DEFAULT_LEVEL = "medium"


def output_size(width: int, height: int, scale: float, max_edge: int) -> tuple[int, int]:
    """The output dimensions: scaled, then capped so the longer edge is at most max_edge."""
    out_w, out_h = width * scale, height * scale
    longest = max(out_w, out_h)
    if longest > max_edge:
        out_w, out_h = out_w * max_edge / longest, out_h * max_edge / longest
    return max(1, round(out_w)), max(1, round(out_h))


# The local engine's `fix` (super-resolution and repair): DashScope's upscale_factor 1-4, where 1 sharpens
# without enlarging. The combo's enhancement without the cut-out: a light denoise at the input's size, the
# enlargement, then the halo-free unsharp mask, stronger for larger factors since enlarging softens more.
FIX_FACTORS = (1, 2, 3, 4)
_FIX_SETTINGS = {1: (3, 1.0, 1.0), 2: (5, 0.8, 1.2), 3: (5, 1.0, 1.5), 4: (7, 1.2, 1.8)}


def fix_level(factor: int) -> EnhanceLevel:
    """The enhancement of `fix` at an upscale factor (1-4)."""
    if factor not in FIX_FACTORS:
        raise ValueError(f"upscale_factor must be one of {FIX_FACTORS}; got {factor!r}")
    denoise, amount, sigma = _FIX_SETTINGS[factor]
    return EnhanceLevel(f"fix-{factor}", scale=float(factor), denoise=denoise, sharpen=amount, sharpen_sigma=sigma)
