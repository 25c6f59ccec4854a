"""`make bench`, the models section: an ISNet-class model next to U2-Net, where each job's time goes, cold starts.

The ISNet-class model (bench.isnet_arch: IS-Net's architecture and signature, 44 M random fp16 weights behind
Casts, as rembg's `isnet-general-use` download) is put where rembg's real session loads it
(U2NET_HOME/models/isnet-general-use/isnet-general-use.onnx) and prepared as the worker image's build prepares
its models (engine/model_prep). Each case is a fresh process (bench.case: rembg's real DisSession either way);
ours and the straightforward pipeline (rembg.remove, LANCZOS, default PNG) alternate, pair by pair. Each process
does one job, as a worker's first: its time is the whole process's (imports, model load, the job) measured from
outside, and the ratio is the median of the pairs' ratios; its peak memory is the process's (the largest of the
runs). U2-Net's whole-process figures are taken the same way, beside bench.run's per-job table. `BENCH_ONLY=isnet
make bench` (or `models`) runs just this section.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench import stages

MODEL = "isnet-general-use"
LEVEL = "medium"
# Alternated whole-process pairs (ours, straightforward) per model and image.
PLAN = {"portrait_1024.jpg": 3, "photo_4000x3000.jpg": 2}

# The targets of issue 21 (whole process, medians of alternated runs, this machine).
ISNET_1MP_SPEEDUP, ISNET_12MP_SPEEDUP, ISNET_12MP_PEAK_MB = 1.6, 2.5, 1000
U2NET_1MP_SPEEDUP, U2NET_12MP_PEAK_MB, U2NET_MODEL_LOAD_S = 2.5, 600, 0.5


def model_path(work: Path) -> Path:
    return work / "models" / "isnet" / "models" / MODEL / f"{MODEL}.onnx"


def prepare_model(work: Path) -> dict:
    """The model at rembg's path, and its prepared graphs as the image build makes them (once; kept across runs)."""
    from bench.isnet_arch import build_isnet
    from bench.u2net_arch import count_parameters
    from imgapi.engine import model_prep

    path = model_path(work)
    if not path.exists():
        build_isnet(path)
    info = {"parameters": count_parameters(path), "file_mb": path.stat().st_size / 2**20}
    if model_prep.prepared_model(path) is None:
        info["prepare"] = model_prep.prepare(path)
    return info


def _median_case(runs: list[dict]) -> dict:
    keys = {key for run in runs for key in run["stages"]}
    return {"stages": {key: statistics.median(run["stages"].get(key, 0.0) for run in runs) for key in keys},
            "process_s": statistics.median(run["process_s"] for run in runs),
            "peak_rss_mb": max(run["peak_rss_mb"] for run in runs), "processes": len(runs),
            "bytes": runs[-1]["bytes"], "heavy_modules": runs[-1]["heavy_modules"]}


def _process(case, spec: dict, home: Path) -> dict:
    return case({**spec, "warmup": 0, "repeat": 1}, home)  # one job: the process is the worker's cold start


def compare(work: Path, case, difference, home: Path, model: str, image: str, pairs: int,
            as_workers: bool = False) -> dict:
    """Ours and the straightforward pipeline in alternated fresh processes on one image, one job each; `as_workers`:
    each process also imports what the image worker's Lambda entry imports (bench.case)."""
    ours_runs, theirs_runs = [], []
    ours_out, theirs_out = work / f"ours_{model}_{image}.png", work / f"straightforward_{model}_{image}.png"
    spec = {"model": model, "image": str(work / image), "level": LEVEL, "worker_imports": as_workers}
    for _ in range(pairs):
        ours_runs.append(_process(case, {**spec, "pipeline": "ours", "output": str(ours_out)}, home))
        theirs_runs.append(_process(case, {**spec, "pipeline": "straightforward", "size": ours_runs[-1]["size"],
                                           "output": str(theirs_out)}, home))
    ours, theirs = _median_case(ours_runs), _median_case(theirs_runs)
    ratios = [t["process_s"] / o["process_s"] for o, t in zip(ours_runs, theirs_runs)]
    result = {"image": image, "level": LEVEL, "model": model, "ours": ours, "straightforward": theirs,
              "speedup": statistics.median(ratios), "pair_ratios": ratios,
              "difference": difference(ours_out, theirs_out)}
    result["stages"] = stages.breakdown(ours["stages"], stages.upload_seconds(ours["bytes"]))
    return result


