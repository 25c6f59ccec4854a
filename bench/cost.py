"""What 1,000 jobs cost on AWS, per operation and model, from the bench's measured seconds and the template's memory.

AWS list prices, US East (N. Virginia), on-demand, first pricing tier, free tiers left out, as published on
aws.amazon.com/lambda/pricing, /sqs/pricing, /dynamodb/pricing/on-demand and /s3/pricing; recorded 2026-12-05
(Lambda's and S3's have not changed since 2020-2023; DynamoDB on-demand's are those of its 2024-11-01 price cut).
Check them before quoting a figure to anyone: prices change, and other regions differ.

A job is billed as: the worker's run (the pipeline's seconds, plus the result's upload and the job's own DynamoDB
and SQS calls) at the worker's memory, the submit and one status call on the API's functions, its SQS messages,
its DynamoDB reads and writes, and its S3 requests and storage for the bucket's lifetimes. Data transfer out of
AWS (the client downloading the result) is not included: $0.09/GB to the internet, it depends on the client.
arm64 is priced here on the x86 seconds measured on this machine: Lambda's Graviton CPUs are not this CPU, so
measure a deployed arm64 stack before choosing it on price alone.
"""
from __future__ import annotations

PRICES = {
    "lambda_gb_s": {"x86_64": 0.0000166667, "arm64": 0.0000133334},  # $ per GB-second
    "lambda_request": 0.20 / 1e6,           # $ per invocation, both architectures
    "sqs_request": 0.40 / 1e6,              # standard queue, $ per request (up to 64 KB)
    "dynamodb_write": 0.625 / 1e6,          # on-demand, $ per write request unit (1 KB)
    "dynamodb_read": 0.125 / 1e6,           # on-demand, $ per read request unit (4 KB, strongly consistent)
    "s3_put": 0.005 / 1000,                 # S3 Standard, $ per PUT/POST
    "s3_get": 0.0004 / 1000,                # S3 Standard, $ per GET
    "s3_gb_month": 0.023,                   # S3 Standard storage, first 50 TB
}
PRICES_RECORDED = "2026-12-05"

# One job's requests, from the code paths (jobs/submission, lifecycle, quotas, worker): submit + one status poll on
# the API; send, receive and delete on SQS; the job's put, the quota counters, processing and completed updates; the
# worker's and the status call's reads; input put and get, result put and the client's get.
API_CALLS, API_SECONDS = 2, 0.1       # invocations per job, and seconds each (measured on the local stack: ~50 ms)
JOB_OVERHEAD_S = 0.05                 # the worker's own DynamoDB and SQS calls around the pipeline
SQS_REQUESTS = 3
DYNAMODB_WRITES, DYNAMODB_READS = 5, 2
S3_PUTS, S3_GETS = 2, 2


def _template() -> dict:
    from imgapi_local.template import load_template

    return load_template()


def memory(template: dict) -> dict:
    resources = template["Resources"]
    return {"worker_mb": resources["ImageWorkerFunction"]["Properties"]["MemorySize"],
            "api_mb": resources["ComboSubmitFunction"]["Properties"]["MemorySize"],
            "uploads_days": float(template["Parameters"]["UploadsExpirationDays"]["Default"]),
            "results_days": float(template["Parameters"]["ResultsExpirationDays"]["Default"])}


def per_thousand(job_seconds: float, input_bytes: int, output_bytes: int, sizing: dict, architecture: str) -> dict:
    """Dollars per 1,000 jobs, by service."""
    gb_s = PRICES["lambda_gb_s"][architecture]
    worker = (job_seconds + JOB_OVERHEAD_S) * sizing["worker_mb"] / 1024 * gb_s + PRICES["lambda_request"]
    api = API_CALLS * (API_SECONDS * sizing["api_mb"] / 1024 * gb_s + PRICES["lambda_request"])
    month = 30.0
    storage = (input_bytes * min(sizing["uploads_days"], month) + output_bytes * min(sizing["results_days"], month)) \
        / month / 2**30 * PRICES["s3_gb_month"]
    costs = {
        "lambda": worker + api,
        "sqs": SQS_REQUESTS * PRICES["sqs_request"],
        "dynamodb": DYNAMODB_WRITES * PRICES["dynamodb_write"] + DYNAMODB_READS * PRICES["dynamodb_read"],
        "s3": S3_PUTS * PRICES["s3_put"] + S3_GETS * PRICES["s3_get"] + storage,
    }
    costs = {name: value * 1000 for name, value in costs.items()}
    costs["total"] = sum(costs.values())
    return costs


def run(report: dict, work, template: dict | None = None) -> dict:
    """Cost rows for every combo case the bench measured (both models) and for fix."""
    sizing = memory(template or _template())
    rows = []
    # Each model's job as a worker's first (bench.models: one job a process), so a little above a warm worker's.
    section = report.get("isnet", {})
    for case in section.get("u2net_cases", []) + section.get("cases", []):
        model = case["model"]
        upload = case.get("stages", {}).get("upload", {}).get("s", 0.0)
        seconds = case["ours"]["stages"]["total"] + upload
        input_bytes = (work / case["image"]).stat().st_size
        for architecture in PRICES["lambda_gb_s"]:
            rows.append({"operation": "combo", "model": model, "image": case["image"], "architecture": architecture,
                         "job_s": seconds, **per_thousand(seconds, input_bytes, case["ours"]["bytes"], sizing, architecture)})
    for entry in report.get("fix", {}).get("costs", []):
        if entry["factor"] == 2 and entry["threads"] == max(c["threads"] for c in report["fix"]["costs"]):
            for architecture in PRICES["lambda_gb_s"]:
                rows.append({"operation": "fix x2", "model": report["fix"]["model"], "image": "1024x768",
                             "architecture": architecture, "job_s": entry["wall_s"],
                             # a 1024x768 JPEG in (~0.3 MB), its 2048x1536 PNG out (~6 MB)
                             **per_thousand(entry["wall_s"], 300_000, 6_000_000, sizing, architecture)})
    return {"prices": PRICES, "prices_recorded": PRICES_RECORDED, "sizing": sizing, "rows": rows}


def print_report(cost: dict) -> None:
    sizing = cost["sizing"]
    print(f"\nCost per 1,000 jobs, US$ (AWS list prices, us-east-1, recorded {cost['prices_recorded']}; worker "
          f"{sizing['worker_mb']} MB, API {sizing['api_mb']} MB; arm64 on this machine's x86 seconds)")
    print(f"  {'operation':9s} {'model':18s} {'image':20s} {'arch':7s} {'job s':>6s} {'Lambda':>7s} {'SQS':>6s} "
          f"{'DynamoDB':>8s} {'S3':>6s} {'total':>7s}")
    for row in cost["rows"]:
        print(f"  {row['operation']:9s} {row['model']:18s} {row['image']:20s} {row['architecture']:7s} {row['job_s']:6.2f} "
              f"{row['lambda']:7.3f} {row['sqs']:6.4f} {row['dynamodb']:8.4f} {row['s3']:6.3f} {row['total']:7.3f}")
