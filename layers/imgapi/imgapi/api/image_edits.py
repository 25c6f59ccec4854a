"""The first API's routes (POST /change_bg, /change_cloth, /expand, /fix, /remove_bg) as jobs.

Each route is its own function; all of them are this one resolver, made for its operation:
authenticate, read the seed's JSON body (or a multipart form with uploaded images), check it,
submit the job (all or nothing), and answer 202 with the job, or, with `wait`, the finished job.
"""
from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from imgapi.jobs import job_views

from imgapi.jobs import lifecycle
from imgapi.api.routes import Request, route
from imgapi.core.errors import BadRequest, ServiceUnavailable
from imgapi.api.http_api import create_resolver, json_response
from imgapi.imagefiles.image_input import ImageInfo, inspect_image
from imgapi.jobs.job_params import ENGINE, MAX_WAIT_SECONDS, WAIT, WEBHOOK_URL
from imgapi.jobs.operations import DASHSCOPE, IMAGE_EDITS, LOCAL, ImageEdit, check_local_params
from imgapi.core.parameters import Values
from imgapi.core.request_body import Form, idempotency_key, parse_form
from imgapi.core.settings import get_settings
from imgapi.jobs.submission import submit_job, webhook_target

# A waiting request gives back this much of the function's time for answering.
WAIT_MARGIN_SECONDS = 2.0
# Seed clients read DashScope's task_status.
SEED_TASK_STATUS = {lifecycle.PENDING: "PENDING", lifecycle.PROCESSING: "RUNNING", lifecycle.COMPLETED: "SUCCEEDED", lifecycle.FAILED: "FAILED",
                   lifecycle.CANCELLED: "CANCELED"}


def _engine(edit: ImageEdit, requested: str | None) -> str:
    """The engine that runs the job. A request may name it (`engine`: local | dashscope, checked already); without
    one, DashScope where it is configured and can run the operation, else the local engine."""
    configured = get_settings().dashscope.configured
    if requested is None:
        requested = DASHSCOPE if (DASHSCOPE in edit.engines and configured) or LOCAL not in edit.engines else LOCAL
    elif requested not in edit.engines:
        why = "virtual try-on needs a generative model" if edit.name == "change_cloth" else \
            f"it runs on {edit.engines[0]}"
        raise BadRequest(f"{edit.name} has no {requested} engine ({why}); use engine={edit.engines[0]} or leave "
                         "engine out", code="bad_engine")
    if requested == DASHSCOPE and not configured:
        local = f"; or use engine=local, which runs {edit.name} on our own worker" if LOCAL in edit.engines else ""
        raise ServiceUnavailable(
            f"{edit.name} on DashScope needs DashScope, which is not configured here: set DASHSCOPE_API_KEY (or deploy "
            f"with the stack parameter DashScopeApiKeySecretArn naming a Secrets Manager secret that holds the key)"
            + local, code="engine_unavailable")
    return requested


def _uploads(edit: ImageEdit, form: Form) -> dict[str, tuple[bytes, ImageInfo]]:
    """Uploaded images, by the URL field they stand for: a file under `base_image` (or `base_image_url`)."""
    settings = get_settings()
    found: dict[str, tuple[bytes, ImageInfo]] = {}
    for field in edit.image_fields:
        names = [name for name in (field.removesuffix("_url"), field) if name in form.files]
        if len(names) > 1:
            raise BadRequest(f"upload {field.removesuffix('_url')} once", code="bad_parameter")
        if names:
            data = form.files[names[0]].data
            try:
                info = inspect_image(data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_input_pixels)
            except BadRequest as exc:
                raise BadRequest(f"{names[0]}: {exc.message}", code=exc.code) from exc
            found[field] = (data, info)
    unknown = sorted(set(form.files) - {n for f in edit.image_fields for n in (f, f.removesuffix("_url"))})
    if unknown:
        raise BadRequest(f"unexpected file field(s) {', '.join(unknown)}; {edit.name} takes "
                         f"{', '.join(f.removesuffix('_url') for f in edit.image_fields)}", code="bad_parameter")
    return found


def seed_view(job: dict) -> dict:
    """The job view plus what the first API's clients read: DashScope's task_status, and image_url for try-on."""
    view = job_views.job_view(job)
    view["task_status"] = SEED_TASK_STATUS.get(view["status"], view["status"].upper())
    if job["operation"] == "change_cloth" and view["results"]:
        view["image_url"] = view["results"][0]["url"]
    return view


def submit(operation: str, request: Request, *, time_left: float) -> tuple[int, dict]:
    """Submit one image edit; (status, body). 202 and the job; 200 and the finished job when `wait` sufficed.
    `wait` and `engine` may be in the query string (checked by the route) or the body; the query's wait and the
    body's engine win where both are given."""
    edit = IMAGE_EDITS[operation]
    owner, raw_event = request.owner, request.event
    form = parse_form(raw_event)
    body = Values(form.fields, text=request.body_is_text)
    wait = request.query[WAIT.name] if WAIT.name in request.given else body.read(WAIT)
    engine = _engine(edit, body.read(ENGINE) if body.given(ENGINE.name) else request.query[ENGINE.name])
    uploads = _uploads(edit, form)
    params = edit.parse(owner, form.fields, frozenset(uploads), text=body.text)
    webhook_url = webhook_target(body.read(WEBHOOK_URL))
    if engine == LOCAL:
        check_local_params(edit, params, frozenset(uploads))
    settings = get_settings()
    queue = settings.dashscope.queue_url if engine == DASHSCOPE else settings.image_queue_url
    # The image worker reads a local job's main image from its input_key, any other uploaded image by its field.
    image = uploads.pop(edit.image_fields[0], None) if engine == LOCAL else None
    job = submit_job(owner=owner, operation=operation, engine=engine, params=params, queue_url=queue,
                     image=image, uploads=uploads or None, idempotency_key=idempotency_key(raw_event),
                     webhook_url=webhook_url)
    wait = min(wait, time_left - WAIT_MARGIN_SECONDS)
    if wait > 0:
        job = job_views.wait_for(job["task_id"], wait) or job
    return (200 if job["status"] in lifecycle.TERMINAL else 202), seed_view(job)


def image_edit_api(operation: str) -> APIGatewayHttpResolver:
    """The resolver of one operation's function (functions/<operation>/app.py)."""
    if operation not in IMAGE_EDITS:
        raise ValueError(f"unknown image edit {operation!r}")
    app = create_resolver()

    @route(app, f"POST /{operation}")
    def submit_edit(request: Request):
        context = request.context
        time_left = context.get_remaining_time_in_millis() / 1000 if context else MAX_WAIT_SECONDS
        status, body = submit(operation, request, time_left=time_left)
        return json_response(status, body)

    return app
