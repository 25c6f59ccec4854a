"""Background removal with rembg: one ONNX session per model per container, and the subject's mask.

rembg is imported lazily and only in part: the API functions share this package but never load a
model, and the worker needs rembg's sessions (its model loading and download code) but not
`rembg.remove`, whose import pulls in pymatting, numba and scikit-image. Those load only for a job
that asks for alpha matting or mask post-processing.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from contextlib import nullcontext
from threading import Lock
from typing import Callable

import numpy as np
from PIL import Image

from imgapi.engine import numba_cache
from imgapi.core.errors import JobFailure
from imgapi.core.observability import logger

# Models whose session is rembg's U2netSession shape: a 320x320 input normalised with ImageNet's
# mean and std, and the mask as the first output. For these the mask is computed here, at the
# model's resolution, and resampled once to whatever size the job needs.
U2NET_FAMILY = {"u2net", "u2netp", "u2net_human_seg", "silueta"}
_MODEL_SIDE = 320
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)

_sessions: dict[str, object] = {}
_lock = Lock()


def _import_rembg_sessions():
    """rembg's session classes and factory, without executing rembg/__init__.py (which imports rembg.bg)."""
    if "rembg" not in sys.modules:
        spec = importlib.util.find_spec("rembg")
        package = importlib.util.module_from_spec(spec)

        def load_the_rest(name: str):  # anyone asking for rembg.remove & co. gets the whole package
            del package.__getattr__
            spec.loader.exec_module(package)
            return getattr(package, name)

        package.__getattr__ = load_the_rest
        sys.modules["rembg"] = package
    from rembg.session_factory import new_session
    from rembg.sessions import sessions

    return new_session, sessions


# Lambda gives a function CPU in proportion to its memory: one vCPU's worth per 1,769 MB.
LAMBDA_MB_PER_VCPU = 1769


def _cgroup_cpu_limit(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPU quota of this process's cgroup in CPUs (v2 cpu.max or v1 cfs quota), if it has one."""
    try:
        with open(os.path.join(root, "cpu.max")) as handle:
            quota, period = handle.read().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as q, open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as p:
            quota, period = int(q.read()), int(p.read())
            return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def cpu_count() -> int:
    """The vCPUs this process can really use: the host's cores visible to us, capped by the cgroup
    quota and by what Lambda's memory setting buys (a 3 GB function on a 64-core host has ~1.7)."""
    try:
        count = float(len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        count = float(os.cpu_count() or 1)
    quota = _cgroup_cpu_limit()
    if quota:
        count = min(count, quota)
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    if memory and memory.isdigit():
        count = min(count, int(memory) / LAMBDA_MB_PER_VCPU)
    return max(1, round(count))


def model_locations(model: str) -> list[str]:
    """Where rembg looks for a model's .onnx file (U2NET_HOME or its default home)."""
    _, sessions = _import_rembg_sessions()
    cls = sessions.get(model)
    if cls is None:
        return []
    fname = f"{model}.onnx"
    return [os.path.join(cls.model_dir(), fname), os.path.join(cls.legacy_home(), fname)]


def get_session(model: str):
    """The rembg session for a model, created once per container (loading a model costs seconds)."""
    with _lock:
        session = _sessions.get(model)
        if session is None:
            session = _sessions[model] = _load_session(model)
        return session


def _load_session(model: str):
    import onnxruntime as ort

    new_session, sessions = _import_rembg_sessions()
    if model not in sessions:
        raise JobFailure(f"rembg has no model named {model!r}", code="model_unavailable")
    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_count()  # the vCPUs Lambda gives us, not the host's cores
    options.inter_op_num_threads = 1
    # Without the arena and memory patterns ORT frees activations between runs: ~250 MB less peak
    # memory for U2-Net at no measurable cost in speed (Lambda bills memory, not just time).
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    try:
        return new_session(model, sess_opts=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a missing file, a failed download or a corrupt model: all mean "cannot load"
        home = os.environ.get("U2NET_HOME") or "(U2NET_HOME not set; rembg's default home)"
        # Where it looked (server paths) goes to the logs, for the operator; the job's error, which API clients
        # read, says only what failed.
        logger.error(
            f"rembg model {model!r} could not be loaded: looked for {' or '.join(model_locations(model))} "
            f"(U2NET_HOME={home}) and could not download it ({type(exc).__name__}: {exc}). "
            "Put the model's .onnx file there or set U2NET_HOME to the folder that has it.",
            extra={"code": "model_unavailable", "model": model})
        raise JobFailure(f"rembg model {model!r} is not available on the image worker; the operator has been told "
                         "why in the worker's logs", code="model_unavailable") from exc


Clock = Callable[[str], object]


def model_mask(image: Image.Image, model: str, clock: Clock | None = None) -> np.ndarray:
    """The subject's mask (uint8, 255 = subject) as the model sees it.

    For the U2-Net family it is the model's own 320x320 output, normalised exactly as rembg's
    U2netSession.predict does but not resized: the caller resamples it once, to the size it needs.
    Other models go through rembg's own predict() and come back at the image's size.
    """
    clock = clock or (lambda _name: nullcontext())
    session = get_session(model)
    if model not in U2NET_FAMILY:
        with clock("inference"):
            return np.asarray(session.predict(image)[0].convert("L"))
    with clock("prepare"):
        # rembg: LANCZOS to 320x320, divide by the image's maximum, subtract mean, divide by std.
        # reducing_gap lets Pillow shrink by an integer factor first, which is much faster on large
        # photos and differs from a full LANCZOS by resampling error only.
        small = np.asarray(image.resize((_MODEL_SIDE, _MODEL_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0),
                           dtype=np.float32)
        small /= max(float(small.max()), 1e-6)
        small -= _MEAN
        small /= _STD
        tensor = np.ascontiguousarray(small.transpose(2, 0, 1)[None])
    with clock("inference"):
        inner = session.inner_session
        prediction = inner.run(None, {inner.get_inputs()[0].name: tensor})[0][0, 0]
    with clock("mask"):
        low, high = float(prediction.min()), float(prediction.max())
        scaled = (prediction - low) / (high - low) if high > low else np.zeros_like(prediction)
        return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def refine(image: Image.Image, mask: np.ndarray, alpha_matting: bool, post_process: bool,
           thresholds: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """rembg's mask refinements at the image's size: post-processing and/or alpha matting.

    Returns the colours (matting estimates the foreground's) and the alpha.
    """
    numba_cache.ensure_writable_cache()  # before pymatting's numba functions load from the image's read-only /opt
    from rembg import bg  # pymatting / scikit-image: loaded only for the jobs that ask for them

    mask_image = Image.fromarray(mask)
    if post_process:
        mask_image = Image.fromarray(bg.post_process(np.asarray(mask_image)))
    if alpha_matting:
        try:
            matted = bg.alpha_matting_cutout(image, mask_image, *thresholds)
            rgba = np.asarray(matted.convert("RGBA"))
            return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])
        except ValueError:
            pass  # matting needs both sure-foreground and sure-background pixels; keep the plain mask
    return np.asarray(image), np.asarray(mask_image)
