"""expand's exemplar synthesis (engine/exemplar_fill): the border continues the photo's texture at full sharpness,
from patches near the edge it continues, at a bounded cost whatever the size."""
from __future__ import annotations

import cv2
import numpy as np
import skimage.data

from imgapi.engine import exemplar_fill
from imgapi.engine.outpaint import margins

ALL = {"top": 1.5, "bottom": 1.5, "left": 1.5, "right": 1.5}


def _energy(image: np.ndarray, where: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.mean((cv2.Sobel(grey, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(grey, cv2.CV_32F, 0, 1) ** 2)[where]))


def _grown(image: np.ndarray, scales: dict) -> tuple[np.ndarray, dict, np.ndarray]:
    h, w = image.shape[:2]
    pad = margins(w, h, scales)
    out = exemplar_fill.fill(image, pad)
    border = np.ones(out.shape[:2], bool)
    border[pad["top"]:pad["top"] + h, pad["left"]:pad["left"] + w] = False
    return out, pad, border


def test_a_real_texture_is_continued_not_smeared():
    """Gravel's crop grown back: the new border has about the truth's texture (Telea's and the old fill's had ~4%)."""
    truth = np.dstack([skimage.data.gravel()] * 3)[64:448, 64:448]  # 384 x 384
    crop = np.ascontiguousarray(truth[64:320, 64:320])  # the middle 256: grown by 1.5 on each side gives 384 again
    out, pad, border = _grown(crop, ALL)
    assert out.shape == truth.shape and pad == {"top": 64, "bottom": 64, "left": 64, "right": 64}
    assert np.array_equal(out[64:320, 64:320], crop)
    assert 0.6 <= _energy(out, border) / _energy(truth, border) <= 1.6


def test_a_large_photo_is_searched_small_and_copied_at_full_sharpness(monkeypatch):
    """A 2400 x 1600 photo: the search runs on at most WORK_PIXELS, the border keeps the photo's own fine detail."""
    photo = cv2.resize(np.dstack([skimage.data.grass()] * 3), (2400, 1600), interpolation=cv2.INTER_CUBIC)
    seen = []
    plan = exemplar_fill.plan
    monkeypatch.setattr(exemplar_fill, "plan", lambda rgb, pad: seen.append(rgb.shape) or plan(rgb, pad))
    out, pad, border = _grown(photo, {"top": 1.25, "bottom": 1.25, "left": 1.25, "right": 1.25})
    ((h, w, _),) = seen
    grown = (h + round(pad["top"] * h / 1600) * 2) * (w + round(pad["left"] * w / 2400) * 2)
    assert grown <= exemplar_fill.WORK_PIXELS * 1.02
    inside = ~border
    assert _energy(out, border) >= 0.6 * _energy(out, inside)  # not an enlargement of the small search canvas


def test_patches_come_from_along_the_edge_not_from_the_middle():
    """A red subject in the middle of a grey textured backdrop, further than two blocks (64 px) from every edge:
    nothing red is copied into the border."""
    rng = np.random.default_rng(5)
    image = np.clip(128 + rng.normal(0, 12, (160, 240, 3)), 0, 255).astype(np.uint8)
    image[66:94, 66:174] = (200, 30, 30)
    out, _, border = _grown(image, ALL)
    red = (out[..., 0] > 170) & (out[..., 1] < 70)  # the subject's colour; the noise never gets there
    assert not red[border].any()


def test_the_same_photo_always_gets_the_same_border():
    photo = np.ascontiguousarray(skimage.data.coffee()[::2, ::2])
    first, _, _ = _grown(photo, ALL)
    again, _, _ = _grown(photo, ALL)
    assert np.array_equal(first, again)


def test_a_thin_strip_is_filled_in_blocks_that_step_by_most_of_their_size():
    """The cost is the number of blocks. A strip 10 pixels high has 10-pixel blocks: with the usual 8-pixel overlap
    they stepped by 2 pixels, and a 20000 x 10 PNG grown on every side took 45 CPU-s (the worker has 60 s)."""
    strip = np.random.default_rng(3).integers(0, 256, (10, 2000, 3), np.uint8)
    pad = margins(2000, 10, ALL)
    steps, size = exemplar_fill.plan(strip, pad)
    canvas = (10 + pad["top"] + pad["bottom"]) * (2000 + pad["left"] + pad["right"])
    assert size == 10
    # Stepping by 8 of the 10 pixels: 876 blocks, about 2 per block's area of canvas (the strip's rows above and
    # below are a row of blocks each); stepping by 2 it was 3492.
    assert len(steps) <= 2.5 * canvas / size ** 2
