"""Powertools Logger, Tracer and Metrics: one instance of each per process.

The service name comes from POWERTOOLS_SERVICE_NAME, which template.yaml sets per function.
"""
import functools

from aws_lambda_powertools import Logger, Metrics


class RequestLogger(Logger):
    """Keys (correlation id, task_id, the Lambda context) belong to the request being handled, not the process.

    Powertools' append_keys is global per logger: under `make dev` (many requests on threads) a log line carried
    another thread's task_id. Here every key goes to Powertools' thread-safe (per thread) keys, and each handler
    invocation starts with none (a thread pool reuses threads)."""

    def append_keys(self, **additional_keys: object) -> None:
        self.thread_safe_append_keys(**additional_keys)

    def remove_keys(self, keys) -> None:
        self.thread_safe_remove_keys(keys)

    def get_current_keys(self) -> dict:
        return {**super().get_current_keys(), **self.thread_safe_get_current_keys()}

    def get_correlation_id(self) -> str | None:
        return self.thread_safe_get_current_keys().get("correlation_id") or super().get_correlation_id()

    def inject_lambda_context(self, lambda_handler=None, **options):
        if lambda_handler is None:
            return functools.partial(self.inject_lambda_context, **options)
        inner = super().inject_lambda_context(lambda_handler, **options)

        @functools.wraps(lambda_handler)
        def fresh_keys(*args, **kwargs):
            self.thread_safe_clear_keys()
            try:
                return inner(*args, **kwargs)
            finally:
                self.thread_safe_clear_keys()

        return fresh_keys


logger = RequestLogger()
metrics = Metrics(namespace="imgapi")


def __getattr__(name: str):
    # The Tracer loads the X-Ray SDK and botocore (about 0.3 s). Only handlers trace, so it is made on first
    # use: importing the image engine, which only logs, does not load it (the worker's handler still does).
    if name == "tracer":
        from aws_lambda_powertools import Tracer

        globals()["tracer"] = tracer = Tracer()
        return tracer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: E402
from aws_lambda_powertools.metrics.functions import is_metrics_disabled  # noqa: E402


def job_metric(name: str, operation: str, engine: str, value: float = 1, unit: str = MetricUnit.Count) -> None:
    """One metric with its own `operation` and `engine` dimensions (a batch may mix them, so no shared dimensions)."""
    if is_metrics_disabled():  # single_metric does not check POWERTOOLS_METRICS_DISABLED itself
        return
    with single_metric(name=name, unit=unit, value=value, namespace="imgapi") as metric:
        metric.add_dimension(name="operation", value=operation)
        metric.add_dimension(name="engine", value=engine)
