"""The image worker (container image): runs queued combo, remove_bg and local change_bg, expand and fix jobs."""
from imgapi.core.batch import sqs_batch_entry
from imgapi.jobs.worker import handle_record

handler = sqs_batch_entry(handle_record)
