"""A DashScope client clock whose time passes only when the code sleeps: backoff ladders and deadlines run in no
time, and the waits asked for are kept."""
from __future__ import annotations

from imgapi.dashscope.client import Clock


class VirtualClock(Clock):
    def __init__(self, start: float = 1000.0):
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
