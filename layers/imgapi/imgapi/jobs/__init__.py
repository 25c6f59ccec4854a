"""Jobs, from submit to result: their record and state machine (lifecycle), the parameters each operation accepts,
the queue, quotas, uploads and S3-triggered ingest, saved configurations, the image worker's runs and the sweeper.

Imports engine and core; independent of auth; never dashscope or api.
"""
__all__ = ["ingest", "job_views", "lifecycle", "removal_configs", "sweeper", "uploads", "worker"]
