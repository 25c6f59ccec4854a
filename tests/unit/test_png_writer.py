"""The parallel PNG writer produces standard PNGs that decode to exactly the input."""
from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from imgapi.imagefiles.png_writer import _adler32_combine, encode_rgba


@pytest.mark.parametrize("shape", [(1, 1, 4), (3, 5, 4), (257, 131, 4), (1000, 7, 4)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_round_trip_is_exact(shape, threads):
    rgba = np.random.default_rng(sum(shape) + threads).integers(0, 256, shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(encode_rgba(rgba, threads=threads)))
    decoded.load()  # inflating verifies the zlib stream's adler32 as well
    assert decoded.mode == "RGBA" and (np.asarray(decoded) == rgba).all()


def test_adler32_combine_matches_zlib():
    rng = np.random.default_rng(3)
    for a_len, b_len in [(0, 10), (10, 0), (1, 1), (70000, 5), (123456, 654321)]:
        a, b = rng.bytes(a_len), rng.bytes(b_len)
        assert _adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_refuses_what_is_not_rgba():
    with pytest.raises(ValueError):
        encode_rgba(np.zeros((4, 4, 3), np.uint8))
