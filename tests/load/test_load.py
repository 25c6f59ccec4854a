"""Guarantee 5, load: many users submitting at once over HTTP to the local stack lose no job, and every job ends.

The default run (`make test`) has a quick check: 40 submits from 16 threads at once. `make load` runs 200 concurrent
submits (about 20 s); `make soak` runs at least 500 (SOAK_JOBS) and prints throughput and latency. Figures are
printed, never asserted.
"""
from __future__ import annotations

import os
import resource
import threading
import time
import uuid

import boto3
import pytest
import requests

from imgapi.auth import users
from imgapi.core.settings import get_settings
from imgapi_local.template import load_template
from tests.e2e.conftest import login
from tests.load.loadgen import OPERATIONS, TERMINAL, LoadReport, LoadRun
from tests.support.waiting import REAL_WORK_SECONDS

PASSWORD = "load-test-password"


def make_users(base_url: str, count: int) -> dict[str, str]:
    """`count` new users and their tokens (logged in over HTTP). Spreading the load over users is what a service
    sees; each stays within the per-user limits, and the client retries a 429 after its Retry-After anyway."""
    prefix = f"load-{uuid.uuid4().hex[:6]}"
    tokens = {}
    for i in range(count):
        users.create_user(f"{prefix}-{i}", PASSWORD)
        tokens[f"{prefix}-{i}"] = login(base_url, f"{prefix}-{i}", PASSWORD)
    return tokens


