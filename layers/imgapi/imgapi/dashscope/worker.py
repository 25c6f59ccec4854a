"""The DashScope worker: runs queued change_bg, change_cloth, expand and fix jobs on DashScope.

For each message: take a slot of the model (dashscope_slots; none free: the message comes back later),
claim the job, submit the task (or, on a redelivery, follow the one already submitted), follow it to a
terminal state within the deadline, copy every result image into our bucket at once (DashScope's links
die after 24 h), and finish the job with DashScope's task id, request id and usage recorded on it.

Outcomes: an input DashScope rejects (4xx), a failed, unknown or cancelled task, a retired model and a
bad key fail the job at once with DashScope's code and message; 429 and 5xx are retried with backoff
(dashscope_client.RetryPolicy) and then fail the job; a partial success keeps the images that were made
and lists the others under `failures`. Anything else (S3, DynamoDB) is retried by SQS; the last delivery
fails the job.

No double billing: a request that may have reached DashScope unanswered (timeout, reset) is never sent again;
the job fails with dashscope_call_uncertain / dashscope_submit_uncertain, which is safe to submit again. The job
records that a request is on its way before it is sent, so a delivery after a crash mid-request does the same;
the images of a synchronous answer are recorded at once, so a redelivery copies them instead of calling again.
Such a job keeps its model's slot until the lease ends, since the work it may have started still runs upstream.

Why it is long: one message's whole run (slot, claim, submit or follow, copy, finish) reads as one story; its parts
share the job's state and the deadline.
"""
from __future__ import annotations

import random
import time
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from imgapi.dashscope import slots as dashscope_slots
from imgapi.dashscope.cancel import JobCancelled, stop_if_cancelled

from imgapi.jobs import lifecycle

from imgapi.core import storage
from imgapi.dashscope.client import (
    Clock, DashScopeClient, DashScopeError, DeadlineExceeded, PollSchedule, RetryPolicy, client_from_settings,
)
from imgapi.dashscope.models import ModelChoice, build_request, choose_model, requested_n, result_entries
from imgapi.core.errors import JobFailure
from imgapi.jobs.job_queue import message_fields, send_job
from imgapi.jobs.job_runs import run_to_end
from imgapi.core.observability import job_metric, logger
from imgapi.jobs.operations import IMAGE_EDITS
from imgapi.core.records import epoch_of
from imgapi.imagefiles.image_input import inspect_image
from imgapi.imagefiles.remote_images import ImageUnavailable, download_image
from imgapi.core.settings import DashScopeSettings, get_settings

COPY_MARGIN_SECONDS = 30  # of the function's time, kept for copying results and finishing the job
LEASE_MARGIN_SECONDS = 60  # a slot's lease outlives the deadline by this much
DEFAULT_TIME_LEFT_SECONDS = 300
INPUT_URL_TTL_SECONDS = 3600  # presigned links to uploaded inputs: DashScope fetches them while the task runs
RESULT_MAX_BYTES = 50 * 1024 * 1024
RESULT_MAX_PIXELS = 100_000_000
# DashScope's result images are signed links on Alibaba Cloud OSS (dashscope-result-*.oss-*.aliyuncs.com); a link
# anywhere else is not fetched (safe_fetch refuses private and metadata addresses on top of that).
RESULT_HOST_SUFFIX = ".aliyuncs.com"
INPUT_MAX_BYTES = 50 * 1024 * 1024
INPUT_MAX_PIXELS = 100_000_000

# Tests substitute a virtual clock, so backoff ladders and deadlines run in no time.
clock: Clock = Clock()

# Hints for the codes DashScope uses to reject an input (shared/dashscope.md).
REJECTION_HINTS = {
    "InvalidURL": "every image URL must be public and downloadable from the internet",
    "DataInspectionFailed": "DashScope's content inspection refused the input or the output",
    "InvalidPerson": "the person image must show exactly one full-body person",
    "InvalidGarment": "give a garment image (top_garment_url and/or bottom_garment_url)",
    "BadRequest.UnsupportedFileFormat": "background generation needs base_image_url to be an RGBA PNG with a "
                                        "transparent background (a cut-out, e.g. from /remove_bg)",
}


class TaskAbandoned(JobFailure):
    """The job failed while its DashScope task may still be running: its slot stays taken until the lease ends."""


