"""Identifying uploads from their header: formats, limits, and what is refused."""
from __future__ import annotations

import io

import pytest

from imgapi.core.errors import BadRequest, PayloadTooLarge
from imgapi.imagefiles.image_input import inspect_image
from tests.support.images import encode, portrait_array

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 1_000_000}


@pytest.mark.parametrize("fmt,ctype,ext", [("JPEG", "image/jpeg", "jpg"), ("PNG", "image/png", "png"), ("WEBP", "image/webp", "webp")])
def test_supported_formats(fmt, ctype, ext):
    info = inspect_image(encode(portrait_array(50, 40), fmt), **LIMITS)
    assert (info.format, info.content_type, info.extension, info.width, info.height) == (fmt, ctype, ext, 50, 40)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_refused_by_name(fmt):
    with pytest.raises(BadRequest, match=fmt):
        inspect_image(encode(portrait_array(20, 20), fmt), **LIMITS)


def test_limits():
    data = encode(portrait_array(100, 100), "PNG")
    with pytest.raises(PayloadTooLarge):
        inspect_image(data, max_bytes=len(data) - 1, max_pixels=10**9)
    with pytest.raises(BadRequest, match="100x100"):
        inspect_image(data, max_bytes=10**9, max_pixels=9999)
    assert inspect_image(data, max_bytes=len(data), max_pixels=10000).width == 100


@pytest.mark.parametrize("data", [b"", b"GIF8", b"\x89PNG\r\n\x1a\n", b"<html><body>hi</body></html>", b"\xff\xd8\xff"])
def test_garbage_is_refused(data):
    with pytest.raises(BadRequest):
        inspect_image(data, **LIMITS)


# -- hostile files: each refused with its own code, before anything could be stored ----------------------------

from PIL import Image, ImageFile  # noqa: E402

from imgapi.imagefiles.image_input import decode_upright  # noqa: E402
from tests.support import images  # noqa: E402