def queue_counts(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                      "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return sum(int(value) for value in attributes.values())


def all_job_rows() -> list[dict]:
    table = boto3.resource("dynamodb").Table(get_settings().jobs_table)
    rows, kwargs = [], {"ProjectionExpression": "task_id, #s, results", "ExpressionAttributeNames": {"#s": "status"}}
    while True:
        page = table.scan(**kwargs)
        rows.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return rows
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def queues(local_stack) -> dict[str, str]:
    refs = local_stack.stack.resolver.refs
    return {name: refs[name] for name in ("ImageJobsQueue", "DashScopeJobsQueue", "ImageJobsDeadLetterQueue",
                                          "DashScopeJobsDeadLetterQueue")}


def assert_nothing_lost(report: LoadReport, local_stack) -> None:
    refused = [s for s in report.submitted if not s.task_id]
    assert refused == [], f"submits never accepted: {refused[:5]}"
    ids = {s.task_id for s in report.submitted}
    assert len(ids) == len(report.submitted), "a retried submit made a second job"
    # Every job the users have is one of ours and ended; each of ours is there.
    assert set(report.jobs) == ids
    unfinished = {t: v["status"] for t, v in report.jobs.items() if v["status"] not in TERMINAL}
    assert unfinished == {}, f"{len(unfinished)} jobs never finished"
    failed = {t: (v["operation"], v["error"]) for t, v in report.jobs.items() if v["status"] == "failed"}
    assert failed == {}, f"{len(failed)} jobs failed: {list(failed.values())[:5]}"
    assert {v["operation"] for v in report.jobs.values()} == set(OPERATIONS)
    # The table agrees: no job anywhere is left pending or processing, and each of ours has its result.
    rows = {row["task_id"]: row for row in all_job_rows()}
    assert [t for t, row in rows.items() if row["status"] not in TERMINAL + ("awaiting_upload",)] == []
    assert all(rows[t]["status"] == "completed" and len(rows[t]["results"]) == 1 for t in ids)
    # Queues drained: a message is deleted just after its job finished, so give the pollers a moment.
    urls = queues(local_stack)
    deadline = time.monotonic() + REAL_WORK_SECONDS
    job_queues = (urls["ImageJobsQueue"], urls["DashScopeJobsQueue"])
    while any(queue_counts(url) for url in job_queues) and time.monotonic() < deadline:
        time.sleep(0.2)
    counts = {name: queue_counts(url) for name, url in urls.items()}
    troubles = [line for line in local_stack.log_lines if "fail" in line or "error" in line.lower()]
    assert counts == dict.fromkeys(urls, 0), f"messages left: {counts}; the stack's log: {troubles[-10:]}"


def _concurrent_submits_lose_no_job(base_url: str, local_stack, *, submits: int, users: int, concurrency: int) -> None:
    tokens = make_users(base_url, users)
    report = LoadRun(base_url, tokens, concurrency=concurrency, follow_timeout=240).run(submits)
    print(report.summary())
    assert_nothing_lost(report, local_stack)
    # Results are real images, and a result URL downloads.
    sample = next(iter(report.jobs.values()))
    download = requests.get(sample["results"][0]["url"], timeout=10)
    assert download.status_code == 200 and download.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_concurrent_submits_across_operations_lose_no_job(base_url, local_stack):
    """The quick check of the default run: every operation, several users, 16 submits in flight at once."""
    _concurrent_submits_lose_no_job(base_url, local_stack, submits=40, users=5, concurrency=16)


@pytest.mark.load
def test_200_concurrent_submits_across_operations_lose_no_job(base_url, local_stack):
    _concurrent_submits_lose_no_job(base_url, local_stack, submits=200, users=10, concurrency=32)


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.fixture
def default_limits(monkeypatch):
    """The template's own per-user limits (the shared stack lifts them for the other tests), as if deployed."""
    parameters = load_template()["Parameters"]
    monkeypatch.setenv("SUBMITS_PER_MINUTE", str(parameters["SubmitsPerMinute"]["Default"]))
    monkeypatch.setenv("JOBS_PER_DAY", str(parameters["JobsPerDay"]["Default"]))
    get_settings.cache_clear()
    yield get_settings()
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.soak
def test_soak_of_at_least_500_jobs_leaves_nothing_pending_and_no_message_stuck(base_url, local_stack, default_limits,
                                                                             capsys):
    count = max(500, int(os.environ.get("SOAK_JOBS", "500")))
    tokens = make_users(base_url, max(1, count // 20))  # 20 jobs per user
    urls = queues(local_stack)
    peak = {"depth": 0}
    stop = threading.Event()

    def watch_queue():
        while not stop.wait(0.5):
            peak["depth"] = max(peak["depth"], queue_counts(urls["ImageJobsQueue"]))

    run = LoadRun(base_url, tokens, concurrency=16, follow_timeout=900)
    plan = run.plan(count)
    # One user submits more than the per-minute limit allows, in a burst: the excess is refused with 429 and
    # Retry-After, and the client's retries after it still make exactly one job each.
    limit, own = default_limits.submits_per_minute, count // len(tokens)
    extra = limit + 10 - own if limit and limit + 10 <= count else 0
    burst = [item for item in plan if item.user != plan[0].user][:extra]
    for item in burst:
        item.user = plan[0].user
    watcher = threading.Thread(target=watch_queue, daemon=True)
    rss_before = _rss_mb()
    watcher.start()
    try:
        report = run.run(plan)
    finally:
        stop.set()
        watcher.join(5)
    figures = report.figures()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    bursting = [item for item in plan if item.user == plan[0].user]
    with capsys.disabled():
        print(f"\nsoak: {report.summary()}")
        print(f"soak: submit p50 {figures['submit_p50_ms']:.0f} ms / p99 {figures['submit_p99_ms']:.0f} ms; "
              f"end-to-end job p50 {figures['job_p50_s']:.2f} s / p99 {figures['job_p99_s']:.2f} s; "
              f"{figures['jobs_per_s']:.1f} jobs/s; image queue peak depth {peak['depth']}; process RSS "
              f"{rss_before:.0f} -> {_rss_mb():.0f} MB (peak {peak_rss} MB)")
        print(f"soak: {plan[0].user} submitted {len(bursting)} jobs against a limit of {limit} a minute: "
              f"{sum(item.refused.count(429) for item in bursting)} answers were 429")
    assert_nothing_lost(report, local_stack)
