"""remove.bg's parameter spellings, read once for both APIs (core/output_spec, declared in api/removebg_fields)."""
from __future__ import annotations

import pytest

from PIL import ImageColor

from imgapi.api import removebg_fields as fields
from imgapi.core import output_spec as spec
from imgapi.core.errors import BadRequest


def test_crop_margin_takes_one_two_or_four_values_in_px_or_percent():
    assert spec.crop_margin("10px") == (spec.Length(10),) * 4
    top, right, bottom, left = spec.crop_margin("5% 20px")
    assert (top, right, bottom, left) == (spec.Length(5, True), spec.Length(20), spec.Length(5, True), spec.Length(20))
    assert spec.crop_margin("1px 2px 3px 4px")[3] == spec.Length(4)
    for bad in ("1px 2px 3px", "51%", "501px", "ten"):
        with pytest.raises(BadRequest) as refused:
            spec.crop_margin(bad)
        assert refused.value.code == "invalid_crop_margin"


def test_roi_scale_position():
    assert spec.roi("0% 10px 100% 90%")[1] == spec.Length(10)
    with pytest.raises(BadRequest, match="roi"):
        spec.roi("0 0 10 10")  # units are required
    assert spec.scale("original") is None and spec.scale("50%") == 0.5
    for bad in ("5%", "101%", "half"):
        with pytest.raises(BadRequest):
            spec.scale(bad)
    assert spec.position("center") == (0.5, 0.5) and spec.position("20%") == (0.2, 0.2)
    assert spec.position("0% 100%") == (0.0, 1.0) and spec.position("original") is None
    with pytest.raises(BadRequest) as refused:
        spec.position("120%")
    assert refused.value.code == "invalid_position"


def test_colours_in_hex_of_every_length_or_by_name():
    assert spec.colour("fff") == (255, 255, 255, 255)
    assert spec.colour("81d4fa77") == (0x81, 0xD4, 0xFA, 0x77)
    assert spec.colour("#000f") == (0, 0, 0, 255)
    assert spec.colour("green") == (0, 128, 0, 255)
    with pytest.raises(BadRequest) as refused:
        spec.colour("not-a-colour")
    assert refused.value.code == "invalid_bg_color"


def _refused(param, value) -> str:
    with pytest.raises(BadRequest) as refused:
        param.read(value, text=True)
    return refused.value.code


def test_sizes_formats_channels_and_booleans_by_their_declarations():
    assert spec.SIZES["preview"] == spec.SIZES["regular"] == 250_000
    assert spec.SIZES["medium"] == 1_500_000 and spec.SIZES["hd"] == 4_000_000 and spec.SIZES["full"] is None
    assert fields.FORMAT.read("zip", text=True) == "zip" and fields.CHANNELS.read("alpha", text=True) == "alpha"
    assert fields.SIZE.read("50MP", text=True) == "50MP"
    assert fields.CROP.read("true", text=True) is True and fields.CROP.read(False, text=True) is False
    for param, value, code in ((fields.SIZE, "huge", "invalid_size"), (fields.FORMAT, "gif", "invalid_format"),
                               (fields.CHANNELS, "rgb", "invalid_channels"), (fields.CROP, "maybe", "invalid_crop"),
                               (fields.SIZE, 5, "invalid_size"), (fields.SEMITRANSPARENCY, "x",
                                                                   "invalid_semitransparency"),
                               (fields.IMAGE_URL, "ftp://e.com/a.png", "invalid_image_url"),
                               (fields.BG_IMAGE_URL, "javascript:alert(1)", "invalid_bg_image_url"),
                               (fields.ROI, "0 0 10 10", "invalid_roi"), (fields.BG_COLOR, 5, "invalid_bg_color")):
        assert _refused(param, value) == code, (param.name, value)


def test_the_colour_names_are_pillows():
    assert set(spec.COLOUR_NAMES) == set(ImageColor.colormap)


def test_options_from_checked_text():
    options = spec.options({"format": "zip", "crop": True, "crop_margin": "10px 5%", "roi": "0% 0% 50% 100%",
                            "scale": "50%", "position": "0% 100%", "channels": "rgba", "bg_color": "green",
                            "size": "medium"})
    assert options.format == "zip" and options.crop and options.crop_margin[1] == spec.Length(5, True)
    assert options.scale == 0.5 and options.position == (0.0, 1.0) and options.bg_color == (0, 128, 0, 255)
    assert options.max_pixels == 1_500_000 and options.roi[2] == spec.Length(50, True)
    assert spec.options({}) == spec.OutputOptions()


def test_fit_pixels_keeps_the_aspect_and_never_enlarges():
    assert spec.fit_pixels((1000, 500), 250_000) == (707, 353)
    assert spec.fit_pixels((100, 50), 250_000) == (100, 50)
