"""Identifying uploads from their header: formats, limits, and what is refused."""
from __future__ import annotations

import pytest

from imgapi.errors import BadRequest, PayloadTooLarge
from imgapi.image_input import inspect_image
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
