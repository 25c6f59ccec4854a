"""Issue #22, point 7: under `make dev` requests run on threads; a log line must carry its own request's keys."""
from __future__ import annotations

import json
import logging
import threading
from types import SimpleNamespace

from imgapi.core.observability import logger


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[dict] = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


def _context(name: str):
    return SimpleNamespace(function_name=name, memory_limit_in_mb=128, invoked_function_arn=f"arn:{name}",
                           aws_request_id=f"request-{name}")


def test_two_threads_log_their_own_task_id_and_correlation_id():
    lines = _Lines()
    lines.setFormatter(logger.registered_formatter)
    logger._logger.addHandler(lines)
    both_set = threading.Barrier(2)

    @logger.inject_lambda_context
    def handler(event, context):
        logger.set_correlation_id(event["task"])
        logger.append_keys(task_id=event["task"])
        both_set.wait()  # each thread has set its keys before either logs
        logger.info("working")
        both_set.wait()

    try:
        threads = [threading.Thread(target=handler, args=({"task": task}, _context(task))) for task in ("t-1", "t-2")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        logger.info("between requests")
    finally:
        logger._logger.removeHandler(lines)
    working = [line for line in lines.lines if line["message"] == "working"]
    assert sorted((line["task_id"], line["correlation_id"], line["function_name"]) for line in working) == [
        ("t-1", "t-1", "t-1"), ("t-2", "t-2", "t-2")]
    (after,) = [line for line in lines.lines if line["message"] == "between requests"]
    assert "task_id" not in after  # keys end with their request
