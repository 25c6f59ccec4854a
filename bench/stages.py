"""Where a job's time goes: the pipeline's stages gathered into the issue's seven, each with its share.

The engine's Stages names (decode, prepare, inference, mask, composite, enhance, encode) map onto decode, resize
(the photo brought to the model's input), inference, refine (the mask normalised, resampled and applied), enhance,
encode; upload is an S3 put of the result's bytes (on moto, measured by the bench's own process).
"""
from __future__ import annotations

import os
import time

STAGES = ("decode", "resize", "inference", "refine", "enhance", "encode", "upload")
_ENGINE = {"decode": "decode", "prepare": "resize", "inference": "inference", "mask": "refine",
           "composite": "refine", "enhance": "enhance", "encode": "encode"}


def upload_seconds(size: int, repeat: int = 3) -> float:
    """The fastest of `repeat` puts of `size` bytes to S3 (moto, in this process)."""
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
    import boto3
    from moto import mock_aws

    body = os.urandom(size)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="bench")
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            s3.put_object(Bucket="bench", Key="out/result", Body=body)
            times.append(time.perf_counter() - started)
    return min(times)


def breakdown(engine_stages: dict[str, float], upload: float) -> dict[str, dict[str, float]]:
    """{stage: {"s": seconds, "share": fraction of the job}} over the seven stages (the job = pipeline + upload)."""
    seconds = dict.fromkeys(STAGES, 0.0)
    for name, value in engine_stages.items():
        if name in _ENGINE:
            seconds[_ENGINE[name]] += value
    seconds["upload"] = upload
    total = sum(seconds.values()) or 1.0
    return {name: {"s": value, "share": value / total} for name, value in seconds.items()}


def dominant(rows: dict[str, dict[str, float]]) -> str:
    return max(rows, key=lambda name: rows[name]["s"])


def print_breakdown(title: str, rows: dict[str, dict[str, float]]) -> None:
    cells = "  ".join(f"{name} {row['s']:.3f} s {100 * row['share']:4.1f}%" for name, row in rows.items())
    print(f"  {title:34s} {cells}")
