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

from imgapi.engine import model_prep, numba_cache
from imgapi.core.errors import JobFailure
from imgapi.core.observability import logger

# Models whose rembg session is U2netSession's or DisSession's shape: a square input normalised with a
# mean and std, and the mask as the first output, min-max stretched. For these the mask is computed
# here, at the model's resolution, and resampled once to whatever size the job needs (rembg resizes it
# to the photo's size with LANCZOS, and a combo resampled it again to the output's).
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MODEL_INPUTS: dict[str, tuple[int, tuple[float, ...], tuple[float, ...]]] = {
    **{name: (320, _IMAGENET_MEAN, _IMAGENET_STD) for name in ("u2net", "u2netp", "u2net_human_seg", "silueta")},
    "isnet-general-use": (1024, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0)),
    "isnet-anime": (1024, _IMAGENET_MEAN, (1.0, 1.0, 1.0)),
}

_sessions: dict[str, object] = {}
_lock = Lock()


def _partial_package(name: str) -> None:
    """Put package `name` in sys.modules without running its __init__.py, so that one of its modules can be
    imported alone; the first attribute anyone asks of the package itself runs the __init__ then."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    package = importlib.util.module_from_spec(spec)

    def load_the_rest(attribute: str):  # anyone asking for rembg.remove, rembg.sessions.sessions & co. gets it all
        del package.__getattr__
        spec.loader.exec_module(package)
        return getattr(package, attribute)

    package.__getattr__ = load_the_rest
    sys.modules[name] = package


# The session modules of the models whose masks model_mask computes itself. Importing just the one a job needs spares
# a cold start rembg/__init__.py (rembg.bg: pymatting, numba, scikit-image) and rembg/sessions/__init__.py, which
# imports every session rembg has (SAM's jsonschema, scipy, ...): most of a worker's import time.
_SESSION_MODULES = {"u2net": "u2net", "u2netp": "u2netp", "u2net_human_seg": "u2net_human_seg", "silueta": "silueta",
                    "isnet-general-use": "dis_general_use", "isnet-anime": "dis_anime"}


def session_class(model: str):
    """rembg's session class for a model (None if rembg has none)."""
    _partial_package("rembg")
    module = _SESSION_MODULES.get(model)
    if module is not None:
        _partial_package("rembg.sessions")
        loaded = importlib.import_module(f"rembg.sessions.{module}")
        for value in vars(loaded).values():
            if isinstance(value, type) and value.__module__ == loaded.__name__ and value.name() == model:
                return value
    from rembg.sessions import sessions

    return sessions.get(model)


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
    cls = session_class(model)
    if cls is None:
        return []
    fname = f"{model}.onnx"
    return [os.path.join(cls.model_dir(), fname), os.path.join(cls.legacy_home(), fname)]


def _prepared_model(model: str):
    """model_prep's optimised graph of the model rembg would load, if the image build (or make install) saved one."""
    found = next((path for path in model_locations(model) if os.path.isfile(path)), None)
    return model_prep.prepared_model(found) if found else None


def get_session(model: str):
    """The rembg session for a model, created once per container (loading a model costs seconds)."""
    with _lock:
        session = _sessions.get(model)
        if session is None:
            session = _sessions[model] = _load_session(model)
        return session


def _load_session(model: str):
    import onnxruntime as ort

    cls = session_class(model)
    if cls is None:
        raise JobFailure(f"rembg has no model named {model!r}", code="model_unavailable")
    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_count()  # the vCPUs Lambda gives us, not the host's cores
    options.inter_op_num_threads = 1
    # Without the arena and memory patterns ORT frees activations between runs: ~250 MB less peak
    # memory for U2-Net at no measurable cost in speed (Lambda bills memory, not just time).
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    try:
        prepared = _prepared_model(model)
        if prepared is None:  # what rembg's new_session does, with our options
            return cls(model, options, providers=["CPUExecutionProvider"])
        path, complete = prepared
        if complete:  # optimised for this CPU when the image was built: nothing left to do at load
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL

        class Prepared(cls):  # rembg's own session class and predict(), on the prepared graph
            @classmethod
            def download_models(cls, *args, **kwargs):
                return str(path)

        return Prepared(model, options, providers=["CPUExecutionProvider"])
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

    For the models in MODEL_INPUTS it is the model's own output at its input size (320x320 for the
    U2-Net family, 1024x1024 for IS-Net), normalised exactly as rembg's session's predict() does but
    not resized: the caller resamples it once, to the size it needs. Other models go through rembg's
    own predict() and come back at the image's size.
    """
    clock = clock or (lambda _name: nullcontext())
    session = get_session(model)
    if model not in MODEL_INPUTS:
        with clock("inference"):
            return np.asarray(session.predict(image)[0].convert("L"))
    side, mean, std = MODEL_INPUTS[model]
    with clock("prepare"):
        # rembg: LANCZOS to the model's side, divide by the image's maximum, subtract mean, divide by std.
        # reducing_gap lets Pillow shrink by an integer factor first, which is much faster on large
        # photos and differs from a full LANCZOS by resampling error only.
        small = np.asarray(image.resize((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.float32)
        small /= max(float(small.max()), 1e-6)
        small -= np.array(mean, np.float32)
        small /= np.array(std, np.float32)
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
