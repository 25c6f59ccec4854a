"""Saved background-removal configurations: create, list, read, delete (owner only)."""
from aws_lambda_powertools.event_handler import Response

from imgapi import removal_configs
from imgapi.http_api import authenticate, create_resolver, json_response, lambda_entry
from imgapi.request_body import parse_json, raw_body

app = create_resolver()


@app.post("/api/v1/configs")
def create_config():
    owner = authenticate(app.current_event)
    data = parse_json(raw_body(app.current_event.raw_event) or b"{}")
    return json_response(201, removal_configs.save_config(owner, data))


@app.get("/api/v1/configs")
def list_configs():
    return json_response(200, {"configs": removal_configs.list_configs(authenticate(app.current_event))})


@app.get("/api/v1/configs/<config_id>")
def get_config(config_id: str):
    return json_response(200, removal_configs.get_config(authenticate(app.current_event), config_id))


@app.delete("/api/v1/configs/<config_id>")
def delete_config(config_id: str):
    removal_configs.delete_config(authenticate(app.current_event), config_id)
    return Response(status_code=204, body="")


handler = lambda_entry(app)
