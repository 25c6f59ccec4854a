"""API keys: create (the key shown once), list (never the keys), revoke (owner only). Routes are registered through
the API contract (api.routes), which authenticates and checks key_id."""
from aws_lambda_powertools.event_handler import Response

from imgapi.auth import api_keys
from imgapi.api.routes import Request, route
from imgapi.api.http_api import create_resolver, json_response, lambda_entry
from imgapi.core.request_body import parse_json, raw_body

app = create_resolver()


@route(app, "POST /api/v1/api-keys")
def create_key(request: Request):
    return json_response(201, api_keys.create_key(request.owner, parse_json(raw_body(request.event) or b"{}")))


@route(app, "GET /api/v1/api-keys")
def list_keys(request: Request):
    return json_response(200, {"keys": api_keys.list_keys(request.owner)})


@route(app, "DELETE /api/v1/api-keys/{key_id}")
def revoke_key(request: Request):
    api_keys.revoke_key(request.owner, request.path["key_id"])
    return Response(status_code=204, body="")


handler = lambda_entry(app)
