"""How many vCPUs this process really has, for the thread counts of inference, OpenCV and the PNG writer.

Not the host's cores: a Lambda function on a 64-core host gets CPU in proportion to its memory, and a container
may have a cgroup quota.
"""
from __future__ import annotations

import os

# Lambda gives a function CPU in proportion to its memory: one vCPU's worth per 1,769 MB.
LAMBDA_MB_PER_VCPU = 1769


def _cgroup_cpu_limit(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPU quota of this process's cgroup in CPUs (v2 cpu.max or v1 cfs quota), if it has one."""
    try:
        with open(os.path.join(root, "cpu.max")) as handle:
            quota, period = handle.read().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as q, open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as p:
            quota, period = int(q.read()), int(p.read())
            return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def cpu_count() -> int:
    """The vCPUs this process can really use: the host's cores visible to us, capped by the cgroup
    quota and by what Lambda's memory setting buys (a 3 GB function on a 64-core host has ~1.7)."""
    try:
        count = float(len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        count = float(os.cpu_count() or 1)
    quota = _cgroup_cpu_limit()
    if quota:
        count = min(count, quota)
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    if memory and memory.isdigit():
        count = min(count, int(memory) / LAMBDA_MB_PER_VCPU)
    return max(1, round(count))