def cold_start(work: Path, env: dict, model: str, preload: bool = False) -> dict:
    command = [sys.executable, "-m", "bench.coldstart", str(work / "portrait_1024.jpg"), model] + (["--preload"] if preload else [])
    done = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {model} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(work: Path, case, difference, env_for, u2net_home: Path) -> dict:
    """Both models' whole-process cases and cold starts; `case(spec, home)`, `difference(ours, theirs)` and
    `env_for(home)` are bench.run's, `u2net_home` the U2-Net-architecture model's home (prepared)."""
    report = {"model": MODEL, **prepare_model(work), "cases": [], "u2net_cases": []}
    for model, home, key in ((MODEL, work / "models" / "isnet", "cases"), ("u2net", u2net_home, "u2net_cases")):
        for image, pairs in PLAN.items():
            compared = compare(work, case, difference, home, model, image, pairs)
            report[key].append(compared)
            print(f"{model:18s} {image:20s} whole process: ours {compared['ours']['process_s']:.2f} s "
                  f"({compared['ours']['peak_rss_mb']:.0f} MB)  straightforward {compared['straightforward']['process_s']:.2f} s"
                  f" ({compared['straightforward']['peak_rss_mb']:.0f} MB)  x{compared['speedup']:.2f}", flush=True)
    # Not a target: the U2-Net 1 MP pair again, each process also carrying a Lambda worker's AWS imports.
    report["u2net_as_workers"] = compare(work, case, difference, u2net_home, "u2net", "portrait_1024.jpg",
                                         PLAN["portrait_1024.jpg"], as_workers=True)
    for key, home, model in (("cold_start", work / "models" / "isnet", MODEL), ("u2net_cold_start", u2net_home, "u2net")):
        report[key] = cold_start(work, env_for(home), model)  # each part on its own
        report[f"{key}_preloaded"] = cold_start(work, env_for(home), model, preload=True)  # as the worker's entry does
    return report


def add_u2net_stages(report: dict) -> None:
    """Stage shares of bench.run's U2-Net cases (the medium level), for the table next to ISNet's."""
    for case in report.get("cases", []):
        if case["level"] == LEVEL:
            case["stages"] = stages.breakdown(case["ours"]["stages"], stages.upload_seconds(case["ours"]["bytes"]))


def targets(report: dict) -> list[dict]:
    section = report.get("isnet")
    if not section:
        return []
    isnet = {case["image"]: case for case in section["cases"]}
    u2net = {case["image"]: case for case in section["u2net_cases"]}
    small, large = isnet["portrait_1024.jpg"], isnet["photo_4000x3000.jpg"]
    cold = section["u2net_cold_start"]
    rows = [
        (f"ISNet-class 1 MP combo >= {ISNET_1MP_SPEEDUP}x faster than straightforward", _vs(small), small["speedup"] >= ISNET_1MP_SPEEDUP),
        (f"ISNet-class 12 MP combo >= {ISNET_12MP_SPEEDUP}x faster than straightforward", _vs(large), large["speedup"] >= ISNET_12MP_SPEEDUP),
        (f"ISNet-class 12 MP combo peak RSS <= {ISNET_12MP_PEAK_MB} MB", f"{large['ours']['peak_rss_mb']:.0f} MB"
         f" (straightforward {large['straightforward']['peak_rss_mb']:.0f} MB)", large["ours"]["peak_rss_mb"] <= ISNET_12MP_PEAK_MB),
        (f"U2-Net 1 MP combo >= {U2NET_1MP_SPEEDUP}x faster than straightforward", _vs(u2net["portrait_1024.jpg"]),
         u2net["portrait_1024.jpg"]["speedup"] >= U2NET_1MP_SPEEDUP),
        (f"U2-Net 12 MP combo peak RSS <= {U2NET_12MP_PEAK_MB} MB", f"{u2net['photo_4000x3000.jpg']['ours']['peak_rss_mb']:.0f} MB",
         u2net["photo_4000x3000.jpg"]["ours"]["peak_rss_mb"] <= U2NET_12MP_PEAK_MB),
        (f"U2-Net cold start: model load <= {U2NET_MODEL_LOAD_S} s", _cold(cold), cold["model_load"] <= U2NET_MODEL_LOAD_S),
    ]
    return [{"target": name, "figure": figure, "met": bool(ok)} for name, figure, ok in rows]


