"""The DashScope worker (zip): runs queued change_bg, change_cloth, expand and fix jobs on DashScope."""
from imgapi.batch import sqs_batch_entry
from imgapi.dashscope_worker import handle_record

handler = sqs_batch_entry(handle_record)
