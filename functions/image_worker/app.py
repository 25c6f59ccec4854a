"""The image worker (container image): runs queued combo, remove_bg and local change_bg, expand and fix jobs."""
from imgapi.engine import cutout

cutout.preload_default()  # the model loads while the imports below run (onnxruntime releases the GIL)

from imgapi.core.batch import sqs_batch_entry  # noqa: E402
from imgapi.jobs.worker import handle_record  # noqa: E402

handler = sqs_batch_entry(handle_record)
