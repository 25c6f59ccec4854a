"""Following jobs: any job (GET /api/v1/jobs/{task_id}) and the list of one's jobs; the combo status and result
routes; the health check."""
from aws_lambda_powertools.event_handler import Response

from imgapi import combo, job_views
from imgapi.http_api import authenticate, create_resolver, json_response, lambda_entry
from imgapi.jobs import get_owned_job

app = create_resolver()


@app.get("/api/v1/health")
def health():
    return json_response(200, {"status": "ok"})


@app.get("/api/v1/upscale/status/<task_id>")
def combo_status(task_id: str):
    job = get_owned_job(task_id, authenticate(app.current_event))
    return json_response(200, combo.status_body(job))


@app.get("/api/v1/upscale/result/<task_id>")
def combo_result(task_id: str):
    job = get_owned_job(task_id, authenticate(app.current_event))
    result, data, url = combo.result_of(job)
    if data is not None:
        return Response(status_code=200, content_type=result["content_type"], body=data,
                        headers={"Content-Disposition": f'attachment; filename="{task_id}.{result["key"].rsplit(".", 1)[-1]}"'})
    return Response(status_code=307, body="", headers={"Location": url})


@app.get("/api/v1/jobs")
def list_jobs():
    owner = authenticate(app.current_event)
    return json_response(200, job_views.list_view(owner, app.current_event.query_string_parameters or {}))


@app.get("/api/v1/jobs/<task_id>")
def get_job(task_id: str):
    job = get_owned_job(task_id, authenticate(app.current_event))
    return json_response(200, job_views.job_view(job))


handler = lambda_entry(app)
