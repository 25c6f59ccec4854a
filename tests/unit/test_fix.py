"""fix on the local engine: super-resolution and repair with the combo's enhancement, upscale_factor 1-4."""
from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from imgapi.engine.enhance import resample
from imgapi.engine.enhance_levels import FIX_FACTORS, fix_level, output_size
from imgapi.core.errors import JobFailure
from imgapi.engine.pipeline import run_fix
from tests.support.images import encode


def _soft_photo(width: int = 192, height: int = 144) -> np.ndarray:
    """A soft photo: a coarse random texture and two shapes, slightly out of focus, with a little sensor noise."""
    rng = np.random.default_rng(3)
    image = cv2.resize(rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8), (width, height),
                       interpolation=cv2.INTER_CUBIC)
    cv2.circle(image, (width // 2, height // 2), height // 4, (230, 40, 40), -1)
    cv2.rectangle(image, (10, 10), (60, 50), (20, 20, 200), -1)
    soft = cv2.GaussianBlur(image, (0, 0), 1.2).astype(np.float32) + rng.normal(0, 1.0, image.shape)
    return np.clip(soft, 0, 255).astype(np.uint8)


def _sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the luminance: the usual focus measure."""
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def test_fix_levels_grow_with_the_factor():
    levels = [fix_level(f) for f in FIX_FACTORS]
    assert [level.scale for level in levels] == [1.0, 2.0, 3.0, 4.0]
    assert all(a.sharpen_sigma <= b.sharpen_sigma and a.denoise <= b.denoise for a, b in zip(levels, levels[1:]))
    with pytest.raises(ValueError):
        fix_level(5)


@pytest.mark.parametrize("factor", FIX_FACTORS)
def test_the_output_is_factor_times_the_input(factor):
    output = run_fix(encode(_soft_photo(), "PNG"), factor, max_edge=4096)
    assert (output.width, output.height) == (192 * factor, 144 * factor)
    assert _decoded(output.data).shape == (144 * factor, 192 * factor, 4)


def test_the_output_is_capped_like_the_combos():
    output = run_fix(encode(_soft_photo(), "PNG"), 4, max_edge=400)
    assert (output.width, output.height) == output_size(192, 144, 4, 400) == (400, 300)


def test_factor_1_sharpens_without_enlarging_and_stays_close_to_the_input():
    photo = _soft_photo()
    out = _decoded(run_fix(encode(photo, "PNG"), 1, max_edge=4096).data)[..., :3]
    assert out.shape == photo.shape
    assert _sharpness(out) >= 1.3 * _sharpness(photo)
    assert _psnr(out, photo) >= 33.0


@pytest.mark.parametrize("factor", [2, 4])
def test_an_enlargement_is_sharper_than_plain_resampling(factor):
    photo = _soft_photo()
    out = _decoded(run_fix(encode(photo, "PNG"), factor, max_edge=4096).data)[..., :3]
    plain = resample(photo, (192 * factor, 144 * factor))
    assert _sharpness(out) >= 1.5 * _sharpness(plain)
    assert _psnr(out, plain) >= 33.0  # sharper, not a different picture


def test_an_image_with_alpha_keeps_its_alpha():
    photo = _soft_photo()
    alpha = np.zeros(photo.shape[:2], np.uint8)
    alpha[20:120, 30:160] = 255
    out = _decoded(run_fix(encode(np.dstack([photo, alpha]), "PNG"), 2, max_edge=4096).data)
    assert out[..., 3][0, 0] == 0 and out[..., 3][140, 190] == 255
    assert np.abs(out[..., 3].astype(int) - resample(alpha, (384, 288))).max() <= 1


def test_a_factor_outside_1_to_4_fails_the_job():
    with pytest.raises(JobFailure):
        run_fix(encode(_soft_photo(), "PNG"), 5, max_edge=4096)
