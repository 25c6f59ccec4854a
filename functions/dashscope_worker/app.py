"""The DashScope worker (zip): runs queued change_bg, change_cloth, expand and fix jobs on DashScope."""
from imgapi.core.batch import sqs_batch_entry
from imgapi.dashscope.worker import handle_record

handler = sqs_batch_entry(handle_record)
