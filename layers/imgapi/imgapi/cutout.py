"""Background removal with rembg: one ONNX session per model per container, and the subject's alpha mask.

rembg is imported lazily: the API functions share this package but never load a model.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from threading import Lock

import numpy as np
from PIL import Image

from .errors import JobFailure
from .removal_configs import RemovalConfig

_sessions: dict[str, object] = {}
_lock = Lock()


def cpu_count() -> int:
    """The vCPUs this process may really use (Lambda gives 1 vCPU per 1,769 MB, whatever the host has)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def model_locations(model: str) -> list[str]:
    """Where rembg looks for a model's .onnx file (U2NET_HOME or its default home)."""
    from rembg.sessions import sessions

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
    from rembg.session_factory import new_session
    from rembg.sessions import sessions

    if model not in sessions:
        raise JobFailure(f"rembg has no model named {model!r}", code="model_unavailable")
    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_count()
    options.inter_op_num_threads = 1
    try:
        return new_session(model, sess_opts=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a missing file, a failed download or a corrupt model: all mean "cannot load"
        home = os.environ.get("U2NET_HOME") or "(U2NET_HOME not set; rembg's default home)"
        raise JobFailure(
            f"rembg model {model!r} could not be loaded: looked for {' or '.join(model_locations(model))} "
            f"(U2NET_HOME={home}) and could not download it ({type(exc).__name__}: {exc}). "
            "Put the model's .onnx file there or set U2NET_HOME to the folder that has it.",
            code="model_unavailable",
        ) from exc


@dataclass
class Cutout:
    rgb: np.ndarray  # HxWx3 uint8, the subject's colours
    alpha: np.ndarray  # HxW uint8, 255 = subject


def cut_out(image: Image.Image, config: RemovalConfig) -> Cutout:
    """Predict the subject's mask for an RGB image and refine it as the configuration says."""
    session = get_session(config.model)
    mask = session.predict(image)[0]
    if config.post_process_mask or config.alpha_matting:
        from rembg import bg  # pymatting/scikit-image: imported only when a job asks for them

        if config.post_process_mask:
            mask = Image.fromarray(bg.post_process(np.asarray(mask)))
        if config.alpha_matting:
            try:
                matted = bg.alpha_matting_cutout(
                    image, mask,
                    config.alpha_matting_foreground_threshold,
                    config.alpha_matting_background_threshold,
                    config.alpha_matting_erode_size,
                )
                rgba = np.asarray(matted.convert("RGBA"))
                return Cutout(rgb=np.ascontiguousarray(rgba[..., :3]), alpha=np.ascontiguousarray(rgba[..., 3]))
            except ValueError:
                pass  # matting needs both sure-foreground and sure-background pixels; keep the plain mask
    return Cutout(rgb=np.asarray(image), alpha=np.asarray(mask.convert("L")))
