"""remove.bg's public API on imgapi: POST /v1.0/removebg and GET /v1.0/account, as remove.bg documents them, so a
remove.bg client pointed at our base URL works unchanged (docs/api.md, "Coming from remove.bg").

Synchronous: the cut-out is made in the request, on the image worker's image (functions/image_worker/removebg_app.py).
One call is one unit of the caller's quotas (jobs/quotas, as a submit is): a refused request charges nothing, and
a call that fails after being charged gives its charge back. Answers and errors are remove.bg's shapes:
{"errors": [{"title", "code", "detail"}]}, 403 for a missing or bad key, 402 for the daily quota spent, 429 with
Retry-After for the rate. The parameters are declared in api/removebg_fields (with remove.bg's codes) and read by
core/output_spec, as the native API's output options are; engine/output_options renders them.
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from imgapi.api import removebg_fields as fields
from imgapi.api.http_api import create_resolver
from imgapi.api.routes import Request, route
from imgapi.core import output_spec
from imgapi.core.errors import ApiError, BadRequest, JobFailure
from imgapi.core.observability import logger
from imgapi.core.output_spec import OutputOptions
from imgapi.core.parameters import Param
from imgapi.core.request_body import Form, parse_form
from imgapi.core.settings import get_settings
from imgapi.jobs import quotas

# A person is cut out best by a human-segmentation model, where the deployment has one (RembgModels).
TYPE_MODELS = {"person": ("u2net_human_seg", "birefnet-portrait")}
UNLIMITED_CREDITS = 999999  # what /v1.0/account reports when the deployment sets no daily quota (JobsPerDay 0)
# A Lambda response is at most 6 MB, base64 inflates by 4/3, the JSON answer's result_b64 too: a result over this is
# resampled to fewer pixels and encoded again (engine/output_options, OutputOptions.max_bytes; the cut-out is made
# once) so every client gets a body (none of remove.bg's follows a POST redirect). Documented in docs/api.md.
MAX_RESULT_BYTES = 4_400_000
JSON_TYPE = "application/json; charset=utf-8"

# remove.bg's titles for its codes (its OpenAPI examples); other invalid_<name> codes read "Invalid <name> parameter
# given", and our own message, when it says more, is the detail.
TITLES = {"invalid_size": "Invalid value for parameter 'size'", "invalid_channels": "Invalid value for parameter 'channels'",
          "invalid_image_url": "Invalid image_url: Please provide a valid URL.",
          "invalid_bg_image_url": "Invalid bg_image_url: Please provide a valid URL.",
          "failed_to_read_image": "There was an error reading the image.", "file_too_large": "File too large",
          "resolution_too_high": "Image resolution too high", "missing_source": "No image given"}


def error_answer(status: int, title: str, code: str | None = None, detail: str | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    """An answer in remove.bg's error shape: {"errors": [{"title", "code", "detail"}]}."""
    error = {"title": title, **({"code": code} if code else {}), **({"detail": detail} if detail else {})}
    return Response(status_code=status, content_type=JSON_TYPE, body=json.dumps({"errors": [error]}),
                    headers=headers or {})


def remove_bg_error(exc: ApiError) -> Response:
    """Our errors in remove.bg's shape and statuses (the resolver's renderer: http_api.create_resolver)."""
    if exc.status == 401:
        missing = exc.code == "missing_token"
        return error_answer(403, "Missing API Key" if missing else "API Key invalid", "auth_failed",
                            None if missing else exc.message)
    if exc.status == 429:
        if exc.code == "quota_exceeded":
            return error_answer(402, "Insufficient credits", "insufficient_credits", exc.message)
        return error_answer(429, "Rate limit exceeded", "rate_limit_exceeded", exc.message, exc.headers)
    if exc.status >= 500 or exc.status == 404:
        return error_answer(exc.status, exc.message, exc.code, None, exc.headers)
    code = "file_too_large" if exc.status == 413 else {
        "too_many_pixels": "resolution_too_high", "unsupported_image": "failed_to_read_image",
        "corrupt_image": "failed_to_read_image", "empty_file": "failed_to_read_image",
        "animated_image": "failed_to_read_image"}.get(exc.code, exc.code)
    name = code.removeprefix("invalid_")
    title = TITLES.get(code) or (f"Invalid {name} parameter given" if code.startswith("invalid_") else exc.message)
    return error_answer(400, title, code, exc.message if exc.message != title else None)


