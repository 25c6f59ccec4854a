"""The image worker (container image): runs queued combo and remove_bg jobs with rembg."""
from imgapi.batch import sqs_batch_entry
from imgapi.worker import handle_record

handler = sqs_batch_entry(handle_record)
