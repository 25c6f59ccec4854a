"""The optimised pipeline against the straightforward one (rembg.remove, Pillow LANCZOS, PNG):
the same mask, and outputs that differ by no more than resampling (and the level's own sharpening)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgapi.engine import cutout
from imgapi.engine.enhance import resample
from imgapi.engine.enhance_levels import LEVELS, output_size
from imgapi.engine.pipeline import run_combo, run_remove_bg
from imgapi.jobs.removal_configs import RemovalConfig
from tests.support.images import encode, portrait_array

pytestmark = pytest.mark.slow
CONFIG = RemovalConfig(model="u2net")


def straightforward(data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
    from rembg import remove

    out = remove(Image.open(io.BytesIO(data)), session=cutout.get_session("u2net"))
    if size:
        out = out.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(out).astype(int)


@pytest.fixture(scope="module")
def photo() -> bytes:
    return encode(portrait_array(300, 400, seed=7), "JPEG")


def test_the_mask_is_rembgs_mask(photo):
    from rembg import remove

    image = Image.open(io.BytesIO(photo)).convert("RGB")
    theirs = np.asarray(remove(image, session=cutout.get_session("u2net"), only_mask=True)).astype(int)
    ours = resample(cutout.model_mask(image, "u2net"), image.size).astype(int)
    assert np.abs(ours - theirs).mean() < 1.0
    assert ((ours > 127) == (theirs > 127)).mean() > 0.995


def test_remove_bg_matches_the_straightforward_output(photo):
    ours = np.asarray(Image.open(io.BytesIO(run_remove_bg(photo, CONFIG).data))).astype(int)
    theirs = straightforward(photo)
    assert ours.shape == theirs.shape
    assert np.abs(ours[..., 3] - theirs[..., 3]).mean() < 1.0
    # (rembg's cut-out also darkens partly transparent pixels' colour: compare fully opaque ones.)
    both_opaque = (ours[..., 3] == 255) & (theirs[..., 3] == 255)
    assert np.abs(ours[both_opaque][:, :3] - theirs[both_opaque][:, :3]).max() <= 1


@pytest.mark.parametrize("level", list(LEVELS))
def test_combo_matches_the_straightforward_pipeline_at_identical_dimensions(photo, level):
    size = output_size(300, 400, LEVELS[level].scale, 4096)
    ours = np.asarray(Image.open(io.BytesIO(run_combo(photo, level, CONFIG, max_edge=4096).data))).astype(int)
    theirs = straightforward(photo, size)
    assert ours.shape == theirs.shape == (size[1], size[0], 4)
    # Alpha: the mask resampled once (bicubic) instead of twice (LANCZOS): resampling error only.
    assert np.abs(ours[..., 3] - theirs[..., 3]).mean() < 2.0
    assert ((ours[..., 3] > 127) == (theirs[..., 3] > 127)).mean() > 0.99
    # Colour where both are opaque: the straightforward pipeline does not denoise or sharpen, so
    # the level's own enhancement is the difference, bounded by its strength.
    both = (ours[..., 3] > 250) & (theirs[..., 3] > 250)
    difference = np.abs(ours[both][:, :3] - theirs[both][:, :3]).mean()
    assert difference < 2.0 + 6.0 * LEVELS[level].sharpen, difference


@pytest.fixture
def isnet(isnet_model):
    return RemovalConfig(model="isnet-general-use")


def test_the_isnet_mask_is_rembgs_mask_from_its_1024_output(isnet, photo):
    from rembg import remove

    image = Image.open(io.BytesIO(photo)).convert("RGB")
    mask = cutout.model_mask(image, isnet.model)
    assert mask.shape == (1024, 1024)  # the model's own size: resampled once, by the caller
    theirs = np.asarray(remove(image, session=cutout.get_session(isnet.model), only_mask=True)).astype(int)
    ours = resample(mask, image.size).astype(int)
    assert np.abs(ours - theirs).mean() < 1.0
    assert ((ours > 127) == (theirs > 127)).mean() > 0.995


@pytest.mark.parametrize("side", [300, 1024])  # 1024: the photo is the model's size, the mask needs no resampling
def test_isnet_combo_matches_the_straightforward_pipeline_without_the_refinements(isnet, monkeypatch, side):
    from rembg import remove

    photo = encode(portrait_array(side, side, seed=7), "JPEG")
    monkeypatch.setattr(cutout, "refine", lambda *a, **k: pytest.fail("a plain cut-out needs no refinement"))
    size = output_size(side, side, LEVELS["light"].scale, 4096)
    ours = np.asarray(Image.open(io.BytesIO(run_combo(photo, "light", isnet, max_edge=4096).data))).astype(int)
    theirs = remove(Image.open(io.BytesIO(photo)), session=cutout.get_session(isnet.model))
    theirs = np.asarray(theirs.resize(size, Image.Resampling.LANCZOS)).astype(int)
    assert ours.shape == theirs.shape
    assert np.abs(ours[..., 3] - theirs[..., 3]).mean() < 2.0
    assert ((ours[..., 3] > 127) == (theirs[..., 3] > 127)).mean() > 0.99


def _recorded(monkeypatch, order: list) -> None:
    from imgapi.engine import pipeline

    mask_of, enhance_colour = cutout.mask_of, pipeline.enhance_colour
    monkeypatch.setattr(cutout, "mask_of", lambda *a, **k: order.append("mask") or mask_of(*a, **k))
    monkeypatch.setattr(pipeline, "enhance_colour", lambda *a, **k: order.append("colour") or enhance_colour(*a, **k))


def test_a_model_rembg_runs_on_the_photo_gets_its_mask_before_the_photo_is_freed(photo, monkeypatch):
    # A model outside MODEL_INPUTS (BiRefNet, BRIA...) goes through rembg's own predict(), which needs the photo
    # open: the combo takes its mask first. A model on a tensor of its own gets its colour first (while a first
    # job's model is still loading). U2-Net stands in for the first kind here, through rembg's predict().
    order: list = []
    _recorded(monkeypatch, order)
    expected = np.asarray(Image.open(io.BytesIO(run_combo(photo, "light", CONFIG, max_edge=4096).data))).astype(int)
    assert order == ["colour", "mask"]

    order.clear()
    monkeypatch.setattr(cutout, "MODEL_INPUTS", {k: v for k, v in cutout.MODEL_INPUTS.items() if k != "u2net"})
    ours = np.asarray(Image.open(io.BytesIO(run_combo(photo, "light", CONFIG, max_edge=4096).data))).astype(int)
    assert order == ["mask", "colour"]
    assert ours.shape == expected.shape
    # rembg's predict() resizes its mask to the photo before the combo resamples it to the output: resampling apart,
    # the same mask, and the same colour wherever both are opaque.
    assert np.abs(ours[..., 3] - expected[..., 3]).mean() < 2.0
    both = (ours[..., 3] == 255) & (expected[..., 3] == 255)
    assert both.mean() > 0.1 and (ours[both][:, :3] == expected[both][:, :3]).all()
