"""The image worker (container image): runs queued combo, remove_bg and local change_bg, expand and fix jobs."""
from imgapi.batch import sqs_batch_entry
from imgapi.worker import handle_record

handler = sqs_batch_entry(handle_record)