class _Run:
    """One attempt at a job, and what it learns about the DashScope task (kept on the job as `dashscope`)."""

    def __init__(self, job: dict, attempt: int, choice: ModelChoice, deadline: float):
        self.job, self.attempt, self.choice, self.deadline = job, attempt, choice, deadline
        self.task_id = job["task_id"]
        earlier: dict[str, Any] = dict(job.get("dashscope") or {})
        # A task an earlier delivery submitted (to the same model) is followed, not submitted again.
        same_model = earlier.get("model") == choice.model
        self.resumable = same_model and (bool(earlier.get("task_id")) or bool(earlier.get("entries"))) and \
            earlier.get("task_status") not in ("FAILED", "CANCELED", "UNKNOWN")
        # An earlier delivery sent the request and stopped (crashed, timed out) before any answer was recorded.
        self.sending_unanswered = same_model and bool(earlier.get("sending_by_attempt")) and not self.resumable
        self.info = {**earlier, "model": choice.model} if self.resumable or self.sending_unanswered \
            else {"model": choice.model}
        self.upstream_running = False

    def save(self, **changes: Any) -> None:
        self.info.update({k: v for k, v in changes.items() if v is not None})
        lifecycle.record_details(self.task_id, self.attempt, "dashscope", self.info)

    def on_poll(self, answer: dict) -> None:
        status = (answer.get("output") or {}).get("task_status")
        if status and status != self.info.get("task_status"):
            self.save(task_status=status)


def _time_left(lambda_context: Any) -> float:
    if lambda_context is None:
        return DEFAULT_TIME_LEFT_SECONDS
    return lambda_context.get_remaining_time_in_millis() / 1000


def _poll_schedule(settings: DashScopeSettings) -> PollSchedule:
    return PollSchedule(settings.poll_interval, settings.poll_max_interval)


def input_urls(job: dict) -> dict[str, str]:
    """The job's input images as URLs DashScope can download: given URLs as they are, uploads presigned."""
    params = job["params"]
    uploads = params.get("uploads") or {}
    urls = {}
    for field in IMAGE_EDITS[job["operation"]].image_fields:
        if field in uploads:
            urls[field] = storage.presigned_get_url(uploads[field], ttl_seconds=INPUT_URL_TTL_SECONDS)
        elif params.get(field):
            urls[field] = params[field]
    return urls


def input_sizes(job: dict, choice: ModelChoice) -> dict[str, tuple[int, int]]:
    """(width, height) of the base image, where the request's `size` is worked out from it (expand, fix): as the
    submit recorded it (an uploaded image is inspected then, its size kept on the job's `input`), else, for an image
    given by URL (or a job recorded without it), read from the image itself."""
    if not choice.needs_input_size:
        return {}
    recorded = (job.get("input") or {}).get("base_image_url") or {}
    if recorded.get("width") and recorded.get("height"):
        return {"base_image_url": (int(recorded["width"]), int(recorded["height"]))}
    params, uploads = job["params"], job["params"].get("uploads") or {}
    if "base_image_url" in uploads:
        info = inspect_image(storage.get_object(uploads["base_image_url"]), max_bytes=INPUT_MAX_BYTES,
                             max_pixels=INPUT_MAX_PIXELS)
    else:
        try:
            _, info = download_image(params["base_image_url"], what="base_image_url", max_bytes=INPUT_MAX_BYTES,
                                     max_pixels=INPUT_MAX_PIXELS)
        except ImageUnavailable as exc:
            raise JobFailure(f"{exc}; {choice.model} needs the image's size to ask for the right output size. Try "
                             "again later", code="input_unavailable") from exc
    return {"base_image_url": (info.width, info.height)}


def _uncertain(error: DashScopeError, choice: ModelChoice) -> TaskAbandoned:
    """A request that may have reached DashScope without an answer: it is not sent again (it may be billed). The job
    fails with a code that says a new submit is safe; the work it may have started upstream still counts against
    DashScope's concurrency, so the model's slot stays taken until its lease ends."""
    if choice.family.asynchronous:
        return TaskAbandoned(f"DashScope did not confirm the task ({error.code}: {error.message}); it may have been "
                             "created, so it is not submitted again (that could pay twice). Submit the job again to "
                             "retry", code="dashscope_submit_uncertain")
    return TaskAbandoned(f"DashScope did not answer the {choice.model} call ({error.code}: {error.message}); it may "
                         "still have made the image, so the call is not repeated (that could pay twice). Submit the job "
                         "again to retry", code="dashscope_call_uncertain")


