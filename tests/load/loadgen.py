"""A load generator for the local stack: many users submitting a mix of operations over HTTP from a thread pool,
then following every job to its end, with the checks that no job was lost and the figures of the run.

A client behaves as a careful one should: every logical submit carries its own Idempotency-Key, so retrying it
(after a 429 with Retry-After, a 503, or a dropped connection) can never make a second job.
"""
from __future__ import annotations

import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import requests

from tests.support.images import encode, portrait_array

PORTRAIT_JPEG = encode(portrait_array(64, 80), "JPEG")
PORTRAIT_PNG = encode(portrait_array(48, 64), "PNG")
GREEN_PNG = encode(np.full((40, 40, 3), (40, 160, 60), np.uint8), "PNG")

# operation -> (path, form fields, files): small images, every edit on the local engine (our image worker).
OPERATIONS: dict[str, tuple[str, dict, dict]] = {
    "combo": ("/api/v1/upscale/combo", {"enhance_level": "light"}, {"file": ("p.jpg", PORTRAIT_JPEG, "image/jpeg")}),
    "remove_bg": ("/remove_bg", {}, {"image": ("p.png", PORTRAIT_PNG, "image/png")}),
    "change_bg": ("/change_bg", {"engine": "local"}, {"base_image": ("p.jpg", PORTRAIT_JPEG, "image/jpeg"),
                                                      "ref_image": ("g.png", GREEN_PNG, "image/png")}),
    "expand": ("/expand", {"engine": "local", "top_scale": "1.25", "bottom_scale": "1.25", "left_scale": "1.5",
                           "right_scale": "1.5"}, {"base_image": ("p.png", PORTRAIT_PNG, "image/png")}),
    "fix": ("/fix", {"engine": "local", "upscale_factor": "2"}, {"base_image": ("p.jpg", PORTRAIT_JPEG, "image/jpeg")}),
}
TERMINAL = ("completed", "failed")
MAX_RETRY_AFTER = 65.0  # a per-minute limit never asks for longer


@dataclass
class Submitted:
    index: int
    operation: str
    user: str
    task_id: str | None = None
    status: int | None = None
    latency: float | None = None  # the accepted attempt, seconds
    total: float | None = None  # from the first attempt to acceptance, retries included
    attempts: int = 0
    refused: list[int] = field(default_factory=list)  # 429/503 answers retried
    errors: list[str] = field(default_factory=list)  # connection errors retried
    answer: str = ""  # the body of a refusal that was not retried


@dataclass
class LoadReport:
    submitted: list[Submitted]
    jobs: dict[str, dict]  # task id -> final job view
    started: float  # wall clock (time.time()) of the first submit
    submit_seconds: float
    follow_seconds: float

    @property
    def accepted(self) -> list[Submitted]:
        return [s for s in self.submitted if s.task_id]

    def retried(self, status: int) -> int:
        return sum(s.refused.count(status) for s in self.submitted)

    @property
    def connection_errors(self) -> int:
        return sum(len(s.errors) for s in self.submitted)

    def by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for view in self.jobs.values():
            counts[view["status"]] = counts.get(view["status"], 0) + 1
        return counts

    def figures(self) -> dict[str, float]:
        latencies = sorted(s.latency for s in self.accepted if s.latency is not None)
        finished = [v for v in self.jobs.values() if v.get("finished_at")]
        durations = sorted(_seconds(v["created_at"], v["finished_at"]) for v in finished)
        waits = sorted(_seconds(v["created_at"], v["started_at"]) for v in self.jobs.values()
                       if v.get("started_at") and v.get("finished_at"))
        last_finish = max((_epoch(v["finished_at"]) for v in finished), default=self.started)
        span = max(last_finish - self.started, 1e-9)
        return {
            "submits": len(self.submitted), "submit_p50_ms": 1000 * _pct(latencies, 50),
            "submit_p99_ms": 1000 * _pct(latencies, 99), "submit_max_ms": 1000 * (latencies[-1] if latencies else 0),
            "job_p50_s": _pct(durations, 50), "job_p99_s": _pct(durations, 99),
            "queue_wait_p50_s": _pct(waits, 50), "queue_wait_p99_s": _pct(waits, 99),
            "submits_per_s": len(self.accepted) / max(self.submit_seconds, 1e-9),
            "jobs_per_s": len(durations) / span, "wall_s": span,
        }

    def summary(self) -> str:
        f = self.figures()
        return (f"{f['submits']} submits in {self.submit_seconds:.1f} s ({f['submits_per_s']:.1f}/s; "
                f"{self.retried(429)} x 429 and {self.retried(503)} x 503 retried, {self.connection_errors} connection "
                f"errors retried); submit p50 {f['submit_p50_ms']:.0f} ms, p99 {f['submit_p99_ms']:.0f} ms, max "
                f"{f['submit_max_ms']:.0f} ms; jobs {self.by_status()}, end to end p50 {f['job_p50_s']:.2f} s, p99 "
                f"{f['job_p99_s']:.2f} s (waiting on the queue p50 {f['queue_wait_p50_s']:.2f} s, p99 "
                f"{f['queue_wait_p99_s']:.2f} s); throughput {f['jobs_per_s']:.1f} jobs/s over {f['wall_s']:.1f} s")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, int(q) - 1))]


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _seconds(start: str, end: str) -> float:
    return _epoch(end) - _epoch(start)


