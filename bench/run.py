"""`make bench`: the combo pipeline against the straightforward one, cold start, and API latency.

Builds a U2-Net-architecture model (44 M parameters, random weights, rembg's signature) and a
U2-Net-p-shaped one, generates photo-like images, runs every case in a fresh process (so peak
memory is the case's own), prints a table with the targets and writes bench-results/bench.json.
"""
from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from imgapi.engine.enhance_levels import LEVELS

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench-results"


@functools.lru_cache(maxsize=1)
def _worker_malloc() -> dict:
    # The worker's malloc settings in Lambda (template.yaml), read from there so the two cannot drift.
    from imgapi_local.template import load_template

    worker_env = load_template()["Resources"]["ImageWorkerFunction"]["Properties"]["Environment"]["Variables"]
    return {k: str(v) for k, v in worker_env.items() if k.startswith("MALLOC_")}


def _env(home: Path) -> dict:
    return {**os.environ, **_worker_malloc(), "U2NET_HOME": str(home), "PYTHONPATH": str(ROOT)}


def _case(spec: dict, home: Path) -> dict:
    """One case in a fresh process: its printed result, and `process_s`, the process's wall time from its start to
    its exit (nothing of this process's own work inside: the template is parsed once, above)."""
    env = _env(home)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench.case", json.dumps(spec)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    process_s = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"case {spec} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "process_s": process_s}


def _bare_inference(model: Path) -> float:
    import onnxruntime as ort

    from imgapi.core.cpus import cpu_count

    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_count()
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    tensor = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    session.run(None, {"input.1": tensor})
    times = []
    for _ in range(5):
        started = time.perf_counter()
        session.run(None, {"input.1": tensor})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _difference(ours_path: Path, theirs_path: Path) -> dict:
    from PIL import Image

    ours = np.asarray(Image.open(ours_path).convert("RGBA")).astype(int)
    theirs = np.asarray(Image.open(theirs_path).convert("RGBA")).astype(int)
    both = (ours[..., 3] == 255) & (theirs[..., 3] == 255)
    return {"alpha_mean_abs": float(np.abs(ours[..., 3] - theirs[..., 3]).mean()),
            "mask_agreement": float(((ours[..., 3] > 127) == (theirs[..., 3] > 127)).mean()),
            "colour_mean_abs_opaque": float(np.abs(ours[both][:, :3] - theirs[both][:, :3]).mean()) if both.any() else 0.0}


def _s3_transfer(sizes: dict[str, int]) -> dict[str, float]:
    """Put the input, get it back, put a result of the same size: what the worker does, on moto."""
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
    import boto3
    from moto import mock_aws

    out = {}
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="bench")
        for name, size in sizes.items():
            body = os.urandom(size)
            started = time.perf_counter()
            s3.put_object(Bucket="bench", Key=f"in/{name}", Body=body)
            s3.get_object(Bucket="bench", Key=f"in/{name}")["Body"].read()
            s3.put_object(Bucket="bench", Key=f"out/{name}", Body=body)
            out[name] = time.perf_counter() - started
    return out


