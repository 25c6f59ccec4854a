"""Enhancement levels and fringe-free resampling."""
from __future__ import annotations

import numpy as np
import pytest

from imgapi.enhance import LEVELS, enhance_cutout, output_size, resize_premultiplied, sharpen


@pytest.mark.parametrize("size,scale,cap,expected", [
    ((100, 50), 2.0, 4096, (200, 100)),
    ((4000, 3000), 2.0, 4096, (4096, 3072)),
    ((3000, 4000), 3.0, 4096, (3072, 4096)),
    ((6000, 4000), 2.0, 4096, (4096, 2731)),
    ((1, 1), 2.0, 4096, (2, 2)),
])
def test_output_size_is_scaled_then_capped(size, scale, cap, expected):
    assert output_size(*size, scale, cap) == expected


def test_levels_are_ordered_from_light_to_strong():
    light, medium, strong = LEVELS["light"], LEVELS["medium"], LEVELS["strong"]
    assert light.denoise <= medium.denoise <= strong.denoise
    assert light.sharpen <= medium.sharpen <= strong.sharpen
    assert light.scale <= medium.scale <= strong.scale


def _disc(size=40, colour=(200, 60, 50)):
    yy, xx = np.mgrid[0:size, 0:size]
    alpha = (((xx - size / 2) ** 2 + (yy - size / 2) ** 2) <= (size / 3) ** 2).astype(np.uint8) * 255
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[alpha > 0] = colour  # transparent pixels are black, as a naive cut-out leaves them
    return rgb, alpha


def test_premultiplied_resize_keeps_edge_colour_where_a_naive_resize_darkens_it():
    import cv2

    rgb, alpha = _disc()
    out_rgb, out_alpha = resize_premultiplied(rgb, alpha, (160, 160))
    edge = (out_alpha > 20) & (out_alpha < 235)
    assert edge.sum() > 100
    assert np.abs(out_rgb[edge].astype(int) - (200, 60, 50)).max() <= 2
    naive = cv2.resize(np.dstack([rgb, alpha]), (160, 160), interpolation=cv2.INTER_CUBIC)
    assert naive[edge][:, 0].astype(int).min() < 150  # the fringe this avoids


def test_sharpen_adds_no_halo_against_transparency():
    rgb, alpha = _disc()
    out = sharpen(rgb, alpha, amount=1.5, sigma=1.5)
    visible = alpha > 0
    assert np.abs(out[visible].astype(int) - (200, 60, 50)).max() == 0


def test_enhance_cutout_shape_and_transparent_pixels_are_clean():
    rgb, alpha = _disc()
    rgb[alpha == 0] = (10, 200, 10)  # whatever the background was
    out_rgb, out_alpha = enhance_cutout(rgb, alpha, LEVELS["strong"], 4096)
    assert out_rgb.shape == (120, 120, 3) and out_alpha.shape == (120, 120)
    assert (out_rgb[out_alpha == 0] == 0).all()
