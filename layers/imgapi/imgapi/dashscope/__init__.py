"""Alibaba DashScope as an engine: the HTTP client, each model family's requests, the concurrency slots and the
DashScope worker's job runs.

Imports jobs, engine and core; never api.
"""
__all__ = ["worker"]
