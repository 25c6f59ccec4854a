"""No double billing (issue #20): how many requests reach DashScope for each failure, and what a crash between
DashScope's acceptance and our record of it leaves. Also what the worker reads per run (the base image's size as the
submit recorded it; the job once per poll)."""
from __future__ import annotations

import pytest
import requests

from imgapi.core import storage
from imgapi.core.settings import get_settings
from imgapi.dashscope import client as dashscope_client
from imgapi.dashscope import slots as dashscope_slots
from imgapi.jobs import lifecycle
from imgapi_local.devserver import free_port
from tests.functional.conftest import run_dashscope_worker
from tests.functional.test_dashscope_worker import submit, use_model
from tests.functional.test_faults import faults, killed, killed_delivery  # noqa: F401 - `faults` is a fixture
from tests.support.fake_dashscope import IMAGEEDIT_MODEL
from tests.support.images import portrait_png

pytestmark = pytest.mark.slow

# (operation, model, synchronous): one job of each kind of family.
ASYNC = ("fix", IMAGEEDIT_MODEL, False)
ASYNC_WAN25 = ("expand", "wan2.5-i2i-preview", False)
SYNC = ("change_bg", "qwen-image-edit-plus", True)
SYNC_WAN27 = ("change_cloth", "wan2.7-image", True)


def _configure(monkeypatch, case) -> None:
    operation, model, _ = case
    use_model(monkeypatch, operation, model)


def _submit(api, token, operation) -> str:
    """The seed's body; expand's base image uploaded (its size is recorded at submit: a prompt-driven expand needs it)."""
    if operation != "expand":
        return submit(api, token, operation)
    response = api.call("POST", "/expand", token=token, form={"top_scale": "1.5", "bottom_scale": "1.5", "left_scale": "1", "right_scale": "1"},
                        files={"base_image": ("wide.png", portrait_png(400, 300), "image/png")})
    assert response.status == 202, response.body
    return response.json()["task_id"]


def _dashscope_record_saves(key: str):
    """The job update that keeps the DashScope record once it holds `key` (the task id, or a call's images)."""
    return lambda params: params.get("ExpressionAttributeNames", {}).get("#n") == "dashscope" and \
        repr(key) in repr(params.get("ExpressionAttributeValues", {}).get(":v"))


# -- a crash after DashScope accepted, before we recorded its answer -------------------------------------------------

@pytest.mark.parametrize("case", [ASYNC, ASYNC_WAN25, SYNC, SYNC_WAN27], ids=lambda c: c[1])
def test_a_worker_killed_after_dashscope_accepted_but_before_its_answer_was_recorded_never_sends_it_again(
        api, alice, stack, faults, dashscope, monkeypatch, case):  # noqa: F811
    operation, model, synchronous = case
    _configure(monkeypatch, case)
    task_id = _submit(api, alice, operation)
    # The worker dies as it writes DashScope's answer (the task id; a synchronous call's images) onto the job.
    faults.add("dynamodb", "UpdateItem", killed, calls={1}, table=get_settings().jobs_table,
               match=_dashscope_record_saves("entries" if synchronous else "task_id"))
    killed_delivery("DashScopeWorkerFunction", get_settings().dashscope.queue_url)
    record = lifecycle.get_job(task_id)
    assert record["status"] == "processing" and record["dashscope"]["sending_by_attempt"] == 1
    assert "task_id" not in record["dashscope"] and "entries" not in record["dashscope"]
    assert len(dashscope.submits) == 1  # DashScope has the work (a task, or images made): it is billed

    assert run_dashscope_worker() == [{"batchItemFailures": []}]  # SQS delivers the message again

    job = lifecycle.get_job(task_id)
    assert len(dashscope.submits) == 1  # not sent again
    expected = "dashscope_call_uncertain" if synchronous else "dashscope_submit_uncertain"
    assert job["status"] == "failed" and job["error_code"] == expected and job["attempt"] == 2
    assert "earlier delivery (attempt 1)" in job["error_message"] and "Submit the job again" in job["error_message"]
    # What may run upstream still counts against DashScope's concurrency: the model's slot stays taken.
    assert dashscope_slots.in_use(model, 2) == 1
    # ... and the failure says a new submit is safe (the model runs 2 at a time: the other slot is free).
    faults.clear()
    retried = _submit(api, alice, operation)
    run_dashscope_worker()
    assert lifecycle.get_job(retried)["status"] == "completed" and len(dashscope.submits) == 2