def _vs(case: dict) -> str:
    return (f"{case['speedup']:.2f}x (whole process {case['ours']['process_s']:.2f} s vs "
            f"{case['straightforward']['process_s']:.2f} s; job {case['ours']['stages']['total']:.2f} s vs "
            f"{case['straightforward']['stages']['total']:.2f} s)")


def _cold(cold: dict) -> str:
    return (f"import {cold['imports']:.3f} s, model load {cold['model_load']:.3f} s, first job {cold['first_job']:.3f} s"
            f" ({cold.get('peak_rss_mb', 0):.0f} MB)")


def print_report(report: dict) -> list[dict]:
    """Prints the section (both models' whole-process cases, stage shares, cold starts, targets); returns the targets."""
    section = report.get("isnet")
    if section:
        print(f"\nWhole processes, one combo {LEVEL} job each, ours and straightforward alternated (medians; ISNet-class: "
              f"{section['parameters'] / 1e6:.1f} M parameters, fp16 behind Casts, {section['file_mb']:.0f} MB)")
        for case in section["u2net_cases"] + section["cases"]:
            ours, theirs = case["ours"], case["straightforward"]
            print(f"  {case['model']:18s} {case['image']:20s} ours {ours['process_s']:6.2f} s {ours['peak_rss_mb']:5.0f} MB | "
                  f"straightforward {theirs['process_s']:6.2f} s {theirs['peak_rss_mb']:5.0f} MB | x{case['speedup']:.2f} "
                  f"(pairs {', '.join(f'{r:.2f}' for r in case['pair_ratios'])}) | alpha diff "
                  f"{case['difference']['alpha_mean_abs']:.2f}, mask agreement {case['difference']['mask_agreement']:.4f}")
        if "u2net_as_workers" in section:
            workers = section["u2net_as_workers"]
            print(f"  not a target: u2net portrait_1024.jpg with each process also importing the image worker's AWS "
                  f"modules (boto3, Powertools' batch and tracer), as two Lambda workers would: ours "
                  f"{workers['ours']['process_s']:.2f} s, straightforward {workers['straightforward']['process_s']:.2f} s,"
                  f" x{workers['speedup']:.2f}")
        for kind, row in section.get("prepare", {}).get("prepared", {}).items():
            print(f"  ISNet prepared graph ({kind}): mask agreement with the fp16 original {row['mask_agreement']:.4f}, "
                  f"mean |diff| {row['mask_mean_abs']:.3f} / 255")
        for name, key in (("U2-Net", "u2net_cold_start"), ("ISNet", "cold_start")):
            print(f"  cold start, {name + ':':7s} {_cold(section[key])}")
            if f"{key}_preloaded" in section:  # the model loading while the worker's modules import
                print(f"    preloaded as the worker's entry does: {_cold(section[f'{key}_preloaded'])}, "
                      f"{section[f'{key}_preloaded']['total']:.3f} s in all (one after the other: {section[key]['total']:.3f} s)")
    print("\nWhere a combo job's time goes (ours, medians; upload = S3 put of the result on moto)")
    named = [("U2-Net warm", c) for c in report.get("cases", []) if "stages" in c]
    named += [(f"{c['model']} first job", c) for c in (section or {}).get("u2net_cases", []) + (section or {}).get("cases", [])]
    for label, case in named:
        stages.print_breakdown(f"{label} {case['image']}", case["stages"])
        print(f"    dominant: {stages.dominant(case['stages'])}")
    rows = targets(report)
    print("\nTargets (issue 21)")
    for row in rows:
        print(f"  {'PASS' if row['met'] else 'FAIL'} {row['target']}: {row['figure']}")
    return rows