# -- reading the request --------------------------------------------------------------------------------------------


def _field(form: Form, name: str) -> Any:
    value = form.fields.get(name)
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _file(form: Form, name: str) -> bytes | None:
    uploaded = form.files.get(name)
    return uploaded.data if uploaded is not None and uploaded.data else None


def _checked(form: Form, param: Param) -> Any:
    """A field checked by its declaration (remove.bg's code when refused), or its default: the text itself for a
    text option (core/output_spec parses it again into the options), else the value read (a bool, an enum's)."""
    given = _field(form, param.name)
    value = given if given is not None else param.default
    read = None if value is None else param.read(value, text=True)  # text: JSON bodies may send "true" too
    return value if param.reader is not None else read


def options_from(form: Form) -> tuple[OutputOptions, str]:
    """The output options and the type from the request's fields; BadRequest with remove.bg's code."""
    kind = _checked(form, fields.TYPE)
    for flag in (fields.TYPE_LEVEL, fields.SEMITRANSPARENCY, fields.ADD_SHADOW):
        _checked(form, flag)  # accepted and checked; see removebg_fields for what they do here
    backgrounds = [name for name in ("bg_color", "bg_image_url") if _field(form, name) is not None]
    if _file(form, "bg_image_file") is not None:
        backgrounds.append("bg_image_file")
    if len(backgrounds) > 1:
        raise BadRequest("Multiple background sources given: Please provide either the bg_color, the bg_image_url "
                         "or the bg_image_file parameter.", code="multiple_bg_sources")
    values = {param.name: _checked(form, param) for param in fields.OPTIONS}
    return output_spec.options(values, require_foreground=True, max_bytes=MAX_RESULT_BYTES), kind


def source_image(form: Form) -> bytes:
    """The one image source's bytes, checked as every input is."""
    from imgapi.imagefiles.image_input import inspect_image
    from imgapi.imagefiles.remote_images import ImageUnavailable, download_image

    settings = get_settings()
    upload, url = _file(form, "image_file"), _field(form, "image_url")
    encoded = {name: _field(form, name) for name in ("image_file_b64", "image_base64")}  # removebgplus: the latter
    b64_name, b64 = next(((name, value) for name, value in encoded.items() if value is not None), (None, None))
    given = [s for s in (upload, *encoded.values(), url) if s is not None]
    if not given:
        raise BadRequest("No image given", code="missing_source")
    if len(given) > 1:
        raise BadRequest("Multiple image sources given: Please provide either the image_url, image_file or "
                         "image_file_b64 parameter.", code="multiple_sources")
    if url is not None:
        url = fields.IMAGE_URL.read(url, text=True)
        try:
            return download_image(url, what="image_url", max_bytes=settings.max_upload_bytes,
                                  max_pixels=settings.max_input_pixels)[0]
        except (JobFailure, ImageUnavailable) as exc:
            raise BadRequest(f"Failed to download image from given image_url: {exc}",
                             code="failed_image_download") from exc
    if b64 is not None:
        if not isinstance(b64, str):
            raise BadRequest(f"{b64_name} must be a base64 string", code="failed_to_read_image")
        text = b64.split(",", 1)[1] if b64.startswith("data:") else b64
        if len(text) > settings.max_upload_bytes * 4 // 3 + 4:
            raise BadRequest("File too large", code="file_too_large")
        try:
            upload = base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("There was an error reading the image.", code="failed_to_read_image") from exc
    inspect_image(upload, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_input_pixels)
    return upload


def background_image(form: Form):
    """The background image as an RGB array, or None."""
    from imgapi.engine.pipeline import apply_background_colour, decode
    from imgapi.imagefiles.remote_images import ImageUnavailable, download_image
    import numpy as np

    settings = get_settings()
    data, url = _file(form, "bg_image_file"), _field(form, "bg_image_url")
    if url is not None:
        url = fields.BG_IMAGE_URL.read(url, text=True)
        try:
            data = download_image(url, what="bg_image_url", max_bytes=settings.max_upload_bytes,
                                  max_pixels=settings.max_input_pixels)[0]
        except (JobFailure, ImageUnavailable) as exc:
            raise BadRequest(f"Failed to download background image from given image_url: {exc}",
                             code="failed_bg_download") from exc
    if data is None:
        return None
    try:
        image, alpha = decode(data)
    except JobFailure as exc:
        raise BadRequest(f"There was an error reading the background image: {exc}",
                         code="failed_to_read_image") from exc
    rgb = np.asarray(image)
    return apply_background_colour(rgb, alpha, (255, 255, 255, 255))[0] if alpha is not None else rgb


