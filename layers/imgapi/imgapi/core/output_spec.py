"""What a cut-out's output looks like, as plain values: format, crop and its margin, region of interest, scale,
position, channels, background colour, size. The one reading of these options for both APIs (the remove.bg
compatible route, api/removebg.py, and the native remove_bg/combo, jobs/job_params.py); engine/output_options
renders them (plain values here, in core, so the API's zip functions, without numpy, can check requests). No image libraries beyond Pillow's colour names, so the API's zip functions can check requests.

Each reader takes remove.bg's spelling (`"10px 5%"`, `"81d4fa77"`, `"green"`) and raises BadRequest with
remove.bg's error code for that parameter (invalid_crop_margin, invalid_roi, ...).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


from imgapi.core.errors import BadRequest

FORMATS = ("png", "jpg", "webp", "zip")  # what is encoded; "auto" picks png or jpg
CHANNELS = ("rgba", "alpha")
# remove.bg's sizes as a pixel budget (None: the input's own size, up to the deployment's MaxInputPixels).
SIZES: dict[str, int | None] = {"preview": 250_000, "small": 250_000, "regular": 250_000, "medium": 1_500_000,
                                "hd": 4_000_000, "full": None, "4k": None, "50mp": None, "auto": None}
MAX_MARGIN_PX = 500  # per side, as remove.bg caps it; and at most half the subject's size
_LENGTH = re.compile(r"^(\d+(?:\.\d+)?)(px|%)?$")


@dataclass(frozen=True)
class Length:
    """A length in pixels or in percent of a reference (the image's or the subject's side)."""

    value: float
    percent: bool = False

    def px(self, reference: float) -> float:
        return self.value * reference / 100.0 if self.percent else self.value


ZERO = Length(0.0)


@dataclass(frozen=True)
class OutputOptions:
    format: str = "png"  # png, jpg, webp, zip, or auto (png with transparency, else jpg)
    crop: bool = False
    crop_margin: tuple[Length, Length, Length, Length] = (ZERO, ZERO, ZERO, ZERO)  # top right bottom left
    roi: tuple[Length, Length, Length, Length] | None = None  # x1 y1 x2 y2
    scale: float | None = None  # the subject's size as a fraction of the canvas (None: as it is)
    position: tuple[float, float] | None = None  # the subject's place, 0-1 of the free space each way (None: as it is)
    channels: str = "rgba"
    bg_color: tuple[int, int, int, int] | None = None
    max_pixels: int | None = None  # the result's pixel budget (remove.bg's size)
    require_foreground: bool = False  # refuse (unknown_foreground) an image in which nothing was found


def _bad(code: str, title: str) -> BadRequest:
    return BadRequest(title, code=code)


def boolean(value: Any, name: str) -> bool:
    """JSON true/false or the strings "true"/"false" (remove.bg's clients send both), also 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise _bad(f"invalid_{name}", f"Invalid {name} parameter given")


def length(text: str, *, code: str, name: str) -> Length:
    match = _LENGTH.match(str(text).strip().lower())
    if not match:
        raise _bad(code, f"Invalid {name} parameter given")
    return Length(float(match.group(1)), match.group(2) == "%")


def crop_margin(value: Any) -> tuple[Length, Length, Length, Length]:
    """1, 2 (top/bottom, left/right) or 4 (top right bottom left) values, each `N`, `Npx` or `N%`."""
    parts = [length(p, code="invalid_crop_margin", name="crop_margin") for p in str(value).replace(",", " ").split()]
    if len(parts) == 1:
        parts = parts * 4
    elif len(parts) == 2:
        parts = [parts[0], parts[1], parts[0], parts[1]]
    elif len(parts) != 4:
        raise _bad("invalid_crop_margin", "Invalid crop_margin parameter given")
    if any((p.percent and p.value > 50) or (not p.percent and p.value > MAX_MARGIN_PX) for p in parts):
        raise _bad("invalid_crop_margin", "Invalid crop_margin parameter given")
    return tuple(parts)  # type: ignore[return-value]


def roi(value: Any) -> tuple[Length, Length, Length, Length]:
    """`x1 y1 x2 y2`, each in px or %: only this region may be foreground."""
    parts = str(value).split()
    if len(parts) != 4 or not all(p.lower().endswith(("px", "%")) for p in parts):
        raise _bad("invalid_roi", "Invalid roi parameter given")
    return tuple(length(p, code="invalid_roi", name="roi") for p in parts)  # type: ignore[return-value]


def scale(value: Any) -> float | None:
    """`10%`-`100%` of the canvas, or `original` (None)."""
    text = str(value).strip().lower()
    if text == "original":
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)%", text)
    if not match or not 10 <= float(match.group(1)) <= 100:
        raise _bad("invalid_scale", "Invalid scale parameter given")
    return float(match.group(1)) / 100.0


def position(value: Any) -> tuple[float, float] | None:
    """`original` (None), `center`, `N%` (both axes) or `H% V%`, each 0-100%."""
    text = str(value).strip().lower()
    if text == "original":
        return None
    if text in ("center", "centre"):
        return (0.5, 0.5)
    parts = text.split()
    values = []
    for part in parts:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)%", part)
        if not match or float(match.group(1)) > 100:
            raise _bad("invalid_position", "Invalid position parameter given")
        values.append(float(match.group(1)) / 100.0)
    if len(values) == 1:
        return (values[0], values[0])
    if len(values) != 2:
        raise _bad("invalid_position", "Invalid position parameter given")
    return (values[0], values[1])


def colour(value: Any) -> tuple[int, int, int, int]:
    """Hex `fff`, `ffff`, `81d4fa` or `81d4fa77` (with or without #), or a CSS colour name (`green`), as RGBA."""
    text = str(value).strip().lower().lstrip("#")
    if re.fullmatch(r"[0-9a-f]{3,4}", text):
        text = "".join(c * 2 for c in text)
    if re.fullmatch(r"[0-9a-f]{6}([0-9a-f]{2})?", text):
        raw = text + ("ff" if len(text) == 6 else "")
        return tuple(int(raw[i:i + 2], 16) for i in range(0, 8, 2))  # type: ignore[return-value]
    from PIL import ImageColor  # the API's zip functions import this module; only a colour name needs Pillow

    if text in ImageColor.colormap:
        r, g, b = ImageColor.getrgb(text)[:3]
        return (r, g, b, 255)
    raise _bad("invalid_bg_color", "Invalid bg_color parameter given")


def output_format(value: Any) -> str:
    text = str(value).strip().lower()
    text = "jpg" if text == "jpeg" else text
    if text not in FORMATS + ("auto",):
        raise _bad("invalid_format", "Invalid format parameter given")
    return text


def channels(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in CHANNELS:
        raise _bad("invalid_channels", "Invalid value for parameter 'channels'")
    return text


def size(value: Any) -> int | None:
    text = str(value).strip().lower()
    if text not in SIZES:
        raise _bad("invalid_size", "Invalid value for parameter 'size'")
    return SIZES[text]


def fit_pixels(size: tuple[int, int], max_pixels: int | None) -> tuple[int, int]:
    """(width, height) shrunk, aspect kept, to at most max_pixels (never enlarged)."""
    width, height = size
    if not max_pixels or width * height <= max_pixels:
        return size
    factor = math.sqrt(max_pixels / (width * height))
    return max(1, int(width * factor)), max(1, int(height * factor))
