"""POST /api/v1/upscale/combo: queue a remove-background-then-enhance job for an uploaded image."""
from imgapi import combo
from imgapi.http_api import authenticate, create_resolver, json_response, lambda_entry

app = create_resolver()


@app.post("/api/v1/upscale/combo")
def submit_combo():
    owner = authenticate(app.current_event)
    return json_response(202, combo.submit(owner, app.current_event.raw_event))


handler = lambda_entry(app)
