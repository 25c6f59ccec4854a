"""expand on the local engine: DashScope's scales, the original kept to the pixel, a fill with no seam."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgapi.core.errors import JobFailure
from imgapi.engine.enhance import spread
from imgapi.engine.outpaint import expand, margins, run_expand
from tests.support.images import encode

W, H = 160, 120
EVERY_SIDE = {"top": 2.0, "bottom": 1.5, "left": 1.5, "right": 2.0}


def _plain(rng) -> np.ndarray:
    return np.full((H, W, 3), (120, 130, 140), np.float32) + rng.normal(0, 1.5, (H, W, 3))


def _gradient(rng) -> np.ndarray:
    """A sky-like vertical gradient: every row its own colour."""
    t = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    top, bottom = np.array([60, 110, 200], np.float32), np.array([200, 190, 150], np.float32)
    return np.broadcast_to((1 - t) * top + t * bottom, (H, W, 3)) + rng.normal(0, 2, (H, W, 3))


def _studio(rng) -> np.ndarray:
    """A studio backdrop: light in the middle, darker towards the corners (a vignette), with grain."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r = np.hypot((xx - W / 2) / W, (yy - H * 0.45) / H)
    base = np.array([235, 232, 228], np.float32) - 90 * r[..., None] * np.array([1.0, 1.05, 1.1], np.float32)
    return base + rng.normal(0, 3, (H, W, 3))


BACKGROUNDS = {"plain": _plain, "gradient": _gradient, "studio": _studio}


