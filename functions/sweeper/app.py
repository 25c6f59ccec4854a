"""Scheduled (every 5 minutes): fails the jobs that can no longer finish (see imgapi.sweeper)."""
from dataclasses import asdict

from imgapi.core.observability import logger, metrics
from imgapi.jobs.sweeper import sweep_stuck_jobs


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event, context):
    return asdict(sweep_stuck_jobs())
