"""remove.bg's parameter spellings, read once for both APIs (core/output_spec)."""
from __future__ import annotations

import pytest

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


def test_sizes_formats_channels_and_booleans():
    assert spec.size("preview") == spec.size("regular") == 250_000
    assert spec.size("medium") == 1_500_000 and spec.size("hd") == 4_000_000 and spec.size("full") is None
    assert spec.output_format("JPEG") == "jpg" and spec.output_format("zip") == "zip"
    assert spec.channels("alpha") == "alpha"
    assert spec.boolean("true", "crop") is True and spec.boolean(False, "crop") is False
    for reader, value, code in ((spec.size, "huge", "invalid_size"), (spec.output_format, "gif", "invalid_format"),
                                (spec.channels, "rgb", "invalid_channels")):
        with pytest.raises(BadRequest) as refused:
            reader(value)
        assert refused.value.code == code
    with pytest.raises(BadRequest):
        spec.boolean("maybe", "crop")


def test_fit_pixels_keeps_the_aspect_and_never_enlarges():
    assert spec.fit_pixels((1000, 500), 250_000) == (707, 353)
    assert spec.fit_pixels((100, 50), 250_000) == (100, 50)
