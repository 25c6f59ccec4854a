"""bench.cost and bench.stages: the cost per 1,000 jobs from the template's memory and the list prices; the stage
shares of a job."""
from __future__ import annotations

import pytest

from bench import cost, stages
from tests.support.parsed_template import template


def test_cost_per_thousand_jobs_is_the_workers_gb_seconds_plus_the_requests():
    sizing = {"worker_mb": 2048, "api_mb": 512, "uploads_days": 30, "results_days": 30}
    x86 = cost.per_thousand(1.0, 0, 0, sizing, "x86_64")
    arm = cost.per_thousand(1.0, 0, 0, sizing, "arm64")
    worker = (1.0 + cost.JOB_OVERHEAD_S) * 2 * 0.0000166667 + 0.20 / 1e6
    api = cost.API_CALLS * (cost.API_SECONDS * 0.5 * 0.0000166667 + 0.20 / 1e6)
    assert x86["lambda"] == pytest.approx(1000 * (worker + api))
    assert x86["sqs"] == pytest.approx(1000 * 3 * 0.40 / 1e6)
    assert arm["lambda"] < x86["lambda"] and arm["sqs"] == x86["sqs"]
    # A 1 GiB result kept a month is $0.023 a job: $23 per 1,000 jobs on top of the requests.
    stored = cost.per_thousand(1.0, 0, 2**30, sizing, "x86_64")
    assert stored["s3"] - x86["s3"] == pytest.approx(23.0)
    assert x86["total"] == pytest.approx(sum(x86[k] for k in ("lambda", "sqs", "dynamodb", "s3")))


def test_cost_reads_the_workers_memory_from_the_template():
    sizing = cost.memory(template())
    assert sizing["worker_mb"] == template()["Resources"]["ImageWorkerFunction"]["Properties"]["MemorySize"]
    assert sizing["results_days"] == float(template()["Parameters"]["ResultsExpirationDays"]["Default"])


def test_stage_shares_cover_the_seven_stages_and_add_up_to_the_job():
    rows = stages.breakdown({"decode": 0.1, "prepare": 0.1, "inference": 1.0, "mask": 0.05, "composite": 0.05,
                             "enhance": 0.3, "encode": 0.2, "total": 1.8}, upload=0.2)
    assert list(rows) == ["decode", "resize", "inference", "refine", "enhance", "encode", "upload"]
    assert rows["refine"]["s"] == pytest.approx(0.1)
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0)
    assert rows["inference"]["share"] == pytest.approx(0.5)
    assert stages.dominant(rows) == "inference"
