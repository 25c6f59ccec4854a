"""POST /api/v1/uploads: a presigned S3 POST for one image, however large; the upload itself starts the job."""
from imgapi.jobs import uploads
from imgapi.api.routes import Request, route
from imgapi.api.http_api import create_resolver, json_response, lambda_entry
from imgapi.core.request_body import idempotency_key, parse_json, raw_body

app = create_resolver()


@route(app, "POST /api/v1/uploads")
def create_upload(request: Request):
    event = request.event
    created, body = uploads.create_upload(request.owner, parse_json(raw_body(event) or b"{}"),
                                          idempotency_key=idempotency_key(event))
    return json_response(201 if created else 200, body)


handler = lambda_entry(app)
