"""HEIC/HEIF and AVIF in: recognised, limited before decoding, upright, ICC kept; checked from the header where
pillow-heif is missing (Lambda's zip functions); AVIF and the ICC profile out."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgapi.core.errors import BadRequest, PayloadTooLarge
from imgapi.core.vocabulary import IMAGE_CONTENT_TYPES
from imgapi.imagefiles import heif_header, image_input
from imgapi.imagefiles.image_input import decode_upright, inspect_image
from imgapi.engine.pipeline import encode
from tests.support.images import SUBJECT, portrait_array, subject_mask, truncated
from tests.support.photo_formats import SRGB_ICC, avif, heic

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 40_000_000}
MAKERS = {"HEIF": heic, "AVIF": avif}


@pytest.fixture
def zip_function(monkeypatch):
    """As on Lambda's python3.11 zip runtime: no pillow-heif."""
    monkeypatch.setattr(image_input, "HEIF_DECODER", False)


def test_the_new_types_are_published():
    assert {"image/heic", "image/avif"} <= set(IMAGE_CONTENT_TYPES)
    assert image_input.SUPPORTED_FORMATS["HEIF"] == ("image/heic", "heic")
    assert image_input.SUPPORTED_FORMATS["AVIF"] == ("image/avif", "avif")


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_sideways_phone_photo_is_described_and_decoded_upright_with_its_icc_profile(fmt):
    data = MAKERS[fmt](60, 80)
    info = inspect_image(data, **LIMITS)
    assert (info.format, info.width, info.height) == (fmt, 60, 80)
    assert info.content_type == image_input.SUPPORTED_FORMATS[fmt][0]
    image, decoded = decode_upright(data, **LIMITS)
    assert image.size == (60, 80) and image.mode == "RGB" and decoded == info
    assert image.info.get("icc_profile") == SRGB_ICC
    # Upright: the subject is where it is in the upright picture (lossy codecs: compared by the mean colour).
    pixels, inside = np.asarray(image).astype(int), subject_mask(60, 80)
    assert np.abs(pixels[inside].mean(axis=0) - SUBJECT).max() < 20
    assert np.abs(pixels[~inside].mean(axis=0) - portrait_array(60, 80)[~inside].mean(axis=0)).max() < 20


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_too_many_pixels_are_refused_before_decoding(fmt, monkeypatch):
    data = MAKERS[fmt](60, 80)

    def no_decoding(self):
        raise AssertionError("decoded")
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(BadRequest) as refused:
        inspect_image(data, max_bytes=LIMITS["max_bytes"], max_pixels=60 * 80 - 1)
    assert refused.value.code == "too_many_pixels"


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_truncated_photo_is_corrupt(fmt):
    with pytest.raises(BadRequest) as refused:
        inspect_image(truncated(MAKERS[fmt](60, 80), 0.6), **LIMITS)
    assert refused.value.code == "corrupt_image"


def test_the_header_gives_brand_and_size():
    data = heic(60, 80)
    assert heif_header.kind(data) == "HEIF" and heif_header.kind(avif(60, 80)) == "AVIF"
    width, height = heif_header.dimensions(data)
    assert width >= 60 and height >= 80 and width * height < 2 * 60 * 80  # as coded: the encoder may pad a little
    assert heif_header.kind(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom") is None  # a video is not one


def test_without_pillow_heif_a_heic_is_checked_from_its_header(zip_function):
    data = heic(60, 80)
    info = inspect_image(data, **LIMITS)
    assert info.format == "HEIF" and info.content_type == "image/heic" and info.size_bytes == len(data)
    with pytest.raises(BadRequest) as refused:
        inspect_image(data, max_bytes=LIMITS["max_bytes"], max_pixels=60 * 80 - 1)
    assert refused.value.code == "too_many_pixels"
    with pytest.raises(PayloadTooLarge):
        inspect_image(data, max_bytes=len(data) - 1, max_pixels=LIMITS["max_pixels"])
    with pytest.raises(BadRequest) as refused:
        inspect_image(data[:200], **LIMITS)
    assert refused.value.code == "corrupt_image"
    with pytest.raises(BadRequest):  # decoding is the worker's
        decode_upright(data, **LIMITS)
    assert inspect_image(avif(60, 80), **LIMITS).format == "AVIF"  # Pillow's own wheel decodes AVIF everywhere


def test_the_header_walk_refuses_boxes_running_past_their_parent():
    data = bytearray(heic(60, 80))
    meta = data.index(b"meta") - 4
    data[meta:meta + 4] = (len(data) * 2).to_bytes(4, "big")
    with pytest.raises(ValueError):
        heif_header.dimensions(bytes(data))


@pytest.mark.parametrize("fmt", ["avif", "png", "webp"])
def test_results_carry_the_icc_profile_and_avif_keeps_transparency(fmt):
    rgba = np.zeros((40, 30, 4), np.uint8)
    rgba[10:30, 5:25] = (200, 40, 40, 255)
    output = encode(rgba, fmt, SRGB_ICC)
    assert output.content_type == f"image/{fmt}" and output.extension == fmt
    result = Image.open(io.BytesIO(output.data))
    assert result.format == fmt.upper() and result.size == (30, 40) and result.info.get("icc_profile") == SRGB_ICC
    alpha = np.asarray(result.convert("RGBA"))[..., 3]
    assert alpha[0, 0] == 0 and alpha[20, 15] == 255
    assert "icc_profile" not in Image.open(io.BytesIO(encode(rgba, fmt).data)).info
