"""Saved background-removal configurations: create, list, read, delete (owner only). Routes are registered through
the API contract (api.routes), which authenticates and checks config_id."""
from aws_lambda_powertools.event_handler import Response

from imgapi.jobs import removal_configs
from imgapi.api.routes import Request, route
from imgapi.api.http_api import create_resolver, json_response, lambda_entry
from imgapi.core.request_body import parse_json, raw_body

app = create_resolver()


@route(app, "POST /api/v1/configs")
def create_config(request: Request):
    data = parse_json(raw_body(request.event) or b"{}")
    return json_response(201, removal_configs.save_config(request.owner, data))


@route(app, "GET /api/v1/configs")
def list_configs(request: Request):
    return json_response(200, {"configs": removal_configs.list_configs(request.owner)})


@route(app, "GET /api/v1/configs/{config_id}")
def get_config(request: Request):
    return json_response(200, removal_configs.get_config(request.owner, request.path["config_id"]))


@route(app, "DELETE /api/v1/configs/{config_id}")
def delete_config(request: Request):
    removal_configs.delete_config(request.owner, request.path["config_id"])
    return Response(status_code=204, body="")


handler = lambda_entry(app)
