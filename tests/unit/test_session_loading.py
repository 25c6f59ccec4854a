"""engine/cutout: one model load per process, shared by whoever asks while it runs, started early by the worker.

The load's ordering is driven by events, never by sleeps: a fake load blocks until the test lets it go, and a
Future that says when someone waits on it shows that a second caller waited instead of loading again.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from imgapi.core.errors import JobFailure
from imgapi.engine import cutout
from tests.support.waiting import REAL_WORK_SECONDS as WAIT

ROOT = Path(__file__).resolve().parents[2]


class SeenFuture(Future):
    """A Future that says when a caller starts waiting for its result."""

    waiting = threading.Event()

    def result(self, timeout=None):
        SeenFuture.waiting.set()
        return super().result(timeout)


class BlockedLoad:
    """Stands in for _load_session: counts calls, and each waits for `release` before it returns or raises."""

    def __init__(self, fail_first: bool = False):
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_first = fail_first

    def __call__(self, model: str):
        self.calls += 1
        self.entered.set()
        assert self.release.wait(WAIT), "the test never released the load"
        if self.fail_first and self.calls == 1:
            raise JobFailure(f"rembg model {model!r} is not available", code="model_unavailable")
        return object()


@pytest.fixture
def blocked(monkeypatch, fresh_sessions):  # fresh_sessions: a load another test started has ended first
    monkeypatch.setattr(cutout, "_sessions", {})
    monkeypatch.setattr(cutout, "_loading", {})
    monkeypatch.setattr(cutout, "Future", SeenFuture)
    SeenFuture.waiting = threading.Event()

    made: list[BlockedLoad] = []

    def install(**options) -> BlockedLoad:
        load = BlockedLoad(**options)
        made.append(load)
        monkeypatch.setattr(cutout, "_load_session", load)
        return load

    yield install
    for load in made:  # a test that failed half-way leaves no load waiting for its release
        load.release.set()


def _in_thread(function, *args) -> Future:
    outcome: Future = Future()

    def run():
        try:
            outcome.set_result(function(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the test as it is
            outcome.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return outcome


def test_a_job_that_asks_while_the_preload_runs_waits_for_it_instead_of_loading_again(blocked):
    load = blocked()
    cutout.preload("u2net")
    assert load.entered.wait(WAIT)

    job = _in_thread(cutout.get_session, "u2net")
    assert SeenFuture.waiting.wait(WAIT), "the job did not wait for the load under way"
    assert not job.done()
    load.release.set()

    session = job.result(WAIT)
    assert load.calls == 1
    assert cutout.get_session("u2net") is session  # kept for the container's later jobs
    assert cutout._loading == {}


def test_a_failed_load_is_the_waiting_jobs_error_and_the_next_job_tries_again(blocked):
    load = blocked(fail_first=True)
    cutout.preload("u2net")
    assert load.entered.wait(WAIT)
    job = _in_thread(cutout.get_session, "u2net")
    assert SeenFuture.waiting.wait(WAIT)
    load.release.set()

    with pytest.raises(JobFailure) as failure:
        job.result(WAIT)
    assert failure.value.code == "model_unavailable"
    assert cutout._loading == {} and cutout._sessions == {}

    assert cutout.get_session("u2net") is not None  # the model is there now: the next job loads it
    assert load.calls == 2


def test_preload_does_nothing_for_a_model_already_loaded(blocked):
    load = blocked()
    loaded = object()
    cutout._sessions["u2net"] = loaded

    cutout.preload("u2net")

    assert cutout._loading == {} and load.calls == 0
    assert cutout.get_session("u2net") is loaded


def test_what_a_load_logs_on_its_thread_carries_the_keys_of_the_job_that_started_it(blocked, monkeypatch):
    from imgapi.core.observability import logger

    seen = {}

    def load(model: str):
        seen.update(logger.get_current_keys(), thread=threading.current_thread().name)
        return object()

    monkeypatch.setattr(cutout, "_load_session", load)
    logger.append_keys(task_id="task-1")
    try:
        cutout.preload("u2net")
        cutout.get_session("u2net")  # waits for the preload's load, registered before preload returned
    finally:
        logger.remove_keys(["task_id"])
    assert seen["thread"] == "load-u2net" and seen["task_id"] == "task-1"


def _python(script: str, env_extra: dict) -> dict:
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "local")]), **env_extra}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_image_worker_starts_loading_its_default_model_when_it_is_imported(tmp_path):
    from tests.support.u2net_model import build_u2net_like

    build_u2net_like(tmp_path / "models" / "u2net_human_seg" / "u2net_human_seg.onnx")
    script = """
import importlib.util, json, sys
from imgapi.engine import cutout
spec = importlib.util.spec_from_file_location("worker_app", "functions/image_worker/app.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
started = sorted(set(cutout._loading) | set(cutout._sessions))
session = cutout.get_session("u2net_human_seg")
print(json.dumps({"started": started, "loaded": sorted(cutout._sessions), "shape": session.inner_session.get_inputs()[0].shape}))
"""
    seen = _python(script, {"U2NET_HOME": str(tmp_path), "REMBG_MODELS": "u2net_human_seg"})
    assert seen["started"] == ["u2net_human_seg"]  # under way (or done) before the handler's first job
    assert seen["loaded"] == ["u2net_human_seg"] and seen["shape"] == [1, 3, 320, 320]


def test_the_image_engine_does_not_import_the_tracer_or_the_aws_sdk():
    # The engine is pure image work: it needs neither X-Ray (0.3 s with botocore's sessions) nor boto3, which the
    # worker's handler imports while its model loads. (Powertools imports botocore's bare package, for its user
    # agent: under a millisecond.)
    seen = _python("""
import json, sys
from imgapi.engine import pipeline
from imgapi.core import observability
heavy = sorted(m for m in ("aws_xray_sdk", "botocore.session", "boto3") if m in sys.modules)
tracer = type(observability.tracer).__name__  # the handlers' tracer, made when first asked for
print(json.dumps({"heavy": heavy, "tracer": tracer, "after": "aws_xray_sdk" in sys.modules}))
""", {})
    assert seen == {"heavy": [], "tracer": "Tracer", "after": True}
