"""POST /api/v1/login: username and password in, a bearer token out."""
from imgapi.http_api import create_resolver, json_response, lambda_entry
from imgapi.login import login

app = create_resolver()


@app.post("/api/v1/login")
def post_login():
    return json_response(200, login(app.current_event.raw_event))


handler = lambda_entry(app)