HOSTILE = {
    "zero_bytes": (b"", "empty_file"),
    "truncated_jpeg": (images.truncated(images.portrait_jpeg()), "corrupt_image"),
    "truncated_jpeg_90_percent": (images.truncated(images.portrait_jpeg(), 0.9), "corrupt_image"),
    "jpeg_without_its_end_marker": (images.portrait_jpeg()[:-2], "corrupt_image"),
    "truncated_png": (images.truncated(images.portrait_png()), "corrupt_image"),
    "png_without_iend": (images.png_without_iend(), "corrupt_image"),
    "truncated_webp": (images.truncated(images.encode(images.portrait_array(), "WEBP")), "corrupt_image"),
    "png_bomb_header": (images.png_bomb(), "too_many_pixels"),
    "png_inflating_past_its_header": (images.png_inflating_past_its_header(), "corrupt_image"),
    "jpeg_bomb_header": (images.jpeg_claiming(50_000, 50_000), "too_many_pixels"),
    "webp_bomb_header": (images.webp_claiming_16383_square(), "too_many_pixels"),
    "animated_gif": (images.animated("GIF"), "unsupported_image"),
    "animated_webp": (images.animated("WEBP"), "animated_image"),
    "animated_png": (images.animated("PNG"), "animated_image"),
    "svg": (images.SVG, "unsupported_image"),
    "bare_svg": (images.BARE_SVG, "unsupported_image"),
    "html": (images.HTML, "unsupported_image"),
    "html_after_a_bom": (b"\xef\xbb\xbf  " + images.HTML, "unsupported_image"),
    "png_with_a_flipped_byte": (images.portrait_png()[:60] + b"\x00" + images.portrait_png()[61:], "corrupt_image"),
    "jpeg_magic_only": (b"\xff\xd8\xff", "corrupt_image"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_are_refused_with_a_readable_reason_and_a_stable_code(name):
    data, code = HOSTILE[name]
    for check in (inspect_image, decode_upright):  # the API's check and the worker's decode refuse alike
        with pytest.raises(BadRequest) as refused:
            check(data, max_bytes=10 * 1024 * 1024, max_pixels=40_000_000)
        assert refused.value.code == code
        assert refused.value.message and refused.value.status == 400


def test_a_png_inflating_past_its_header_is_refused_without_inflating_it_all(monkeypatch):
    """The bomb inflates to 25 MB; the check stops one step (1 MB) past the header's 12 kB."""
    import zlib

    produced = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self):
            self.inner = real()

        def decompress(self, data, max_length=0):
            out = self.inner.decompress(data, max_length)
            produced.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setattr("imgapi.imagefiles.image_input.zlib.decompressobj", Counting)
    with pytest.raises(BadRequest):
        inspect_image(images.png_inflating_past_its_header(), **LIMITS)
    assert 0 < sum(produced) <= 2 * 1024 * 1024


def test_truncation_is_caught_even_if_a_library_turned_on_pillows_truncated_loading(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(BadRequest, match="truncated"):
        inspect_image(images.truncated(images.portrait_jpeg()), **LIMITS)


def test_the_pixel_limit_is_read_from_the_header_of_a_valid_image_too():
    data = images.raw_png(2000, 1000, b"".join(b"\0" + b"\x80" * 6000 for _ in range(1000)))
    assert inspect_image(data, max_bytes=10**7, max_pixels=2_000_000).width == 2000
    with pytest.raises(BadRequest) as refused:
        inspect_image(data, max_bytes=10**7, max_pixels=1_999_999)
    assert refused.value.code == "too_many_pixels" and "2000x1000" in refused.value.message


# -- PNG stream check: valid PNGs of every layout pass it ----------------------------------------------------------

@pytest.mark.parametrize("make", [
    pytest.param(lambda: images.interlaced_png(images.portrait_array(13, 11)), id="interlaced-odd-size"),
    pytest.param(lambda: images.interlaced_png(images.portrait_array(1, 1)), id="interlaced-1x1"),
    pytest.param(lambda: images.save(Image.fromarray(images.portrait_array(13, 7)).convert("1"), "PNG"), id="1-bit"),
    pytest.param(lambda: images.save(Image.fromarray(images.portrait_array(13, 7)).quantize(4), "PNG", bits=2), id="2-bit-palette"),
    pytest.param(lambda: images.save(Image.fromarray(images.portrait_array(13, 7)).quantize(16), "PNG", bits=4), id="4-bit-palette"),
    pytest.param(lambda: images.raw_png(9, 5, b"".join(b"\0" + b"\x10" * 27 for _ in range(5)), idat_split=1), id="one-byte-idats"),
    pytest.param(lambda: images.portrait_png(31, 17) + b"trailing bytes after IEND", id="trailing-bytes"),
    pytest.param(images.grey_16bit_png, id="16-bit-grey"),
    pytest.param(images.rgba_16bit_png, id="16-bit-rgba"),
])
def test_valid_pngs_of_every_layout_are_accepted(make):
    assert inspect_image(make(), **LIMITS).format == "PNG"


def test_an_interlaced_png_decodes_to_its_pixels():
    array = images.portrait_array(13, 11)
    image, info = decode_upright(images.interlaced_png(array), **LIMITS)
    assert (info.width, info.height) == (13, 11) and np.array_equal(np.asarray(image), array)


# -- colour modes: every one decodes to 8-bit RGB or RGBA with the right pixels ------------------------------------

import numpy as np  # noqa: E402


def _grey(width=60, height=80):
    return np.asarray(Image.fromarray(images.portrait_array(width, height)).convert("L"))


def test_cmyk_jpeg_becomes_rgb():
    image, info = decode_upright(images.cmyk_jpeg(), **LIMITS)
    expected = np.asarray(Image.open(io.BytesIO(images.cmyk_jpeg())).convert("RGB"))
    assert image.mode == "RGB" and (info.width, info.height) == (60, 80)
    assert np.array_equal(np.asarray(image), expected)


def test_16_bit_grey_keeps_its_top_8_bits_instead_of_clipping_to_white():
    image, _ = decode_upright(images.grey_16bit_png(), **LIMITS)
    assert image.mode == "RGB"
    assert np.array_equal(np.asarray(image)[..., 0], _grey())


def test_16_bit_rgba_keeps_colour_and_alpha():
    image, _ = decode_upright(images.rgba_16bit_png(), **LIMITS)
    pixels = np.asarray(image)
    assert image.mode == "RGBA" and (pixels[:20, :, 3] == 0).all() and (pixels[20:, :, 3] == 255).all()
    assert np.array_equal(pixels[..., :3], images.portrait_array(60, 80))


@pytest.mark.parametrize("make,mode", [(images.grey_png, "RGB"), (images.grey_alpha_png, "RGBA")])
def test_grey_and_grey_alpha(make, mode):
    image, _ = decode_upright(make(), **LIMITS)
    pixels = np.asarray(image)
    assert image.mode == mode and np.array_equal(pixels[..., 0], _grey()) and np.array_equal(pixels[..., 2], _grey())
    if mode == "RGBA":
        assert (pixels[:20, :, 3] == 0).all() and (pixels[20:, :, 3] == 255).all()


def test_palette_without_transparency_is_rgb_and_with_it_rgba():
    plain, _ = decode_upright(images.palette_png(), **LIMITS)
    assert plain.mode == "RGB"
    assert np.array_equal(np.asarray(plain), np.asarray(Image.open(io.BytesIO(images.palette_png())).convert("RGB")))
    see_through, _ = decode_upright(images.palette_png(transparent=True), **LIMITS)
    alpha = np.asarray(see_through)[..., 3]
    assert see_through.mode == "RGBA" and (alpha[:20] == 0).all() and (alpha[20:] == 255).all()


# -- EXIF orientation: described and decoded upright ---------------------------------------------------------------

@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_rotated_photos_are_upright(orientation):
    data = images.exif_rotated_jpeg(orientation)  # stored 80x60, upright 60x80
    assert Image.open(io.BytesIO(data)).size == (80, 60)
    info = inspect_image(data, **LIMITS)
    image, decoded_info = decode_upright(data, **LIMITS)
    assert (info.width, info.height) == (decoded_info.width, decoded_info.height) == image.size == (60, 80)
    pixels = np.asarray(image).astype(int)
    assert (np.abs(pixels[2, 5:-5] - (255, 0, 0)) < 40).all()  # the red band is at the top
    assert (np.abs(pixels[-3, 5:-5] - (0, 255, 0)) < 40).all()  # the green band at the bottom


def test_a_malformed_exif_block_does_not_refuse_the_photo():
    data = images.save(Image.fromarray(images.portrait_array(40, 30)), "JPEG", exif=b"Exif\x00\x00MM\x00*garbage")
    image, info = decode_upright(data, **LIMITS)
    assert image.size == (40, 30) and (info.width, info.height) == (40, 30)
