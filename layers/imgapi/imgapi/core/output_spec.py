"""What a cut-out's output looks like, as plain values: format, crop and its margin, region of interest, scale,
position, channels, background colour, size. The one reading of these options for both APIs (the remove.bg
compatible route, api/removebg.py, and the native remove_bg/combo, jobs/job_params.py and the image worker);
engine/output_options renders them. Plain values here, in core, without image libraries, so the API's zip
functions can check requests (Pillow is imported only to turn a colour name into its RGB).

Each reader takes remove.bg's spelling (`"10px 5%"`, `"81d4fa77"`, `"green"`), refuses anything but text, and
raises BadRequest with remove.bg's error code for that parameter (invalid_crop_margin, invalid_roi, ...);
`options` builds the OutputOptions from checked text values, as a request or a stored job carries them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from imgapi.core.errors import BadRequest

FORMATS = ("png", "jpg", "webp", "zip")  # what is encoded; "auto" picks png or jpg
CHANNELS = ("rgba", "alpha")
# remove.bg's sizes as a pixel budget (None: the input's own size, up to the deployment's MaxInputPixels).
SIZES: dict[str, int | None] = {"preview": 250_000, "small": 250_000, "regular": 250_000, "medium": 1_500_000,
                                "hd": 4_000_000, "full": None, "4k": None, "50MP": None, "auto": None}
MAX_MARGIN_PX = 500  # per side, as remove.bg caps it; and at most half the subject's size
_NUMBER = r"\d+(?:\.\d+)?"
_LENGTH = re.compile(rf"^({_NUMBER})(px|%)?$")
# The published patterns (JSON Schema, ECMA-262) of the texts the readers below accept.
_L = rf"{_NUMBER}(px|%)?"
CROP_MARGIN_PATTERN = rf"^{_L}(\s+{_L})?(\s+{_L}\s+{_L})?$"
ROI_PATTERN = rf"^{_NUMBER}(px|%)(\s+{_NUMBER}(px|%)){{3}}$"
SCALE_PATTERN = rf"^(original|{_NUMBER}%)$"
POSITION_PATTERN = rf"^(original|center|{_NUMBER}%(\s+{_NUMBER}%)?)$"
HEX_COLOUR_PATTERN = r"^#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$"
# The CSS colour names (Pillow's ImageColor.colormap; tests/unit/test_removebg_params.py holds them equal).
COLOUR_NAMES = tuple("""
aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue blueviolet brown burlywood
cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue darkcyan darkgoldenrod
darkgray darkgreen darkgrey darkkhaki darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon
darkseagreen darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue dimgray
dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite gold goldenrod gray green
greenyellow grey honeydew hotpink indianred indigo ivory khaki lavender lavenderblush lawngreen lemonchiffon
lightblue lightcoral lightcyan lightgoldenrodyellow lightgray lightgreen lightgrey lightpink lightsalmon
lightseagreen lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime limegreen linen magenta
maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen mediumslateblue mediumspringgreen
mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin navajowhite navy oldlace olive
olivedrab orange orangered orchid palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru
pink plum powderblue purple rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown seagreen
seashell sienna silver skyblue slateblue slategray slategrey snow springgreen steelblue tan teal thistle tomato
turquoise violet wheat white whitesmoke yellow yellowgreen""".split())


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
    format: str = "png"  # png, jpg, webp, avif, zip, or auto (png with transparency, else jpg)
    crop: bool = False
    crop_margin: tuple[Length, Length, Length, Length] = (ZERO, ZERO, ZERO, ZERO)  # top right bottom left
    roi: tuple[Length, Length, Length, Length] | None = None  # x1 y1 x2 y2
    scale: float | None = None  # the subject's size as a fraction of the canvas (None: as it is)
    position: tuple[float, float] | None = None  # the subject's place, 0-1 of the free space each way (None: as it is)
    channels: str = "rgba"
    bg_color: tuple[int, int, int, int] | None = None
    max_pixels: int | None = None  # the result's pixel budget (remove.bg's size)
    require_foreground: bool = False  # refuse (unknown_foreground) an image in which nothing was found
    max_bytes: int | None = None  # an encoded result over this is made again with fewer pixels (a response limit)


def _bad(code: str, title: str) -> BadRequest:
    return BadRequest(title, code=code)


def _text(value: Any, code: str, name: str) -> str:
    if not isinstance(value, str):
        raise _bad(code, f"Invalid {name} parameter given")
    return value.strip()


def length(text: str, *, code: str, name: str) -> Length:
    match = _LENGTH.match(text.strip().lower())
    if not match:
        raise _bad(code, f"Invalid {name} parameter given")
    return Length(float(match.group(1)), match.group(2) == "%")


def crop_margin(value: Any) -> tuple[Length, Length, Length, Length]:
    """1, 2 (top/bottom, left/right) or 4 (top right bottom left) values, each `N`, `Npx` or `N%`."""
    text = _text(value, "invalid_crop_margin", "crop_margin")
    parts = [length(p, code="invalid_crop_margin", name="crop_margin") for p in text.split()]
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
    parts = _text(value, "invalid_roi", "roi").split()
    if len(parts) != 4 or not all(p.lower().endswith(("px", "%")) for p in parts):
        raise _bad("invalid_roi", "Invalid roi parameter given")
    return tuple(length(p, code="invalid_roi", name="roi") for p in parts)  # type: ignore[return-value]


def _percent(text: str, code: str, name: str, low: float = 0.0) -> float:
    match = re.fullmatch(rf"({_NUMBER})%", text)
    if not match or not low <= float(match.group(1)) <= 100:
        raise _bad(code, f"Invalid {name} parameter given")
    return float(match.group(1)) / 100.0


def scale(value: Any) -> float | None:
    """`10%`-`100%` of the canvas, or `original` (None)."""
    text = _text(value, "invalid_scale", "scale").lower()
    return None if text == "original" else _percent(text, "invalid_scale", "scale", low=10)


def position(value: Any) -> tuple[float, float] | None:
    """`original` (None), `center`, `N%` (both axes) or `H% V%`, each 0-100%."""
    text = _text(value, "invalid_position", "position").lower()
    if text == "original":
        return None
    if text == "center":
        return (0.5, 0.5)
    values = [_percent(part, "invalid_position", "position") for part in text.split()]
    if len(values) not in (1, 2):
        raise _bad("invalid_position", "Invalid position parameter given")
    return (values[0], values[-1])


def hex_colour(text: str, *, short: bool = True) -> tuple[int, int, int, int] | None:
    """`#rrggbb` or `#rrggbbaa` (the # optional), with `short` also `rgb` and `rgba`, as RGBA; None if it is not."""
    digits = text[1:] if text.startswith("#") else text
    if short and re.fullmatch(r"[0-9a-fA-F]{3,4}", digits):
        digits = "".join(c * 2 for c in digits)
    if not re.fullmatch(r"[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", digits):
        return None
    raw = digits + ("ff" if len(digits) == 6 else "")
    return tuple(int(raw[i:i + 2], 16) for i in range(0, 8, 2))  # type: ignore[return-value]


def colour(value: Any) -> tuple[int, int, int, int]:
    """Hex `fff`, `ffff`, `81d4fa` or `81d4fa77` (with or without #), or a CSS colour name (`green`), as RGBA."""
    text = _text(value, "invalid_bg_color", "bg_color")
    rgba = hex_colour(text)
    if rgba is not None:
        return rgba
    if text in COLOUR_NAMES:
        from PIL import ImageColor  # only a colour name needs Pillow

        r, g, b = ImageColor.getrgb(text)[:3]
        return (r, g, b, 255)
    raise _bad("invalid_bg_color", "Invalid bg_color parameter given")


def options(values: Mapping[str, Any], **extra: Any) -> OutputOptions:
    """The OutputOptions from checked text values (a request's fields or a stored job's params): format, crop (a
    bool), crop_margin, roi, scale, position, channels, bg_color, size; absent or None ones keep their default."""
    def given(name: str) -> Any:
        return values.get(name) if values.get(name) not in (None, "") else None

    return OutputOptions(
        format=given("format") or "png",
        crop=bool(given("crop")),
        crop_margin=crop_margin(given("crop_margin") or "0"),
        roi=None if given("roi") is None else roi(given("roi")),
        scale=None if given("scale") is None else scale(given("scale")),
        position=None if given("position") is None else position(given("position")),
        channels=given("channels") or "rgba",
        bg_color=None if given("bg_color") is None else colour(given("bg_color")),
        max_pixels=SIZES[given("size") or "full"],
        **extra,
    )


def fit_pixels(size: tuple[int, int], max_pixels: int | None) -> tuple[int, int]:
    """(width, height) shrunk, aspect kept, to at most max_pixels (never enlarged)."""
    width, height = size
    if not max_pixels or width * height <= max_pixels:
        return size
    factor = math.sqrt(max_pixels / (width * height))
    return max(1, int(width * factor)), max(1, int(height * factor))