# -- every failure mode: how many times the request reaches DashScope ------------------------------------------------

def _timeout(dashscope, monkeypatch):
    monkeypatch.setattr(dashscope_client, "READ_TIMEOUT", 1.0)
    monkeypatch.setattr(dashscope_client, "SYNC_READ_TIMEOUT", 1.0)
    dashscope.delay_next(3, on="submit")


def _refused(dashscope, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_BASE_URL", f"http://127.0.0.1:{free_port()}/api/v1")  # nothing listens there
    get_settings.cache_clear()


# failure -> (how to cause it, POSTs that reach DashScope or are attempted, the job's error code)
FAILURE_MODES = {
    "read timeout": (_timeout, 1, "uncertain"),
    "429": (lambda fake, _: fake.fail_next_submit(429, "Throttling.RateQuota", times=None), 4, "dashscope_throttled"),
    "500": (lambda fake, _: fake.fail_next_submit(500, times=None), 4, "dashscope_unavailable"),
    "503": (lambda fake, _: fake.fail_next_submit(503, times=None), 4, "dashscope_unavailable"),
    "504 from a gateway": (lambda fake, _: fake.fail_next_submit(504, times=None), 1, "uncertain"),
    "connection reset after the request was sent": (lambda fake, _: fake.reset_next_submit(times=None), 1, "uncertain"),
    "connection refused before the request was sent": (_refused, 4, "dashscope_unavailable"),
}


@pytest.fixture
def posts(monkeypatch) -> list[str]:
    """Every POST the DashScope client makes, as it leaves (counted even when nothing listens)."""
    made: list[str] = []
    real = requests.Session.request

    def counting(self, method, url, *args, **kwargs):
        if method == "POST" and "/tasks/" not in url:
            made.append(url)
        return real(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", counting)
    return made


@pytest.mark.parametrize("failure", list(FAILURE_MODES))
@pytest.mark.parametrize("case", [ASYNC, SYNC], ids=["asynchronous", "synchronous"])
def test_each_failure_mode_reaches_dashscope_as_often_as_is_safe(api, alice, dashscope, clock, monkeypatch, posts,
                                                                 case, failure):
    operation, _, synchronous = case
    cause, expected_posts, code = FAILURE_MODES[failure]
    _configure(monkeypatch, case)
    cause(dashscope, monkeypatch)
    task_id = _submit(api, alice, operation)
    assert run_dashscope_worker() == [{"batchItemFailures": []}]
    job = lifecycle.get_job(task_id)
    if code == "uncertain":
        code = "dashscope_call_uncertain" if synchronous else "dashscope_submit_uncertain"
    assert job["status"] == "failed" and job["error_code"] == code, job
    assert len(posts) == expected_posts
    if "refused" not in failure:
        assert len(dashscope.submits) == expected_posts  # as DashScope saw them


# -- what the worker reads ------------------------------------------------------------------------------------------

def test_an_uploaded_base_images_size_is_taken_from_the_job_not_read_again(api, alice, dashscope, monkeypatch):
    use_model(monkeypatch, "expand", "qwen-image-edit-plus")
    task_id = _submit(api, alice, "expand")  # 400x300, grown x1.5 up and down: 400x450, fitted to sides >= 512
    assert lifecycle.get_job(task_id)["input"]["base_image_url"]["width"] == 400
    read, real_get = [], storage.get_object
    monkeypatch.setattr(storage, "get_object", lambda key, *a, **k: read.append(key) or real_get(key, *a, **k))
    run_dashscope_worker()
    (request,) = dashscope.submits
    assert request.body["parameters"]["size"] == "512*576"
    assert lifecycle.get_job(task_id)["status"] == "completed"
    assert not [key for key in read if key.startswith("uploads/")], read  # DashScope reads it; the worker does not


def test_the_job_is_read_once_per_poll_to_notice_a_cancel(api, alice, dashscope, faults):  # noqa: F811
    jobs_table = get_settings().jobs_table

    def reads_and_polls(running_polls: int) -> tuple[int, int]:
        dashscope.running_polls = running_polls
        task_id = submit(api, alice, "fix")
        before = len(faults.made("dynamodb", "GetItem"))
        run_dashscope_worker()
        reads = [p for p in faults.made("dynamodb", "GetItem")[before:] if p.get("TableName") == jobs_table]
        assert lifecycle.get_job(task_id)["status"] == "completed"
        (task,) = [t for t in dashscope.tasks.values() if t.polls and t.task_id == _upstream_id(task_id)]
        return len(reads), len(dashscope.queries(task.task_id))

    reads_few, polls_few = reads_and_polls(1)
    reads_many, polls_many = reads_and_polls(6)
    assert polls_many - polls_few == 5
    assert reads_many - reads_few == polls_many - polls_few  # one read per poll, no more
    assert reads_few <= polls_few + 1  # and the delivery's own look at the job


def _upstream_id(task_id: str) -> str:
    return lifecycle.get_job(task_id)["dashscope"]["task_id"]


# -- where results are fetched from; the key ------------------------------------------------------------------------

@pytest.mark.parametrize("url,allowed", [
    ("https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/1d/ab/result.png?Expires=1&Signature=x", True),
    ("https://dashscope-result-sgp.oss-ap-southeast-1.aliyuncs.com/x.png", True),
    ("https://aliyuncs.com.example.net/x.png", False),
    ("https://example.net/dashscope-result.oss-cn-beijing.aliyuncs.com/x.png", False),
    ("http://169.254.169.254/latest/meta-data/", False),
])
def test_result_links_are_fetched_only_from_dashscopes_storage(dashscope, url, allowed):
    from imgapi.dashscope.worker import result_host_allowed
    assert result_host_allowed(url) is allowed
    assert result_host_allowed(dashscope.root_url + "/results/x.png")  # DASHSCOPE_BASE_URL's own host (the fake)


def test_a_result_link_elsewhere_is_never_fetched_and_fails_the_job(api, alice, dashscope, monkeypatch):
    # DashScope reached as localhost, its result links on 127.0.0.1: another host, not Alibaba Cloud's storage.
    monkeypatch.setenv("DASHSCOPE_BASE_URL", dashscope.base_url.replace("127.0.0.1", "localhost"))
    get_settings.cache_clear()
    task_id = submit(api, alice, "fix")
    run_dashscope_worker()
    job = lifecycle.get_job(task_id)
    assert job["status"] == "failed" and job["error_code"] == "dashscope_result_refused", job
    assert "aliyuncs.com" in job["error_message"] and not job.get("results")
    assert not [r for r in dashscope.requests if r.path.startswith("/results/")]  # not even asked for


def test_the_api_key_is_never_logged_nor_kept_on_a_job(api, alice, dashscope, clock, monkeypatch, capsys, caplog):
    import logging

    from imgapi.core.observability import logger
    key = "sk-0123456789abcdef-never-logged"
    dashscope.api_key = key
    monkeypatch.setenv("DASHSCOPE_API_KEY", key)
    get_settings.cache_clear()
    caplog.set_level(logging.DEBUG)  # urllib3's and every other library's debug lines too
    level = logger.log_level
    logger.setLevel(logging.DEBUG)
    try:
        jobs = [submit(api, alice, "fix")]  # completes
        run_dashscope_worker()
        dashscope.fail_next_submit(429, times=None)  # retried, then fails
        jobs.append(submit(api, alice, "fix"))
        run_dashscope_worker()
        dashscope.reset_scripts()
        dashscope.api_key = "sk-another"  # DashScope refuses ours: 401
        jobs.append(submit(api, alice, "fix"))
        run_dashscope_worker()
    finally:
        logger.setLevel(level)
    records = [lifecycle.get_job(task_id) for task_id in jobs]
    assert [job["status"] for job in records] == ["completed", "failed", "failed"]
    assert records[2]["error_code"] == "InvalidApiKey" and "DASHSCOPE_API_KEY" in records[2]["error_message"]
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "DashScope task submitted" in logged  # the worker's lines were captured
    assert key not in logged and key not in repr(records)
    assert all(key.encode() not in api.call("GET", f"/api/v1/jobs/{task_id}", token=alice).body for task_id in jobs)