def failure_for(error: DashScopeError, choice: ModelChoice, attempts: int) -> JobFailure:
    """What a person should be told when DashScope answers with an error."""
    detail = f"{error.code}: {error.message}"
    if error.sent:
        return _uncertain(error, choice)
    if error.status == 401:
        return JobFailure(f"DashScope refused the API key ({detail}); check DASHSCOPE_API_KEY (deployed: the secret "
                          f"named by the stack parameter DashScopeApiKeySecretArn) and that the key belongs to the "
                          f"region of DASHSCOPE_BASE_URL ({get_settings().dashscope.base_url}, region "
                          f"{get_settings().dashscope.region})", code=error.code)
    if (error.status == 404 and error.code == "ModelNotFound") or \
            (error.status == 400 and "model not exist" in error.message.lower()):
        return choice.retired(detail)
    if error.status == 403:
        return JobFailure(f"DashScope denied access to model {choice.model!r} ({detail}); enable the model for the "
                          "account of DASHSCOPE_API_KEY or choose another one", code=error.code)
    if error.status == 429:
        return JobFailure(f"DashScope kept refusing with {detail} after {attempts} attempt(s); the account's limit "
                          f"for {choice.model} is reached. Try again later", code="dashscope_throttled")
    if error.retryable:
        return JobFailure(f"DashScope failed ({error.status or 'no answer'} {detail}) after {attempts} attempt(s); "
                          "try again later", code="dashscope_unavailable")
    hint = REJECTION_HINTS.get(error.code)
    return JobFailure(f"DashScope rejected the request: {error.message} ({error.code})" + (f"; {hint}" if hint else ""),
                      code=error.code)


def _run_task(run: _Run, client: DashScopeClient, settings: DashScopeSettings) -> dict:
    """Submit the task (unless an earlier delivery did) and follow it to its end; its last answer."""
    choice = run.choice
    if not run.resumable:
        body = _body(run)
        run.save(sending_by_attempt=run.attempt)
        submitted = client.submit(choice.family.path, body, deadline=run.deadline)
        run.save(task_id=submitted["output"]["task_id"], request_id=submitted.get("request_id"),
                 task_status=submitted["output"].get("task_status") or "PENDING", submitted_by_attempt=run.attempt)
        logger.info("DashScope task submitted", extra={"dashscope_task_id": run.info["task_id"], "model": choice.model})
    else:
        logger.info("following the DashScope task an earlier delivery submitted", extra={"dashscope_task_id": run.info["task_id"]})
    run.upstream_running = True
    answer = client.follow(run.info["task_id"], deadline=run.deadline, schedule=_poll_schedule(settings),
                           on_poll=lambda answer: (run.on_poll(answer),  # and stop once the owner cancels the job
                                                   stop_if_cancelled(run.task_id, run.info.get("task_id"), client)))
    run.upstream_running = False
    output = answer.get("output") or {}
    run.save(task_status=output.get("task_status"), submit_time=output.get("submit_time"),
             scheduled_time=output.get("scheduled_time"), end_time=output.get("end_time"),
             usage=answer.get("usage"), task_metrics=output.get("task_metrics"))
    status = output.get("task_status")
    if status == "FAILED":
        code = str(output.get("code") or "TaskFailed")
        hint = REJECTION_HINTS.get(code)
        raise JobFailure(f"DashScope could not do the task: {output.get('message') or 'no reason given'} ({code})"
                         + (f"; {hint}" if hint else ""), code=code)
    if status == "UNKNOWN":
        raise JobFailure(f"DashScope no longer knows task {run.info['task_id']} (UNKNOWN: it expired or never "
                         "existed); submit the job again", code="dashscope_task_unknown")
    if status == "CANCELED":
        raise JobFailure(f"the DashScope task {run.info['task_id']} was cancelled; submit the job again",
                         code="dashscope_task_canceled")
    return answer


def _body(run: _Run) -> dict:
    """The request, `n` clamped to what the model makes per request (said on the job when it was)."""
    body = build_request(run.choice, run.job["params"], input_urls(run.job), input_sizes(run.job, run.choice))
    asked, sent = int(run.job["params"].get("n") or 1), requested_n(body)
    if asked != sent and "n" in run.job["params"]:
        run.info["note"] = f"n={asked} was asked for; {run.choice.model} makes {sent} per request here"
    return body


def _call(run: _Run, client: DashScopeClient) -> dict:
    """A synchronous model: one call that returns the images. Its images are recorded at once, so a redelivery
    copies them rather than calling (and paying) again."""
    body = _body(run)
    run.save(sending_by_attempt=run.attempt)
    answer = client.call(run.choice.family.path, body, deadline=run.deadline)
    run.save(request_id=answer.get("request_id"), task_status="SUCCEEDED", usage=answer.get("usage"),
             entries=result_entries(run.choice, answer))
    return answer