def _api_latency(home: Path, calls: int = 300) -> dict:
    import requests

    from imgapi_local.devserver import LocalStack, free_port
    from tests.support.images import portrait_jpeg

    os.environ["U2NET_HOME"] = str(home)
    # 300 submits in a few seconds from one user: the per-user rate limit would answer most of them 429.
    os.environ["SUBMITS_PER_MINUTE"] = "0"
    with LocalStack(port=free_port(), log=lambda line: None) as stack:
        session = requests.Session()
        token = session.post(f"{stack.url}/api/v1/login", params={"username": "test_user", "password": "test_password"}).json()["access_token"]
        image = portrait_jpeg(64, 80)
        submit, status, task_ids = [], [], []
        for _ in range(calls):
            started = time.perf_counter()
            response = session.post(f"{stack.url}/api/v1/upscale/combo", params={"token": token, "enhance_level": "light"},
                                    files={"file": ("p.jpg", image, "image/jpeg")})
            submit.append(time.perf_counter() - started)
            task_ids.append(response.json()["task_id"])
        # Submits were measured with the workers running the jobs alongside, as they do in this one
        # process; status is measured once they are done, as the API alone (in AWS the workers are
        # other Lambdas, not threads competing for this process's GIL).
        from imgapi.jobs import lifecycle

        drain_started = time.perf_counter()
        while time.perf_counter() - drain_started < 300:
            if all(lifecycle.get_job(t)["status"] in ("completed", "failed") for t in task_ids[-20:]):
                break
            time.sleep(0.5)
        drained = time.perf_counter() - drain_started
        for i in range(calls):
            started = time.perf_counter()
            session.get(f"{stack.url}/api/v1/upscale/status/{task_ids[i]}", params={"token": token}).raise_for_status()
            status.append(time.perf_counter() - started)

    def percentiles(values):
        ordered = np.sort(np.array(values)) * 1000
        return {p: float(np.percentile(ordered, int(p[1:]))) for p in ("p50", "p95", "p99")}

    return {"calls": calls, "submit_ms": percentiles(submit), "status_ms": percentiles(status), "queue_drained_s": drained}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from bench.photos import jpeg, photo, transparent_png
    from bench.u2net_arch import u2net_home
    from tests.support.u2net_model import build_u2net_like

    started = time.perf_counter()
    WORK.mkdir(exist_ok=True)
    # rembg's "u2net" session loads <home>/models/u2net/u2net.onnx: the p-shaped one stands in its place in its home.
    homes = {variant: u2net_home(WORK, variant) for variant in ("u2net", "u2netp")}
    tiny_home = WORK / "models" / "signature"
    if not (tiny_home / "models" / "u2net" / "u2net.onnx").exists():
        build_u2net_like(tiny_home / "models" / "u2net" / "u2net.onnx")
    images = {
        "portrait_1024.jpg": jpeg(photo(1024, 1024, seed=1)),
        "photo_4000x3000.jpg": jpeg(photo(4000, 3000, seed=3)),
        "transparent_1024.png": transparent_png(1024, 1024),
    }
    for name, data in images.items():
        (WORK / name).write_bytes(data)
    report: dict = {"machine": {"cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0))}, "models": {}, "cases": []}
    if _selected("isnet") or _selected("models"):  # bench/models.py: ISNet-class and U2-Net, whole processes
        from bench import models
        report["isnet"] = models.run(WORK, _case, _difference, _env, homes["u2net"])
    if _selected("u2net"):
        _u2net(report, homes, images)
    if _selected("api"):
        report["api"] = _api_latency(tiny_home)
    if _selected("fix"):
        from bench import fix_sr
        report["fix"] = fix_sr.run()
    from bench import cost, models
    models.add_u2net_stages(report)
    report["cost"] = cost.run(report, WORK)
    _print_table(report)
    if _selected("removebg"):
        from bench import removebg_latency
        removebg_latency.add_to(report)  # POST /v1.0/removebg's latency at 0.25, 1.5 and 4 MP
    if _selected("quality"):
        from bench import quality
        quality.add_to(report)  # fix and expand on real photos, and a contact sheet
    report["elapsed_s"] = time.perf_counter() - started
    (WORK / "bench.json").write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {WORK / 'bench.json'} ({report['elapsed_s']:.0f} s)")
    return 0


def _selected(section: str) -> bool:
    """BENCH_ONLY=isnet,fix runs those sections alone (u2net, api, fix, isnet or models, removebg, quality); unset,
    all of them. The stage
    shares, targets and costs of whichever ran are printed either way."""
    only = {name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()}
    return not only or section in only


def _u2net(report: dict, homes: dict, images: dict) -> None:
    from bench.u2net_arch import count_parameters

    for variant, home in homes.items():
        path = home / "models" / "u2net" / "u2net.onnx"
        report["models"][variant] = {"parameters": count_parameters(path), "bare_inference_s": _bare_inference(path)}
    bare = report["models"]["u2net"]["bare_inference_s"]
    print(f"bare inference: u2net {bare:.3f} s, u2netp {report['models']['u2netp']['bare_inference_s']:.3f} s")

    sizes = {}
    plan = [(image, level) for image in images for level in LEVELS]
    for image, level in plan:
        repeat = 2 if "4000" in image else 3
        ours_out, theirs_out = WORK / f"ours_{level}_{image}.png", WORK / f"straightforward_{level}_{image}.png"
        ours = _case({"pipeline": "ours", "image": str(WORK / image), "level": level, "repeat": repeat,
                      "output": str(ours_out)}, homes["u2net"])
        theirs = _case({"pipeline": "straightforward", "image": str(WORK / image), "level": level, "repeat": repeat,
                        "size": ours["size"], "output": str(theirs_out)}, homes["u2net"])
        sizes[f"{image}:{level}"] = len(images[image])
        case = {"image": image, "level": level, "ours": ours, "straightforward": theirs,
                "speedup": theirs["stages"]["total"] / ours["stages"]["total"],
                "difference": _difference(ours_out, theirs_out)}
        report["cases"].append(case)
        print(f"{image:22s} {level:7s} ours {ours['stages']['total']:.3f} s ({ours['peak_rss_mb']:.0f} MB)  "
              f"straightforward {theirs['stages']['total']:.3f} s ({theirs['peak_rss_mb']:.0f} MB)  x{case['speedup']:.1f}")
    small = _case({"pipeline": "ours", "image": str(WORK / "portrait_1024.jpg"), "level": "medium", "repeat": 3,
                   "output": str(WORK / "ours_medium_u2netp.png")}, homes["u2netp"])
    report["u2netp_medium_1024"] = small
    s3 = _s3_transfer({k: v for k, v in sizes.items() if k.endswith(":medium")})
    for case in report["cases"]:
        case["s3_transfer_s"] = s3.get(f"{case['image']}:medium")
    cold = subprocess.run([sys.executable, "-m", "bench.coldstart", str(WORK / "portrait_1024.jpg")], cwd=ROOT,
                          env=_env(homes["u2net"]), capture_output=True, text=True, timeout=600)
    report["cold_start"] = json.loads(cold.stdout.strip().splitlines()[-1])


def _print_table(report: dict) -> None:
    from bench import cost, fix_sr, models

    report["targets"] = []
    if report["cases"]:
        _print_u2net(report, report["models"]["u2net"]["bare_inference_s"])
    if "fix" in report:
        fix_sr.print_report(report["fix"])
        report["targets"] += report["fix"]["targets"]
    report["targets"] += models.print_report(report)
    cost.print_report(report["cost"])


def _print_u2net(report: dict, bare: float) -> None:
    stages = ["decode", "prepare", "inference", "mask", "composite", "enhance", "encode"]
    print("\nCombo job, U2-Net-architecture model (44 M parameters), seconds (median); S3 = put+get+put on moto")
    print(f"{'image':22s} {'level':7s} " + " ".join(f"{s[:8]:>8s}" for s in stages)
          + f" {'total':>7s} {'S3':>6s} {'RSS MB':>7s} | {'straight':>8s} {'RSS MB':>7s} {'ratio':>6s} | {'alphaΔ':>6s} {'rgbΔ':>5s}")
    for case in report["cases"]:
        ours, theirs = case["ours"], case["straightforward"]
        s3 = f"{case['s3_transfer_s']:.3f}" if case.get("s3_transfer_s") is not None else "-"
        print(f"{case['image']:22s} {case['level']:7s} " + " ".join(f"{ours['stages'].get(s, 0):8.3f}" for s in stages)
              + f" {ours['stages']['total']:7.3f} {s3:>6s} {ours['peak_rss_mb']:7.0f} | {theirs['stages']['total']:8.3f}"
              f" {theirs['peak_rss_mb']:7.0f} {case['speedup']:5.1f}x | {case['difference']['alpha_mean_abs']:6.2f}"
              f" {case['difference']['colour_mean_abs_opaque']:5.1f}")
    by = {(c["image"], c["level"]): c for c in report["cases"]}
    portrait = by[("portrait_1024.jpg", "medium")]
    large = by[("photo_4000x3000.jpg", "medium")]
    cold, api = report["cold_start"], report.get("api")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    print("\nTargets")
    rows = [
        ("combo 1024x1024 medium total <= 2x bare inference",
         f"{portrait['ours']['stages']['total']:.3f} s vs 2 x {bare:.3f} = {2 * bare:.3f} s",
         portrait["ours"]["stages"]["total"] <= 2 * bare),
        ("combo 4000x3000 medium >= 4x faster than straightforward",
         f"{large['speedup']:.1f}x ({large['ours']['stages']['total']:.3f} s vs {large['straightforward']['stages']['total']:.3f} s)",
         large["speedup"] >= 4),
        ("combo 4000x3000 medium peak RSS <= 800 MB", f"{large['ours']['peak_rss_mb']:.0f} MB", large["ours"]["peak_rss_mb"] <= 800),
        ("cold start: imports + first job <= 1.5 s (+ model load)",
         f"imports {cold['imports']:.3f} + first job {cold['first_job']:.3f} = {cold['imports'] + cold['first_job']:.3f} s"
         f" (+ model load {cold['model_load']:.3f} s; numba imported: {cold['numba_imported']})",
         cold["imports"] + cold["first_job"] <= 1.5 and not cold["numba_imported"]),
    ]
    rows += [] if api is None else [
        ("local stack submit p99 <= 100 ms", f"p50 {api['submit_ms']['p50']:.1f} / p95 {api['submit_ms']['p95']:.1f} / p99 {api['submit_ms']['p99']:.1f} ms",
         api["submit_ms"]["p99"] <= 100),
        ("local stack status p99 <= 30 ms (after the workers drained the queue)", f"p50 {api['status_ms']['p50']:.1f} / p95 {api['status_ms']['p95']:.1f} / p99 {api['status_ms']['p99']:.1f} ms",
         api["status_ms"]["p99"] <= 30),
    ]
    for name, figure, ok in rows:
        print(f"  {verdict(ok):6s} {name}: {figure}")
    small = report["u2netp_medium_1024"]
    print(f"\nU2-Net-p-shaped model: bare inference {report['models']['u2netp']['bare_inference_s']:.3f} s; combo 1024 medium "
          f"{small['stages']['total']:.3f} s, {small['peak_rss_mb']:.0f} MB")
    report["targets"] += [{"target": n, "figure": f, "met": ok} for n, f, ok in rows]


if __name__ == "__main__":
    sys.exit(main())