def _image(kind: str) -> np.ndarray:
    return np.clip(BACKGROUNDS[kind](np.random.default_rng(7)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("scales,expected", [
    ({"top": 1.0, "bottom": 1.0, "left": 1.0, "right": 1.0}, {"top": 0, "bottom": 0, "left": 0, "right": 0}),
    ({"top": 2.0, "bottom": 2.0, "left": 2.0, "right": 2.0}, {"top": 60, "bottom": 60, "left": 80, "right": 80}),
    ({"top": 1.5, "bottom": 1.0, "left": 1.0, "right": 1.25}, {"top": 30, "bottom": 0, "left": 0, "right": 20}),
])
def test_a_scale_multiplies_the_extent_from_the_centre_to_its_side_as_dashscope_does(scales, expected):
    assert margins(W, H, scales) == expected  # all four at 2.0: the image centred on a canvas twice its size


@pytest.mark.parametrize("bad", [0.99, 2.01])
def test_a_scale_outside_dashscopes_range_is_refused(bad):
    with pytest.raises(JobFailure) as failure:
        margins(W, H, {**EVERY_SIDE, "left": bad})
    assert "left_scale" in failure.value.reason


@pytest.mark.parametrize("kind", list(BACKGROUNDS))
def test_the_original_is_unchanged_and_the_fill_continues_its_edges_without_a_seam(kind):
    image = _image(kind)
    out, alpha, _ = expand(image, None, EVERY_SIDE, max_pixels=10**8)
    pad = margins(W, H, EVERY_SIDE)
    top, left = pad["top"], pad["left"]
    assert alpha is None and out.shape == (H + pad["top"] + pad["bottom"], W + pad["left"] + pad["right"], 3)
    assert np.array_equal(out[top:top + H, left:left + W], image)  # to the pixel
    o = out.astype(np.float32)
    inside = o[top:top + H, left:left + W]
    # Colour near each seam: the fill's 4 rows (columns) next to the image against the image's 4 edge rows (columns).
    seams = {
        "top": (o[top - 4:top, left:left + W], inside[:4]),
        "bottom": (o[top + H:top + H + 4, left:left + W], inside[-4:]),
        "left": (o[top:top + H, left - 4:left], inside[:, :4]),
        "right": (o[top:top + H, left + W:left + W + 4], inside[:, -4:]),
    }
    for side, (fill, edge) in seams.items():
        assert np.abs(fill.mean(axis=(0, 1)) - edge.mean(axis=(0, 1))).max() <= 3.0, (kind, side)
    # The step across each seam is no larger than the steps between neighbouring rows (columns) inside the image.
    own_vertical = np.abs(np.diff(inside, axis=0)).mean()
    own_horizontal = np.abs(np.diff(inside, axis=1)).mean()
    steps = {
        "top": (np.abs(o[top - 1, left:left + W] - o[top, left:left + W]).mean(), own_vertical),
        "bottom": (np.abs(o[top + H, left:left + W] - o[top + H - 1, left:left + W]).mean(), own_vertical),
        "left": (np.abs(o[top:top + H, left - 1] - o[top:top + H, left]).mean(), own_horizontal),
        "right": (np.abs(o[top:top + H, left + W] - o[top:top + H, left + W - 1]).mean(), own_horizontal),
    }
    for side, (step, own) in steps.items():
        assert step <= 1.25 * own + 0.5, (kind, side, step, own)


def test_the_fill_carries_each_rows_colour_sideways_on_a_gradient():
    image = _image("gradient")
    scales = {"top": 1.0, "bottom": 1.0, "left": 2.0, "right": 2.0}
    out, _, _ = expand(image, None, scales, max_pixels=10**8)
    pad = margins(W, H, scales)
    far_left = out[:, :8].astype(np.float32).mean(axis=1)  # the outermost columns, 80 px from the image
    rows = image.astype(np.float32).mean(axis=1)
    middle = slice(H // 4, 3 * H // 4)  # corners blend in the neighbouring edges' colours
    assert np.abs(far_left[middle] - rows[middle]).max() <= 12
    assert pad == {"top": 0, "bottom": 0, "left": 80, "right": 80}


def test_the_fill_has_the_grain_of_the_original_and_the_same_image_gets_the_same_fill():
    image = _image("studio")
    first, _, _ = expand(image, None, EVERY_SIDE, max_pixels=10**8)
    again, _, _ = expand(image, None, EVERY_SIDE, max_pixels=10**8)
    assert np.array_equal(first, again)
    pad = margins(W, H, EVERY_SIDE)
    fill = first[:pad["top"] - 2].astype(np.float32)  # rows above the image
    grain = np.abs(np.diff(fill, axis=1)).mean()
    own = np.abs(np.diff(image.astype(np.float32), axis=1)).mean()
    assert 0.7 * own <= grain <= 1.3 * own  # neither a flat patch nor noisier than the photo


def test_a_cut_out_stays_transparent_where_its_border_is():
    rgb = np.zeros((H, W, 3), np.uint8)
    alpha = np.zeros((H, W), np.uint8)
    alpha[30:90, 40:120] = 255
    rgb[30:90, 40:120] = (200, 40, 40)
    out, out_alpha, _ = expand(rgb, alpha, EVERY_SIDE, max_pixels=10**8)
    pad = margins(W, H, EVERY_SIDE)
    assert out_alpha.shape == out.shape[:2]
    assert np.array_equal(out_alpha[pad["top"]:pad["top"] + H, pad["left"]:pad["left"] + W], alpha)
    new_area = np.ones(out_alpha.shape, bool)
    new_area[pad["top"]:pad["top"] + H, pad["left"]:pad["left"] + W] = False
    assert out_alpha[new_area].max() == 0


def test_an_expansion_past_the_pixel_limit_fails_the_job_saying_so():
    with pytest.raises(JobFailure) as failure:
        expand(_image("plain"), None, {"top": 2.0, "bottom": 2.0, "left": 2.0, "right": 2.0}, max_pixels=W * H * 3)
    assert failure.value.code == "too_many_pixels" and "320x240" in failure.value.reason


def test_spread_keeps_known_pixels_and_fills_the_rest_from_the_nearest_ones():
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32] = (200, 0, 0)
    image[:, 32:] = (0, 0, 200)
    known = np.zeros((64, 64), bool)
    known[:, :4] = known[:, -4:] = True  # only the two outer strips are known
    filled = spread(image, known)
    assert np.array_equal(filled[known], image[known].astype(np.float32))
    assert filled[32, 6, 0] > 150 and filled[32, 57, 2] > 150  # each side continues its own strip's colour
    assert filled.min() >= 0 and filled.max() <= 255


def test_run_expand_writes_a_png_with_the_original_inside():
    image = _image("studio")
    output = run_expand(encode(image, "PNG"), EVERY_SIDE, max_pixels=10**8)
    pad = margins(W, H, EVERY_SIDE)
    result = Image.open(io.BytesIO(output.data))
    assert output.content_type == "image/png" and result.size == (output.width, output.height)
    assert result.size == (W + pad["left"] + pad["right"], H + pad["top"] + pad["bottom"])
    pixels = np.asarray(result.convert("RGBA"))
    assert np.array_equal(pixels[pad["top"]:pad["top"] + H, pad["left"]:pad["left"] + W, :3], image)
    assert pixels[..., 3].min() == 255
