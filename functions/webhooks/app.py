"""Your webhook settings: the signing secret (made on first use), its rotation, and the default URL of jobs that come
without one (docs/webhooks.md). Routes are registered through the API contract (api.routes)."""
from imgapi.api.http_api import create_resolver, json_response, lambda_entry
from imgapi.api.routes import Request, route
from imgapi.core import webhook_secrets
from imgapi.core.request_body import parse_json, raw_body

app = create_resolver()


@route(app, "GET /api/v1/webhook-secret")
def get_secret(request: Request):
    return json_response(200, webhook_secrets.current(request.owner))


@route(app, "POST /api/v1/webhook-secret/rotate")
def rotate_secret(request: Request):
    return json_response(200, webhook_secrets.rotate(request.owner))


@route(app, "GET /api/v1/webhook-settings")
def get_settings(request: Request):
    return json_response(200, webhook_secrets.settings_view(request.owner))


@route(app, "PUT /api/v1/webhook-settings")
def put_settings(request: Request):
    return json_response(200, webhook_secrets.set_default_url(request.owner, parse_json(raw_body(request.event) or b"{}")))


handler = lambda_entry(app)
