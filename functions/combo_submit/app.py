"""POST /api/v1/upscale/combo: queue a remove-background-then-enhance job for an uploaded image."""
from imgapi.api import combo
from imgapi.api.routes import Request, route
from imgapi.api.http_api import create_resolver, json_response, lambda_entry

app = create_resolver()


@route(app, "POST /api/v1/upscale/combo")
def submit_combo(request: Request):
    return json_response(202, combo.submit(request.owner, request.event))


handler = lambda_entry(app)
