"""Reading request bodies: multipart forms (files), urlencoded forms and JSON, as API Gateway delivers them."""
from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from requests_toolbelt.multipart.decoder import (
    ImproperBodyPartContentException,
    MultipartDecoder,
    NonMultipartContentTypeException,
)

from imgapi.core.errors import BadRequest, PayloadTooLarge

MAX_JSON_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255


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


def _param(header: bytes, name: str) -> str | None:
    # Content-Disposition: form-data; name="file"; filename="a.jpg" (or RFC 5987's filename*=UTF-8''%D1%84.jpg,
    # which wins when both are given). None when the parameter is absent.
    plain = extended = None
    for part in header.decode("utf-8", "replace").split(";"):
        key, _, value = part.strip().partition("=")
        key = key.strip().lower()
        if key == name:
            plain = value.strip().strip('"')
        elif key == name + "*":
            charset, _, encoded = value.strip().strip('"').partition("'")
            try:
                extended = unquote(encoded.partition("'")[2], encoding=charset or "utf-8", errors="replace")
            except LookupError:  # an unknown charset: keep the plain name, if any
                pass
    return extended if extended is not None else plain


# Declared types of a file part that no image upload has: markup and script (an HTML page or SVG drawing posing as
# an image). Refused whatever the bytes are; any other declared type is not trusted either way: the bytes decide.
_MARKUP_TYPE = re.compile(r"html|xml|svg|javascript|ecmascript", re.IGNORECASE)


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
        if filename is not None:
            ctype = part.headers.get(b"Content-Type", b"application/octet-stream").decode("latin-1").strip()
            if _MARKUP_TYPE.search(ctype):
                raise BadRequest(f"the file {name} was sent as {ctype[:100]!r}: send a JPEG, PNG or WebP image",
                                 code="bad_content_type")
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


# Numbers in a JSON body must be finite and, if whole, within what every JSON implementation reads exactly (RFC 8259):
# Python reads 1e999 as inf and a 400-digit integer as itself, which no parameter wants and float() cannot convert.
MAX_JSON_INTEGER = 2**53
# Nesting deeper than this is no request of ours (and Python's parser would overflow its stack a little deeper).
MAX_JSON_DEPTH = 32


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of range; send a finite number")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_JSON_INTEGER:
        raise ValueError(f"the integer {text[:40]} is out of range (at most 2^53 in size)")
    return value


def _depth(value, limit: int) -> int:
    """How deeply arrays and objects nest (stops counting past the limit)."""
    stack, deepest = [(value, 1)], 0
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(body: bytes):
    """A JSON body (at most MAX_JSON_BYTES, finite numbers, nesting at most MAX_JSON_DEPTH): 400/413 otherwise."""
    if len(body) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"the JSON body is {len(body)} bytes; at most {MAX_JSON_BYTES}", code="body_too_large")
    try:
        data = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except RecursionError as exc:
        raise BadRequest(f"the JSON body nests too deeply (at most {MAX_JSON_DEPTH} levels)", code="bad_json") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="bad_json") from exc
    if _depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadRequest(f"the JSON body nests too deeply (at most {MAX_JSON_DEPTH} levels)", code="bad_json")
    return data


def closed_object(body, accepted: tuple[str, ...], shape: str) -> dict:
    """A JSON body that must be an object with no fields but `accepted` (a closed body in the API contract): the
    object, or a 400 saying what to send (bad_body) or which fields are not known (bad_parameter)."""
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object: {shape}", code="bad_body")
    unknown = sorted(map(str, set(body) - set(accepted)))
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)[:200]}; accepted: {', '.join(accepted)}",
                         code="bad_parameter")
    return body


def idempotency_key(raw_event: dict) -> str | None:
    """The Idempotency-Key header, if the client sent one (printable, at most 255 characters)."""
    headers = {k.lower(): v for k, v in (raw_event.get("headers") or {}).items()}
    key = headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise BadRequest(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters", code="bad_idempotency_key")
    return key
