"""remove.bg's API on imgapi (POST /v1.0/removebg, GET /v1.0/account): the image worker's image, a second handler.
Synchronous: the cut-out is made within the request (api/removebg.py)."""
from imgapi.api.http_api import lambda_entry
from imgapi.api.removebg import removebg_api

app = removebg_api()
handler = lambda_entry(app)
