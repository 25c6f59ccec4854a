"""How many threads the worker uses: the vCPUs it really has, not the host's core count."""
from __future__ import annotations

import pytest

from imgapi.core import cpus


@pytest.fixture
def host_with_64_cores(monkeypatch):
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    monkeypatch.setattr(cpus, "_cgroup_cpu_limit", lambda: None)


@pytest.mark.parametrize("memory,expected", [("3538", 2), ("3008", 2), ("1769", 1), ("512", 1), ("10240", 6)])
def test_lambda_memory_decides_the_vcpus(host_with_64_cores, monkeypatch, memory, expected):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)
    assert cpus.cpu_count() == expected


def test_a_cgroup_quota_caps_the_host_cores(host_with_64_cores, monkeypatch):
    monkeypatch.setattr(cpus, "_cgroup_cpu_limit", lambda: 3.0)
    assert cpus.cpu_count() == 3


def test_cgroup_files_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("200000 100000\n")
    assert cpus._cgroup_cpu_limit(str(tmp_path)) == 2.0
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpus._cgroup_cpu_limit(str(tmp_path)) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("150000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cpus._cgroup_cpu_limit(str(v1)) == 1.5
