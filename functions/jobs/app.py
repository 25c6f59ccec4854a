"""Following jobs: any job (GET /api/v1/jobs/{task_id}) and the list of one's jobs; the combo status and result
routes; the health check and the OpenAPI document. Routes are registered through the API contract (api.routes)."""
from aws_lambda_powertools.event_handler import Response

from imgapi.api import combo, openapi
from imgapi.jobs import job_views
from imgapi.api.routes import Request, route
from imgapi.api.http_api import create_resolver, json_response, lambda_entry
from imgapi.jobs.lifecycle import cancel_job as cancel_owned_job, get_owned_job

app = create_resolver()


@route(app, "GET /api/v1/health")
def health(request: Request):
    return json_response(200, {"status": "ok"})


@route(app, "GET /api/v1/openapi.json")
def openapi_document(request: Request):
    return Response(status_code=200, content_type="application/json", body=openapi.document_json())


@route(app, "GET /api/v1/upscale/status/{task_id}")
def combo_status(request: Request):
    job = get_owned_job(request.path["task_id"], request.owner)
    return json_response(200, combo.status_body(job))


@route(app, "GET /api/v1/upscale/result/{task_id}")
def combo_result(request: Request):
    result, filename, data, url = combo.result_of(get_owned_job(request.path["task_id"], request.owner))
    if data is not None:
        return Response(status_code=200, content_type=result["content_type"], body=data,
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return Response(status_code=307, body="", headers={"Location": url})


@route(app, "GET /api/v1/jobs")
def list_jobs(request: Request):
    return json_response(200, job_views.list_view(request.owner, **request.query))


@route(app, "GET /api/v1/jobs/{task_id}")
def get_job(request: Request):
    return json_response(200, job_views.job_view(get_owned_job(request.path["task_id"], request.owner)))


@route(app, "DELETE /api/v1/jobs/{task_id}")
def cancel_job(request: Request):
    return json_response(202, job_views.job_view(cancel_owned_job(request.path["task_id"], request.owner)))


handler = lambda_entry(app)
