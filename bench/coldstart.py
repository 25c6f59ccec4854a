"""A worker's cold start in a fresh process: imports, session creation, first job. `python -m bench.coldstart IMAGE [MODEL]`."""
from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402


def main() -> None:
    from imgapi.core import batch  # noqa: F401  (what the worker's handler module imports)
    from imgapi.engine import cutout  # noqa: F401  (what the worker's handler module imports)
    from imgapi.jobs import worker  # noqa: F401  (what the worker's handler module imports)
    from imgapi.jobs.removal_configs import RemovalConfig
    import onnxruntime  # noqa: F401  (imported by the first job; counted as import, not model load)

    model = sys.argv[2] if len(sys.argv) > 2 else "u2net"
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
        "total": done - STARTED, "model": model, "peak_rss_mb": peak_rss_mb(),
        "numba_imported": "numba" in sys.modules, "pymatting_imported": "pymatting" in sys.modules,
    }))


if __name__ == "__main__":
    main()
