"""POST /api/v1/uploads: a presigned S3 POST for one image, however large; the upload itself starts the job."""
from imgapi import uploads
from imgapi.http_api import authenticate, create_resolver, json_response, lambda_entry
from imgapi.request_body import idempotency_key, parse_json, raw_body

app = create_resolver()


@app.post("/api/v1/uploads")
def create_upload():
    owner = authenticate(app.current_event)
    event = app.current_event.raw_event
    created, body = uploads.create_upload(owner, parse_json(raw_body(event) or b"{}"),
                                          idempotency_key=idempotency_key(event))
    return json_response(201 if created else 200, body)


handler = lambda_entry(app)
