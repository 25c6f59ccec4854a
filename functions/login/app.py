"""POST /api/v1/login: username and password in, a bearer token out."""
from imgapi.api.routes import Request, route
from imgapi.api.http_api import create_resolver, json_response, lambda_entry
from imgapi.auth.login import login

app = create_resolver()


@route(app, "POST /api/v1/login")
def post_login(request: Request):
    return json_response(200, login(request.event))


handler = lambda_entry(app)
