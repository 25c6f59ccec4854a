"""S3 ObjectCreated under inbox/ (batch folders) and incoming/ (direct uploads): each image starts its job, once per S3 event."""
import os
from functools import lru_cache

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

from imgapi.jobs.ingest import ingest_object
from imgapi.core.observability import logger, metrics, tracer

# S3 may deliver an event more than once; the same bucket, key and sequencer is the same upload.
config = IdempotencyConfig(event_key_jmespath="[s3.bucket.name, s3.object.key, s3.object.sequencer]",
                           expires_after_seconds=7 * 24 * 3600)


def ingest_record(record: dict) -> dict:
    obj = record["s3"]["object"]
    job = ingest_object(record["s3"]["bucket"]["name"], obj["key"], obj.get("sequencer", ""), int(obj.get("size", 0)))
    return {"task_id": job["task_id"] if job else None}


@lru_cache(maxsize=1)
def idempotent_ingest():
    # Built on first use, not at import: the table comes from the environment the function runs with.
    persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
    return idempotent_function(data_keyword_argument="record", persistence_store=persistence, config=config)(ingest_record)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    config.register_lambda_context(context)
    results = [idempotent_ingest()(record=record.raw_event) for record in S3Event(event).records]
    return {"tasks": [r["task_id"] for r in results]}
