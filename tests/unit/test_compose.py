"""change_bg on the local engine: the reference behind, the subject in front, an edge with no halo and no jaggies."""
from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from imgapi.engine.compose import change_background, cover, feather, run_change_bg
from imgapi.engine.enhance import spread
from tests.support.images import BACKGROUND, SUBJECT, encode, portrait_array, subject_mask

W, H = 200, 240
NEW_BACKGROUND = (40, 160, 60)


def _linear(srgb) -> np.ndarray:
    c = np.asarray(srgb, np.float64) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _old_background_share(pixels: np.ndarray) -> np.ndarray:
    """How much of the old background each pixel holds: its colour unmixed, in linear light, into the subject,
    the new background and the old one (three colours, three channels: one exact solution per pixel)."""
    basis = np.stack([_linear(SUBJECT), _linear(NEW_BACKGROUND), _linear(BACKGROUND)], axis=1)
    return np.linalg.solve(basis, _linear(pixels).T)[2]


def _photographed_subject(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The red subject on the blue-grey background with a soft edge as a camera sees it (the edge pixels are the two
    colours mixed), and its true alpha."""
    alpha = cv2.GaussianBlur(subject_mask(W, H).astype(np.float32), (0, 0), sigma)
    rgb = SUBJECT * alpha[..., None] + np.array(BACKGROUND, np.float32) * (1 - alpha[..., None])
    return np.clip(rgb, 0, 255).astype(np.uint8), np.rint(alpha * 255).astype(np.uint8)


def _inside(alpha: np.ndarray) -> np.ndarray:
    """Solid subject pixels more than the feather's reach from the edge."""
    return cv2.erode((alpha == 255).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0


def test_cover_scales_to_cover_and_centres():
    reference = np.zeros((100, 300, 3), np.uint8)  # wide: scaled to the output's height, its sides cut off
    reference[:, :100] = (255, 0, 0)
    reference[:, 100:200] = (0, 255, 0)
    reference[:, 200:] = (0, 0, 255)
    out = cover(reference, (W, H))
    assert out.shape == (H, W, 3)  # 100x300 -> 240x720, the middle 200 columns kept: all of the green third
    assert (np.abs(out[:, 10:-10].astype(int) - (0, 255, 0)).max(axis=2) <= 2).all()
    tall = cover(np.full((400, 50, 3), 7, np.uint8), (W, H))
    assert tall.shape == (H, W, 3) and (tall == 7).all()


@pytest.mark.parametrize("sigma", [1.5, 4.0])
def test_the_background_comes_from_the_reference_the_subject_from_the_base_and_the_edge_has_no_halo(sigma):
    rgb, alpha = _photographed_subject(sigma)
    reference = np.full((H, W, 3), NEW_BACKGROUND, np.uint8)
    out = change_background(rgb, alpha, reference)
    assert out.shape == rgb.shape
    solid = _inside(alpha)
    assert np.array_equal(out[solid], rgb[solid])  # the subject is the base's own pixels
    far = cv2.dilate(alpha, np.ones((7, 7), np.uint8)) == 0
    assert (out[far] == NEW_BACKGROUND).all()  # the background is the reference's own pixels
    edge = (alpha > 8) & (alpha < 247)
    assert edge.sum() > 100
    ours = _old_background_share(out[edge])
    a = alpha[edge, None] / 255.0
    naive = _old_background_share(rgb[edge] * a + np.array(NEW_BACKGROUND) * (1 - a))  # a plain alpha paste
    assert np.abs(ours).max() <= 0.03  # no trace of the old blue-grey around the subject
    assert naive.max() >= 0.1  # what pasting the photo's own edge colours leaves


def test_a_hard_cut_out_edge_is_softened_not_left_jagged():
    mask = subject_mask(W, H)
    alpha = mask.astype(np.uint8) * 255  # an aliased cut-out: every edge pixel all or nothing
    rgb = np.where(mask[..., None], np.array(SUBJECT, np.uint8), np.uint8(0))
    out = change_background(rgb, alpha, np.full((H, W, 3), NEW_BACKGROUND, np.uint8)).astype(np.float32)
    green = out[..., 1]
    step = max(np.abs(np.diff(green, axis=0)).max(), np.abs(np.diff(green, axis=1)).max())
    hard_step = abs(NEW_BACKGROUND[1] - SUBJECT[1])
    assert step <= 0.6 * hard_step  # every edge crossed in two or more steps
    soft = feather(alpha)
    assert ((soft > 0) & (soft < 255)).sum() > 2 * ((alpha > 0) & (alpha < 255)).sum()


def test_spread_gives_the_edge_the_colour_of_the_solid_subject_however_wide_it_is():
    rgb, alpha = _photographed_subject(6.0)
    filled = spread(rgb, alpha >= 250)
    band = (alpha > 0) & (alpha < 250)
    assert np.abs(filled[band] - np.array(SUBJECT, np.float32)).max() <= 4


def _png(array: np.ndarray) -> bytes:
    return encode(array, "PNG")


def test_run_change_bg_uses_the_model_mask_and_the_base_size(model_home):
    base = portrait_array(W, H)
    reference = np.zeros((300, 300, 3), np.uint8)
    reference[:] = NEW_BACKGROUND
    output = run_change_bg(_png(base), _png(reference), model="u2net")
    out = np.asarray(Image.open(io.BytesIO(output.data)).convert("RGB"))
    assert (output.width, output.height) == (W, H) and output.content_type == "image/png"
    mask = subject_mask(W, H)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9))) > 0
    outer = cv2.erode((~mask).astype(np.uint8), np.ones((9, 9))) > 0
    assert np.array_equal(out[inner], base[inner])
    assert (out[outer] == NEW_BACKGROUND).all()


def test_a_base_with_its_own_transparency_keeps_its_alpha(model_home):
    rgb, alpha = _photographed_subject(1.0)
    alpha[:, : W // 2] = 0  # only the right half of the subject is cut out: the model would find all of it
    rgba = np.dstack([rgb, alpha])
    output = run_change_bg(_png(rgba), _png(np.full((H, W, 3), NEW_BACKGROUND, np.uint8)), model="u2net")
    out = np.asarray(Image.open(io.BytesIO(output.data)).convert("RGB"))
    left_of_subject = subject_mask(W, H) & (np.arange(W) < W // 2 - 4)[None, :]
    assert (out[left_of_subject] == NEW_BACKGROUND).all()
    solid = _inside(alpha)
    assert np.array_equal(out[solid], rgb[solid])