class LoadRun:
    def __init__(self, base_url: str, tokens: dict[str, str], *, concurrency: int = 32, follow_timeout: float = 300):
        self.base_url = base_url
        self.tokens = tokens
        self.concurrency = concurrency
        self.follow_timeout = follow_timeout
        self.run_id = uuid.uuid4().hex[:8]
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def plan(self, count: int) -> list[Submitted]:
        """`count` submits, the operations and users taken in turn."""
        operations, users = list(OPERATIONS), list(self.tokens)
        return [Submitted(i, operations[i % len(operations)], users[i % len(users)]) for i in range(count)]

    def submit(self, item: Submitted) -> Submitted:
        path, form, files = OPERATIONS[item.operation]
        headers = {"Authorization": f"Bearer {self.tokens[item.user]}",
                   "Idempotency-Key": f"load-{self.run_id}-{item.index}"}
        first = time.monotonic()
        backoff = 0.2
        while True:
            item.attempts += 1
            started = time.monotonic()
            try:
                response = self._session().post(self.base_url + path, headers=headers, data=form, files=files,
                                                timeout=60)
            except requests.RequestException as exc:
                item.errors.append(type(exc).__name__)
                if len(item.errors) > 5:
                    return item
                time.sleep(backoff)
                backoff = min(backoff * 2, 5)
                continue
            item.status = response.status_code
            if response.status_code in (429, 503) and len(item.refused) < 20:
                item.refused.append(response.status_code)
                retry_after = response.headers.get("Retry-After")
                time.sleep(min(float(retry_after), MAX_RETRY_AFTER) if retry_after else backoff)
                backoff = min(backoff * 2, 5)
                continue
            if 200 <= response.status_code < 300:
                item.task_id = response.json()["task_id"]
                item.latency = time.monotonic() - started
                item.total = time.monotonic() - first
            else:
                item.answer = response.text[:500]
            return item

    def follow(self) -> dict[str, dict]:
        """Every job of every user, read through the list endpoint until none is pending or processing."""
        deadline = time.monotonic() + self.follow_timeout
        views: dict[str, dict] = {}
        while True:
            for user, token in self.tokens.items():
                next_token = None
                while True:
                    params = {"limit": 100, **({"next_token": next_token} if next_token else {})}
                    response = self._session().get(f"{self.base_url}/api/v1/jobs", params=params,
                                                   headers={"Authorization": f"Bearer {token}"}, timeout=30)
                    response.raise_for_status()
                    page = response.json()
                    views.update({job["task_id"]: job for job in page["jobs"]})
                    next_token = page["next_token"]
                    if not next_token:
                        break
            if all(view["status"] in TERMINAL for view in views.values()) or time.monotonic() > deadline:
                return views
            time.sleep(0.5)

    def run(self, plan: int | list[Submitted]) -> LoadReport:
        """Submit `plan` (or that many submits, see plan()) from the thread pool, then follow every job to its end."""
        plan = self.plan(plan) if isinstance(plan, int) else plan
        started, begun = time.time(), time.monotonic()
        with ThreadPoolExecutor(self.concurrency) as pool:
            submitted = list(pool.map(self.submit, plan))
        submit_seconds = time.monotonic() - begun
        following = time.monotonic()
        views = self.follow()
        return LoadReport(submitted, views, started, submit_seconds, time.monotonic() - following)
