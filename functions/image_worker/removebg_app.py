"""remove.bg's API on imgapi (POST /v1.0/removebg, GET /v1.0/account): the image worker's image, a second handler.
Synchronous: the cut-out is made within the request (api/removebg.py)."""
from imgapi.engine import cutout

cutout.preload_default()  # the model loads while the imports below run (onnxruntime releases the GIL)

from imgapi.api.http_api import lambda_entry  # noqa: E402
from imgapi.api.removebg import removebg_api  # noqa: E402

app = removebg_api()
handler = lambda_entry(app)
