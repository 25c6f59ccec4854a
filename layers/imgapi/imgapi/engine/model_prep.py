"""rembg models optimised once, when the worker image is built (or at `make install`), not at every cold start.

onnxruntime optimises a model's graph each time it loads it: it folds constants (an fp16 export's Cast nodes,
which turn its fp16 weights into the float32 the CPU kernels run, become float32 weights), fuses Conv+ReLU and
reorders convolutions into its blocked NCHWc layout. For a 44 M-parameter model that is most of the load time
and, transiently, a second copy of the weights. `prepare` does it once and saves the optimised graph next to the
model, where `prepared_model` finds it and the session loads it without optimising again:

- `<name>.prepared-portable-<key>.onnx`: constants folded and fusions done (float32 weights, no Cast left), the
  layout left to the load. Valid on any CPU.
- `<name>.prepared-<isa>-<key>.onnx`: everything done, the NCHWc layout included. The layout depends on the CPU's
  vector width (AVX-512 or AVX2), so it is used only on a CPU of the same kind as the one that built it.

`<key>` ties the file to the source model (size and modification time) and to the onnxruntime version, so a
replaced model or an upgraded runtime is never paired with a stale graph. The prepared model's mask is checked
against the original's on a photo-like input before it is kept (fp16 weights read as float32 are exact, so the
two agree; the check is what proves it for any model).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

_SUFFIX = ".prepared-"
MIN_AGREEMENT = 0.999  # share of mask pixels on the same side of 127 as the original model's


def isa() -> str:
    """The CPU kind an NCHWc layout is specific to: machine and widest vector extension onnxruntime uses."""
    machine = platform.machine().lower()
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        flags = []
    vector = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "base"
    return f"{machine}-{vector}" if machine in ("x86_64", "amd64") else machine


def _key(model: Path) -> str:
    import onnxruntime as ort

    stat = model.stat()
    return hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}:{ort.__version__}".encode()).hexdigest()[:12]


def _path(model: Path, kind: str) -> Path:
    return model.with_name(f"{model.stem}{_SUFFIX}{kind}-{_key(model)}.onnx")


def prepared_model(model: str | os.PathLike) -> tuple[Path, bool] | None:
    """The prepared graph to load instead of `model`, and whether it is fully optimised (load it with
    optimisations off) or portable (let the load lay it out for this CPU); None if there is none."""
    model = Path(model)
    if not model.is_file():
        return None
    for kind, complete in ((isa(), True), ("portable", False)):
        path = _path(model, kind)
        if path.is_file():
            return path, complete
    return None


def _options(level, threads: int = 0, save_to: Path | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = level
    if threads:
        options.intra_op_num_threads = threads
    if save_to is not None:
        options.optimized_model_filepath = str(save_to)
    return options


def _mask(session, tensor: np.ndarray) -> np.ndarray:
    """The first output, min-max stretched to 0..255 as rembg's sessions do."""
    prediction = session.run(None, {session.get_inputs()[0].name: tensor})[0][0, 0]
    low, high = float(prediction.min()), float(prediction.max())
    return (prediction - low) / (high - low) * 255 if high > low else np.zeros_like(prediction)


def _photo_like(shape: list) -> np.ndarray:
    """A deterministic input of the model's shape: smooth light, a bright disc, noise, in a normalised range."""
    _, channels, height, width = (d if isinstance(d, int) else 1 for d in shape)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    disc = (((xx - width / 2) / (width / 4)) ** 2 + ((yy - height / 2) / (height / 3)) ** 2 <= 1).astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 0.05, (channels, height, width)).astype(np.float32)
    return (0.6 * disc + 0.2 * xx / width + noise - 0.4)[None].astype(np.float32)


def prepare(model: str | os.PathLike) -> dict:
    """Save `model`'s prepared graphs next to it (both kinds) and check their masks against the original's."""
    import onnxruntime as ort

    model = Path(model)
    started = time.perf_counter()
    saved = {}
    for kind, level in (("portable", ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED),
                        (isa(), ort.GraphOptimizationLevel.ORT_ENABLE_ALL)):
        target = _path(model, kind)
        for stale in model.parent.glob(f"{model.stem}{_SUFFIX}{kind}-*.onnx"):
            stale.unlink()
        ort.InferenceSession(str(model), _options(level, save_to=target), providers=["CPUExecutionProvider"])
        saved[kind] = target
    original = ort.InferenceSession(str(model), _options(ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
                                    providers=["CPUExecutionProvider"])
    tensor = _photo_like(original.get_inputs()[0].shape)
    reference = _mask(original, tensor)
    report = {"model": str(model), "seconds": 0.0, "prepared": {}}
    for kind, target in saved.items():
        level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL if kind != "portable" else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        mask = _mask(ort.InferenceSession(str(target), _options(level), providers=["CPUExecutionProvider"]), tensor)
        agreement = float(((mask > 127) == (reference > 127)).mean())
        report["prepared"][kind] = {"path": target.name, "mask_agreement": agreement,
                                    "mask_mean_abs": float(np.abs(mask - reference).mean())}
        if agreement < MIN_AGREEMENT:
            target.unlink()
            raise RuntimeError(f"{target.name}: its mask agrees with the original's on {agreement:.4f} of the pixels")
    report["seconds"] = time.perf_counter() - started
    return report


def main(argv: list[str]) -> int:
    """`python -m imgapi.engine.model_prep [MODEL ...]`: prepare these models (rembg names); by default each
    model of REMBG_MODELS that is in rembg's home. Prints one JSON report per model."""
    from imgapi.engine.cutout import model_locations

    names = argv or [m.strip() for m in os.environ.get("REMBG_MODELS", "u2net").split(",") if m.strip()]
    for name in names:
        found = next((Path(p) for p in model_locations(name) if Path(p).is_file()), None)
        if found is None:
            print(json.dumps({"model": name, "skipped": "not in rembg's home"}))
            continue
        print(json.dumps(prepare(found)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
