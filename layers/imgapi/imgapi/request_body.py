"""Reading request bodies: multipart forms (files), urlencoded forms and JSON, as API Gateway delivers them."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from requests_toolbelt.multipart.decoder import (
    ImproperBodyPartContentException,
    MultipartDecoder,
    NonMultipartContentTypeException,
)

from .errors import BadRequest

MAX_JSON_BYTES = 1024 * 1024


@dataclass
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)


def raw_body(event) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body)
        except ValueError as exc:
            raise BadRequest("the request body is not valid base64") from exc
    return body.encode("utf-8") if isinstance(body, str) else body


def _content_type(event) -> str:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return headers.get("content-type", "")


def _param(header: bytes, name: str) -> str:
    # Content-Disposition: form-data; name="file"; filename="a.jpg"
    for part in header.decode("utf-8", "replace").split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == name:
            return value.strip().strip('"')
    return ""


def parse_multipart(body: bytes, content_type: str) -> Form:
    if "boundary=" not in content_type.lower():
        raise BadRequest("the multipart content type has no boundary")
    try:
        decoder = MultipartDecoder(body, content_type)
    except (NonMultipartContentTypeException, ImproperBodyPartContentException, ValueError) as exc:
        raise BadRequest("the multipart body could not be read: " + str(exc)) from exc
    form = Form()
    for part in decoder.parts:
        disposition = part.headers.get(b"Content-Disposition", b"")
        name = _param(disposition, "name")
        if not name:
            continue
        filename = _param(disposition, "filename")
        if filename or b"filename=" in disposition:
            ctype = part.headers.get(b"Content-Type", b"application/octet-stream").decode("latin-1")
            form.files[name] = UploadedFile(filename=filename, content_type=ctype, data=part.content)
        else:
            form.fields[name] = part.content.decode("utf-8", "replace")
    return form


def parse_form(event) -> Form:
    """Fields and files of a multipart, urlencoded or JSON body (an empty body is an empty form)."""
    ctype = _content_type(event)
    body = raw_body(event)
    lowered = ctype.lower()
    if not body:
        return Form()
    if lowered.startswith("multipart/form-data"):
        return parse_multipart(body, ctype)
    if lowered.startswith("application/x-www-form-urlencoded"):
        return Form(fields=dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
    if lowered.startswith("application/json"):
        data = parse_json(body)
        if not isinstance(data, dict):
            raise BadRequest("the JSON body must be an object")
        return Form(fields={k: v for k, v in data.items()})
    raise BadRequest(f"unsupported content type {ctype!r}: send multipart/form-data, a urlencoded form or JSON")


def parse_json(body: bytes):
    if len(body) > MAX_JSON_BYTES:
        raise BadRequest(f"the JSON body is larger than {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc


MAX_IDEMPOTENCY_KEY = 255


def idempotency_key(raw_event: dict) -> str | None:
    """The Idempotency-Key header, if the client sent one (printable, at most 255 characters)."""
    headers = {k.lower(): v for k, v in (raw_event.get("headers") or {}).items()}
    key = headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise BadRequest(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters", code="bad_idempotency_key")
    return key
