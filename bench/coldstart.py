"""A worker's cold start in a fresh process: imports, session creation, first job.

`python -m bench.coldstart IMAGE [MODEL]` does them one after the other, so each is reported on its own;
`python -m bench.coldstart IMAGE MODEL --preload` does what the image worker's entry does (functions/image_worker/app.py):
the model starts loading first and the imports run meanwhile; `model_load` is then what is left of the load once
the imports are done."""
from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402


def main() -> None:
    model = sys.argv[2] if len(sys.argv) > 2 else "u2net"
    preloaded = "--preload" in sys.argv
    from imgapi.engine import cutout

    if preloaded:
        cutout.preload(model)
    from imgapi.core import batch  # noqa: F401  (what the worker's handler module imports)
    from imgapi.jobs import worker  # noqa: F401  (what the worker's handler module imports)
    from imgapi.engine.cutout_settings import RemovalConfig
    import onnxruntime  # noqa: F401  (imported by the first job; counted as import, not model load)

    cutout.session_class(model)
    imported = time.perf_counter()
    cutout.get_session(model)
    loaded = time.perf_counter()
    from imgapi.engine.pipeline import run_combo

    from bench.case import peak_rss_mb

    run_combo(open(sys.argv[1], "rb").read(), "medium", RemovalConfig(model=model), max_edge=4096)
    done = time.perf_counter()
    print(json.dumps({
        "imports": imported - STARTED, "model_load": loaded - imported, "first_job": done - loaded,
        "total": done - STARTED, "model": model, "preloaded": preloaded, "peak_rss_mb": peak_rss_mb(),
        "numba_imported": "numba" in sys.modules, "pymatting_imported": "pymatting" in sys.modules,
    }))


if __name__ == "__main__":
    main()