def _model(kind: str) -> str:
    settings = get_settings()
    for model in TYPE_MODELS.get(kind, ()):
        if model in settings.rembg_models:
            return model
    return settings.default_rembg_model


# -- usage: jobs/quotas' counters, the sliding minute and the UTC day -------------------------------------------------


def rate_headers(charge: quotas.Charge, now: float) -> dict[str, str]:
    """X-RateLimit-*: the sliding minute of jobs/quotas (SubmitsPerMinute) as this call's admission left it (no
    second read), its remaining calls and when it frees one."""
    limit = get_settings().submits_per_minute
    if charge.window is None:  # no limit configured
        return {"X-RateLimit-Limit": str(UNLIMITED_CREDITS), "X-RateLimit-Remaining": str(UNLIMITED_CREDITS),
                "X-RateLimit-Reset": str(int(now) + quotas.MINUTE)}
    used, frees_at = charge.window
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": str(int(frees_at) + 1)}


def account(owner: str, now: float | None = None) -> dict:
    """remove.bg's account shape, exactly its keys: the credits are what is left of today's quota (JobsPerDay)."""
    now = time.time() if now is None else now
    limit = get_settings().jobs_per_day
    used = quotas.used_today(owner, now=now) if limit and get_settings().usage_table else 0
    left = max(0, limit - used) if limit else UNLIMITED_CREDITS
    return {"data": {"attributes": {
        "credits": {"total": float(left), "subscription": float(left), "payg": 0.0, "enterprise": 0.0},
        "api": {"free_calls": int(left), "sizes": "all"}}}}


# -- the call --------------------------------------------------------------------------------------------------------


def remove_background(owner: str, event: dict) -> Response:
    from imgapi.engine.cutout_settings import RemovalConfig
    from imgapi.engine.pipeline import run_remove_bg

    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    form = parse_form(event)
    options, kind = options_from(form)
    data = source_image(form)
    background = background_image(form)
    now = time.time()
    charge = quotas.admit_job(owner, now=now)  # 429 rate_limited / quota_exceeded: no work done, nothing charged
    try:
        config = RemovalConfig(model=_model(kind))
        # Over MAX_RESULT_BYTES (options.max_bytes), the result is resampled and encoded again until it fits.
        output = run_remove_bg(data, config, options=options, background=background)
    except JobFailure as exc:
        quotas.refund(charge)
        raise BadRequest("There was an error reading the image.", code="failed_to_read_image") from exc
    except Exception:
        quotas.refund(charge)
        raise
    logger.info("removebg call", extra={"owner": owner, "width": output.width, "height": output.height,
                                        "format": output.extension, "credits": 1})
    fg = output.foreground
    answer_headers = {"X-Width": str(output.width), "X-Height": str(output.height), "X-Credits-Charged": "1",
                      "X-Foreground-Top": str(fg.top), "X-Foreground-Left": str(fg.left),
                      "X-Foreground-Width": str(fg.width), "X-Foreground-Height": str(fg.height),
                      **rate_headers(charge, now)}
    if str(_field(form, "type_level") or "1").lower() != "none":
        answer_headers["X-Type"] = "other" if kind == "auto" else ("graphics" if kind == "graphic" else kind)
    if "application/json" in headers.get("accept", "").lower():
        body = {"data": {"result_b64": base64.b64encode(output.data).decode("ascii"), "foreground_top": fg.top,
                         "foreground_left": fg.left, "foreground_width": fg.width, "foreground_height": fg.height}}
        return Response(status_code=200, content_type="application/json", body=json.dumps(body),
                        headers=answer_headers)
    return Response(status_code=200, content_type=output.content_type, body=output.data, headers=answer_headers)


def removebg_api() -> APIGatewayHttpResolver:
    """The remove.bg routes' resolver: every error in remove.bg's shape (a bad key is 403 auth_failed)."""
    app = create_resolver(remove_bg_error)

    @route(app, "POST /v1.0/removebg")
    def removebg(request: Request) -> Response:
        return remove_background(request.owner, request.event)

    @route(app, "GET /v1.0/account")
    def account_route(request: Request) -> Response:
        return Response(status_code=200, content_type=JSON_TYPE, body=json.dumps(account(request.owner)))

    return app
