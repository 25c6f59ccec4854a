"""The Lambda entry point of a queue worker: Powertools batch processing with partial batch responses."""
from __future__ import annotations

from typing import Any, Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from imgapi.core.observability import logger, metrics, tracer


def sqs_batch_entry(record_handler: Callable[[SQSRecord], None]) -> Callable[[dict, Any], dict]:
    # A wholly failed batch is reported item by item too, rather than as a Lambda error.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict, context: Any) -> dict:
        # Failed records are reported back (ReportBatchItemFailures) so only they are redelivered.
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

    return handler
