"""Jobs, from submit to result: their record and state machine (lifecycle), the parameters each operation accepts,
the queue, quotas, uploads and S3-triggered ingest, saved configurations, the image worker's runs, the sweeper,
and webhooks' events and deliveries.

Imports engine and core; independent of auth; never dashscope or api.
"""
__all__ = ["ingest", "job_views", "lifecycle", "removal_configs", "sweeper", "uploads", "webhook_delivery", "worker"]
