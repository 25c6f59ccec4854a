"""POST /api/v1/login: username and password in, a bearer token out. And the account's own routes: logging out
everywhere and changing the password (both revoke earlier tokens)."""
from aws_lambda_powertools.event_handler import Response

from imgapi.api.routes import Request, route
from imgapi.api.http_api import create_resolver, json_response, lambda_entry
from imgapi.auth import account
from imgapi.auth.login import login

app = create_resolver()


@route(app, "POST /api/v1/login")
def post_login(request: Request):
    return json_response(200, login(request.event))


@route(app, "POST /api/v1/auth/logout-all")
def logout_all(request: Request):
    account.logout_everywhere(request.owner)
    return Response(status_code=204, body="")


@route(app, "POST /api/v1/auth/password")
def change_password(request: Request):
    account.change_password(request.owner, request.event)
    return Response(status_code=204, body="")


handler = lambda_entry(app)
