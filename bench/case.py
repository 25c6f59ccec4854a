"""One benchmark case in a fresh process, so its peak memory is its own: `python -m bench.case '<json>'`.

"ours" is imgapi's pipeline (engine/pipeline.run_combo, its model preloaded as the image worker does), "straightforward"
is rembg.remove, LANCZOS and Pillow's default PNG; both are pipelines alone, with no AWS in either process (unless the
spec's `worker_imports` adds a Lambda worker's imports to both). Prints one JSON line: median stage times, total, peak
RSS, output size (and writes the output image).
"""
from __future__ import annotations

import io
import json
import resource
import statistics
import sys
import time


def _ours(spec: dict, data: bytes) -> tuple[dict, bytes, tuple[int, int]]:
    from imgapi.engine.pipeline import run_combo
    from imgapi.engine.cutout_settings import RemovalConfig

    config = RemovalConfig(model=spec.get("model", "u2net"))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    output = run_combo(data, spec["level"], config, max_edge=4096, timings=timings)
    timings["total"] = time.perf_counter() - started
    return timings, output.data, (output.width, output.height)


def _straightforward(spec: dict, data: bytes) -> tuple[dict, bytes, tuple[int, int]]:
    from PIL import Image
    from rembg import new_session, remove

    global _session
    if "_session" not in globals():
        _session = new_session(spec.get("model", "u2net"))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    cutout = remove(Image.open(io.BytesIO(data)), session=_session)
    timings["remove"] = time.perf_counter() - started
    mark = time.perf_counter()
    size = tuple(spec["size"])
    if cutout.size != size:
        cutout = cutout.resize(size, Image.Resampling.LANCZOS)
    timings["resize"] = time.perf_counter() - mark
    mark = time.perf_counter()
    buffer = io.BytesIO()
    cutout.save(buffer, "PNG")
    timings["encode"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return timings, buffer.getvalue(), cutout.size


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss, which Linux carries
    over an exec from the parent (the benchmark's own process, which is large)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec["pipeline"] == "ours":
        # As the image worker's entry does (functions/image_worker/app.py) with its deployment's default model,
        # here the case's: the model loads while the pipeline's modules import.
        from imgapi.engine import cutout

        cutout.preload(spec.get("model", "u2net"))
    if spec.get("worker_imports"):
        # Both pipelines are compared as pipelines: neither process fetches or stores through AWS. With this, each
        # also imports what a Lambda worker around it would (boto3, Powertools' batch and tracer: ours's own).
        from imgapi.core import batch  # noqa: F401
        from imgapi.jobs import worker  # noqa: F401
    data = open(spec["image"], "rb").read()
    run = _ours if spec["pipeline"] == "ours" else _straightforward
    runs = []
    for _ in range(spec.get("warmup", 1) + spec.get("repeat", 3)):
        timings, output, size = run(spec, data)
        runs.append(timings)
    runs = runs[spec.get("warmup", 1):]
    median = {key: statistics.median(r.get(key, 0.0) for r in runs) for key in runs[0]}
    with open(spec["output"], "wb") as handle:
        handle.write(output)
    print(json.dumps({"stages": median, "peak_rss_mb": peak_rss_mb(),
                      "size": list(size), "bytes": len(output),
                      "heavy_modules": sorted(m for m in ("numba", "pymatting", "skimage", "rembg.bg") if m in sys.modules)}))


if __name__ == "__main__":
    main()
