"""A worker's cold start in a fresh process: imports, session creation, first job. `python -m bench.coldstart IMAGE`."""
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

    cutout._import_rembg_sessions()
    imported = time.perf_counter()
    cutout.get_session("u2net")
    loaded = time.perf_counter()
    from imgapi.engine.pipeline import run_combo

    run_combo(open(sys.argv[1], "rb").read(), "medium", RemovalConfig(model="u2net"), max_edge=4096)
    done = time.perf_counter()
    print(json.dumps({
        "imports": imported - STARTED, "model_load": loaded - imported, "first_job": done - loaded,
        "total": done - STARTED,
        "numba_imported": "numba" in sys.modules, "pymatting_imported": "pymatting" in sys.modules,
    }))


if __name__ == "__main__":
    main()