def result_host_allowed(url: str) -> bool:
    """Whether a result link points where DashScope keeps its results: Alibaba Cloud's OSS (RESULT_HOST_SUFFIX), or
    the host of DASHSCOPE_BASE_URL itself (where a local fake serves them)."""
    host = (urlsplit(url).hostname or "").lower()
    base = (urlsplit(get_settings().dashscope.base_url).hostname or "").lower()
    return bool(host) and (host == base or host.endswith(RESULT_HOST_SUFFIX))


def _download(url: str, index: int, policy: RetryPolicy) -> tuple[bytes, Any]:
    if not result_host_allowed(url):  # never fetched: DashScope hands out OSS links only
        raise JobFailure(f"DashScope's result image {index} is not on Alibaba Cloud's storage "
                         f"(*{RESULT_HOST_SUFFIX}) but at {urlsplit(url).hostname!r}, so it is not fetched; submit the "
                         "job again", code="dashscope_result_refused")
    for attempt in range(1, policy.attempts + 1):
        try:
            return download_image(url, what=f"DashScope's result image {index}", max_bytes=RESULT_MAX_BYTES,
                                  max_pixels=RESULT_MAX_PIXELS)
        except JobFailure as failure:  # refused (an expired link: 403), gone, or not an image: never stored
            if failure.code.startswith("url_"):
                raise  # a link our own rules refuse (a private address): not DashScope's doing
            raise JobFailure(f"{failure.reason} (DashScope's result links expire 24 hours after the task ends); "
                             "submit the job again", code="dashscope_result_unavailable") from failure
        except ImageUnavailable:
            if attempt >= policy.attempts:
                raise  # SQS delivers the message again; that delivery follows the same task and copies again
            clock.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")


def copy_results(job: dict, entries: list[dict], policy: RetryPolicy) -> tuple[list[dict], list[dict]]:
    """Copy every image DashScope made into our bucket; (results, failures) where failures say which were not made."""
    results, failures = [], []
    for index, entry in enumerate(entries):
        if "url" not in entry:
            failures.append({"index": index, "code": entry.get("code"), "message": entry.get("message")})
            continue
        data, info = _download(entry["url"], index, policy)
        key = storage.result_key(job["owner"], job["task_id"], info.extension, index=index)
        storage.put_object(key, data, info.content_type)
        results.append({"key": key, "index": index, "content_type": info.content_type, "size_bytes": info.size_bytes,
                        "width": info.width, "height": info.height})
    if not results:
        first = failures[0] if failures else {"code": "NoResult", "message": "the answer held no image"}
        raise JobFailure(f"DashScope made none of the images: {first['message']} ({first['code']})",
                         code=str(first["code"]))
    return results, failures


def _run(run: _Run, settings: DashScopeSettings) -> tuple[list[dict], list[dict]]:
    client = client_from_settings(clock)
    if client is None:
        raise JobFailure("DashScope is not configured: set DASHSCOPE_API_KEY (deployed: the stack parameter "
                         "DashScopeApiKeySecretArn)", code="engine_unavailable")
    earlier = run.info
    try:
        if not run.choice.family.asynchronous and run.resumable and run.info.get("entries"):
            # An earlier delivery's call succeeded (then copying failed): copy its images, do not call again.
            return copy_results(run.job, list(run.info["entries"]), client.retry)
        if run.sending_unanswered:
            raise _uncertain(DashScopeError(None, "NoAnswer", f"an earlier delivery (attempt "
                                            f"{earlier.get('sending_by_attempt')}) sent the request and stopped before "
                                            "its answer came", sent=True), run.choice)
        answer = _run_task(run, client, settings) if run.choice.family.asynchronous else _call(run, client)
    except DashScopeError as error:
        if error.request_id and not run.info.get("request_id"):
            run.save(request_id=error.request_id)
        failure = failure_for(error, run.choice, error.attempts)
        raise (_abandon(run, client, failure) if run.upstream_running else failure) from error
    except DeadlineExceeded as exceeded:
        if exceeded.last_error is not None and not run.upstream_running:
            raise failure_for(exceeded.last_error, run.choice, exceeded.last_error.attempts) from exceeded
        task = run.info.get("task_id")
        cancelled = bool(task) and run.upstream_running and client.cancel(task)
        failure = TaskAbandoned if run.upstream_running and not cancelled else JobFailure
        raise failure(f"DashScope did not finish in {settings.task_deadline_seconds:g} s ({exceeded}); the job is "
                      f"given up{' and the task cancelled' if cancelled else ''}. Try again later", code="dashscope_deadline") from exceeded
    return copy_results(run.job, result_entries(run.choice, answer), client.retry)


