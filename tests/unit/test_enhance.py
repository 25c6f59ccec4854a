"""Enhancement levels, resampling, halo-free sharpening and colour bleeding."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from imgapi.engine.enhance import bleed, enhance_colour, resample, sharpen
from imgapi.engine.enhance_levels import LEVELS, output_size


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
    rgb[alpha > 0] = colour  # fully transparent pixels stay black, as transparent PNGs often store them
    return rgb, alpha


def test_bleed_gives_hidden_pixels_their_visible_neighbours_colour_so_resampling_has_no_dark_fringe():
    rgb, alpha = _disc()
    naive_rgb = resample(rgb, (160, 160))
    bled_rgb = resample(bleed(rgb, alpha), (160, 160))
    out_alpha = resample(alpha, (160, 160))
    edge = (out_alpha > 20) & (out_alpha < 235)
    assert edge.sum() > 100
    assert np.abs(bled_rgb[edge].astype(int) - (200, 60, 50)).max() <= 3
    assert naive_rgb[edge][:, 0].astype(int).min() < 120  # the dark fringe bleeding prevents


def test_bleed_keeps_opaque_pixels_exactly():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    alpha = np.full((30, 30), 255, np.uint8)
    alpha[:, :10] = 0
    out = bleed(rgb, alpha)
    assert (out[:, 10:] == rgb[:, 10:]).all()


def test_sharpen_raises_sharpness_without_leaving_the_neighbourhood_range():
    rng = np.random.default_rng(1)
    pattern = cv2.resize(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), (128, 128), interpolation=cv2.INTER_LINEAR)
    out = sharpen(pattern, amount=1.0, sigma=1.5)
    kernel = np.ones((3, 3), np.uint8)
    assert (out >= cv2.erode(pattern, kernel)).all() and (out <= cv2.dilate(pattern, kernel)).all()
    laplacian = lambda img: cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert laplacian(out) > laplacian(pattern) * 1.2


def test_resample_uses_the_requested_size_both_ways():
    image = np.zeros((30, 40, 3), np.uint8)
    assert resample(image, (80, 60)).shape == (60, 80, 3)
    assert resample(image, (20, 15)).shape == (15, 20, 3)
    assert resample(image, (40, 30)) is image


def test_enhance_colour_output_size():
    rgb = np.random.default_rng(2).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    assert enhance_colour(rgb, LEVELS["strong"], (120, 150)).shape == (150, 120, 3)
