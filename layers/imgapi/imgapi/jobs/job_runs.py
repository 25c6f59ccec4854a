"""Running a claimed job to its end, the same way in every worker.

The work either returns the job's results (completed), raises JobFailure (failed now, no retry),
raises ImageUnavailable (an image URL did not resolve or answer this time: one warning line, SQS delivers
the message again, and the last delivery fails the job with the URL's code, e.g. url_unresolvable),
or raises anything else: then SQS delivers the message again, and the last delivery fails the job
with the error (retries_exhausted) before the message goes to the dead-letter queue.
"""
from __future__ import annotations

import time
from typing import Callable

from aws_lambda_powertools.metrics import MetricUnit

from imgapi.jobs import lifecycle
from imgapi.core.errors import JobFailure
from imgapi.core.observability import job_metric, logger
from imgapi.core.settings import get_settings
from imgapi.imagefiles.remote_images import ImageUnavailable


def _outcome(job: dict, engine: str, outcome: str, started: float) -> None:
    job_metric(f"Jobs{outcome}", job["operation"], engine)
    job_metric("JobDuration", job["operation"], engine, round(time.monotonic() - started, 3), MetricUnit.Seconds)


def _failed(job: dict, engine: str, attempt: int, started: float, failure: JobFailure) -> JobFailure:
    lifecycle.fail(job["task_id"], failure.reason, code=failure.code, attempt=attempt)
    logger.warning("job failed", extra={"reason": failure.reason, "code": failure.code})
    _outcome(job, engine, "Failed", started)
    return failure


def run_to_end(job: dict, *, attempt: int, receives: int, engine: str,
               work: Callable[[], list[dict]]) -> JobFailure | None:
    """Run `work` for a job this delivery claimed (`attempt`, the claim's number; `receives`, the
    message's receive count) and record the outcome. Returns the JobFailure when it failed for a
    known reason; re-raises other errors for SQS."""
    task_id, started = job["task_id"], time.monotonic()
    try:
        results = work()
    except ImageUnavailable as unavailable:
        # An expected, classified failure (a URL that did not resolve or answer this time): one warning line, no
        # traceback. On the last delivery it has failed every time: the job fails with its own code.
        if receives < get_settings().max_receive_count:
            lifecycle.record_attempt_error(task_id, attempt, str(unavailable))
            logger.warning("attempt failed: an image URL was unavailable; SQS will deliver the message again",
                           extra={"code": unavailable.code, "host": unavailable.host, "error": str(unavailable)})
            raise
        return _failed(job, engine, attempt, started,
                       JobFailure(f"{unavailable} (on each of {receives} deliveries)", code=unavailable.code))
    except JobFailure as failure:
        return _failed(job, engine, attempt, started, failure)
    except Exception as exc:
        if receives >= get_settings().max_receive_count:
            lifecycle.fail(task_id, f"gave up after {receives} deliveries; last error: {type(exc).__name__}: {exc}",
                      code="retries_exhausted", attempt=attempt)
            _outcome(job, engine, "Failed", started)
            logger.exception("job failed for good; its message goes to the dead-letter queue")
        else:
            lifecycle.record_attempt_error(task_id, attempt, f"{type(exc).__name__}: {exc}")
            logger.exception("attempt failed; SQS will deliver the message again")
        raise
    if lifecycle.complete(task_id, attempt, results):
        logger.info("job completed", extra={"results": len(results)})
        _outcome(job, engine, "Completed", started)
    else:
        logger.warning("finished, but a newer delivery owns the job now; its outcome stands")
    return None