def _abandon(run: _Run, client: DashScopeClient, failure: JobFailure) -> JobFailure:
    """Following the task failed while it may still run upstream: cancel it if DashScope lets us (only while it is
    PENDING); else the job fails keeping the task's slot until the lease ends, since DashScope still counts it."""
    if client.cancel(run.info["task_id"]):
        return JobFailure(f"{failure.reason}; the DashScope task was cancelled", code=failure.code)
    return TaskAbandoned(failure.reason, code=failure.code)


def _process(job: dict, attempt: int, receives: int, choice: ModelChoice, deadline: float) -> bool:
    """Run a claimed job to its end; True when its slot must stay taken (the task may still run upstream)."""
    run = _Run(job, attempt, choice, deadline)

    def work() -> list[dict]:
        try:
            results, failures = _run(run, get_settings().dashscope)
        except JobCancelled as cancelled:  # the job is cancelled already: this only ends the run (and keeps the
            # slot while the task may still run upstream)
            raise (JobFailure if cancelled.upstream_cancelled else TaskAbandoned)(str(cancelled),
                                                                                  code="cancelled") from cancelled
        if failures:  # partial success: the images that failed, and why
            lifecycle.record_details(job["task_id"], attempt, "failures", failures)
        return results

    failure = run_to_end(job, attempt=attempt, receives=receives, engine="dashscope", work=work)
    return isinstance(failure, TaskAbandoned)


def _wait_for_slot(job: dict, message: dict, choice: ModelChoice, settings: DashScopeSettings) -> None:
    """No free slot: send the job back to the queue to try later (a new message, so waiting never uses up
    the receive count that sends broken messages to the DLQ), or fail it when it has waited too long."""
    age = time.time() - epoch_of(job["created_at"])
    if age > settings.max_queue_seconds:
        reason = (f"DashScope runs at most {choice.max_in_flight} {choice.model} task(s) at a time for this account and "
                  f"they stayed busy for {age:.0f} s; submit the job again later")
        lifecycle.fail(job["task_id"], reason, code="dashscope_busy")
        logger.warning("job failed: no slot in time", extra={"model": choice.model})
        job_metric("JobsFailed", job["operation"], "dashscope")
        return
    delay = settings.slot_retry_seconds * (1 + 0.5 * random.random())
    extra = {"attempt_base": int(job.get("attempt") or 0), "deferrals": int(message.get("deferrals", 0)) + 1}
    send_job(settings.queue_url, job["task_id"], delay_seconds=round(delay), extra=extra)
    logger.info("no free DashScope slot; the job comes back later", extra={"model": choice.model, "delay": round(delay)})
    job_metric("JobsDeferred", job["operation"], "dashscope")


def handle_record(record: SQSRecord, lambda_context: Any = None) -> None:
    """Process one queue message. Raising leaves it for SQS to deliver again (and finally dead-letter)."""
    message = message_fields(record.body)  # an unreadable message raises: it ends in the DLQ
    task_id = message["task_id"]
    receives = int(record.attributes.approximate_receive_count)
    attempt = int(message.get("attempt_base", 0)) + receives
    logger.set_correlation_id(task_id)
    logger.append_keys(task_id=task_id, attempt=attempt)
    job = lifecycle.get_job(task_id)
    if job is None or job["status"] in lifecycle.TERMINAL:
        logger.info("nothing to do: the job is finished or unknown")
        return
    settings = get_settings().dashscope
    try:
        choice = choose_model(job["operation"])
    except JobFailure as failure:
        lifecycle.fail(task_id, failure.reason, code=failure.code)
        logger.warning("job failed", extra={"reason": failure.reason, "code": failure.code})
        return
    budget = max(1.0, min(settings.task_deadline_seconds, _time_left(lambda_context) - COPY_MARGIN_SECONDS))
    slot = dashscope_slots.acquire(choice.model, task_id, limit=choice.max_in_flight,
                                   lease_seconds=int(budget + LEASE_MARGIN_SECONDS))
    if slot is None:
        _wait_for_slot(job, message, choice, settings)
        return
    keep_slot = False
    try:
        claimed = lifecycle.claim(task_id, attempt, last_delivery=receives >= get_settings().max_receive_count)
        if claimed is None:
            logger.info("nothing to do: the job is finished or taken by a newer delivery")
            return
        keep_slot = _process(claimed, attempt, receives, choice, clock.now() + budget)
    finally:
        if not keep_slot:
            slot.release()
