"""The webhook delivery function: POSTs each queued job event to its webhook URL, signed; retries on the schedule,
then the dead-letter queue (imgapi.jobs.webhook_delivery)."""
from imgapi.core.batch import sqs_batch_entry
from imgapi.jobs.webhook_delivery import handle_record

handler = sqs_batch_entry(handle_record)
