"""Powertools Logger, Tracer and Metrics: one instance of each per process.

The service name comes from POWERTOOLS_SERVICE_NAME, which template.yaml sets per function.
"""
from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="imgapi")

from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: E402
from aws_lambda_powertools.metrics.functions import is_metrics_disabled  # noqa: E402


def job_metric(name: str, operation: str, engine: str, value: float = 1, unit: str = MetricUnit.Count) -> None:
    """One metric with its own `operation` and `engine` dimensions (a batch may mix them, so no shared dimensions)."""
    if is_metrics_disabled():  # single_metric does not check POWERTOOLS_METRICS_DISABLED itself
        return
    with single_metric(name=name, unit=unit, value=value, namespace="imgapi") as metric:
        metric.add_dimension(name="operation", value=operation)
        metric.add_dimension(name="engine", value=engine)
