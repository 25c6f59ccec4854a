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
import threading
from concurrent.futures import Future
from contextlib import nullcontext
from typing import Callable

import numpy as np
from PIL import Image

from imgapi.engine import model_prep, numba_cache
from imgapi.core.cpus import cpu_count
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
_loading: dict[str, Future] = {}  # loads under way: whoever asks for the model meanwhile waits for that one
_lock = threading.Lock()


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
    """The rembg session for a model, created once per container (loading a model costs seconds). A caller that
    asks while the model loads (a preload, another thread's job) waits for that load and shares its outcome."""
    with _lock:
        session = _sessions.get(model)
        if session is not None:
            return session
        pending = _loading.get(model)
        mine = pending is None
        if mine:
            pending = _loading[model] = Future()
    return _load_into(model, pending) if mine else pending.result()


def _load_into(model: str, pending: Future):
    """Runs the load that `pending` (already in _loading) stands for, and settles it. The outcome is recorded
    before the waiters wake, so that they, and anyone after them, see it settled."""
    try:
        session = _load_session(model)
    except BaseException as exc:
        with _lock:
            _loading.pop(model, None)  # not kept: the next job tries again (the model may be there by then)
        pending.set_exception(exc)
        raise
    with _lock:
        _sessions[model] = session
        _loading.pop(model, None)
    pending.set_result(session)
    return session


def preload(model: str) -> None:
    """Start loading a model's session on a thread of its own, and return.

    onnxruntime releases the GIL while it reads and initialises a model (a quarter of a second for U2-Net, more
    for IS-Net), so what the process does meanwhile (the worker's remaining imports, a job's decoding and
    enhancing) costs no extra time; get_session then waits for this load instead of starting another. The imports
    the load needs (onnxruntime, rembg's session module) run here, in the caller's thread: they hold the GIL, and on
    the thread they would only slow the caller's own imports down, delaying the part that runs in parallel."""
    if model in _sessions or model in _loading:  # read without the lock: the check under it below decides
        return
    import onnxruntime  # noqa: F401

    session_class(model)
    with _lock:
        if model in _sessions or model in _loading:
            return
        pending = _loading[model] = Future()  # registered before returning: a job asking next waits for this load
    keys = logger.thread_safe_get_current_keys()

    def load() -> None:
        logger.append_keys(**keys)  # the caller's (a job's task_id, correlation id) on what the load logs
        try:
            _load_into(model, pending)
        except JobFailure:
            pass  # _load_session logged why; a job that needs the model fails with the same error

    threading.Thread(target=load, name=f"load-{model}", daemon=True).start()


def preload_default() -> None:
    """The image worker's first step: load the deployment's default model (DEFAULT_REMBG_MODEL, else the first of
    REMBG_MODELS) while the handler's imports run, instead of inside its first job."""
    from imgapi.core.settings import get_settings

    preload(get_settings().default_rembg_model)


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
    return mask_of(model_input(image, model, clock), model, clock)


def model_input(image: Image.Image, model: str, clock: Clock | None = None) -> np.ndarray | Image.Image:
    """What the model runs on. For the models in MODEL_INPUTS, the photo at the model's side as a small float
    tensor, so that the caller may free the photo before inference; for other models, the image itself (rembg's
    own predict() takes it)."""
    if model not in MODEL_INPUTS:
        return image
    side, mean, std = MODEL_INPUTS[model]
    with (clock or _no_clock)("prepare"):
        # rembg: LANCZOS to the model's side, divide by the image's maximum, subtract mean, divide by std.
        # reducing_gap lets Pillow shrink by an integer factor first, which is much faster on large
        # photos and differs from a full LANCZOS by resampling error only.
        small = np.asarray(image.resize((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.float32)
        small /= max(float(small.max()), 1e-6)
        small -= np.array(mean, np.float32)
        small /= np.array(std, np.float32)
        return np.ascontiguousarray(small.transpose(2, 0, 1)[None])


def mask_of(prepared: np.ndarray | Image.Image, model: str, clock: Clock | None = None) -> np.ndarray:
    """model_mask's mask from model_input's output."""
    clock = clock or _no_clock
    session = get_session(model)
    if model not in MODEL_INPUTS:
        with clock("inference"):
            return np.asarray(session.predict(prepared)[0].convert("L"))
    with clock("inference"):
        inner = session.inner_session
        prediction = inner.run(None, {inner.get_inputs()[0].name: prepared})[0][0, 0]
    with clock("mask"):
        low, high = float(prediction.min()), float(prediction.max())
        scaled = (prediction - low) / (high - low) if high > low else np.zeros_like(prediction)
        return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def _no_clock(_name: str):
    return nullcontext()


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
