"""S3's POST policy, enforced in front of moto's server: the local stack refuses browser-style uploads as S3 does.

moto stores whatever a presigned POST (boto3's generate_presigned_post) sends, whatever its policy says. S3
itself checks the policy document that travels with the form: its expiration, each condition (exact matches,
starts-with, the content-length-range of the file) and that no form field goes unmentioned, and answers with an
XML error: 400 EntityTooLarge / EntityTooSmall, 403 AccessDenied "Invalid according to Policy: ...". This WSGI
middleware does the same for every multipart POST that carries a `policy` field, then hands the request to
moto unchanged. (The signature is not checked: moto accepts any credentials anyway.)
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from xml.sax.saxutils import escape

# Form fields that no condition needs to name (S3's rule).
_UNCHECKED_FIELDS = {"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"}
_STATUS_TEXT = {400: "Bad Request", 403: "Forbidden"}


class PolicyError(Exception):
    """What S3 answers: the HTTP status, its error code and message, and extra elements of the XML body."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def xml(self) -> bytes:
        extra = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in self.extra.items())
        request_id = uuid.uuid4().hex[:16].upper()
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{self.code}</Code>'
                f"<Message>{escape(self.message)}</Message>{extra}<RequestId>{request_id}</RequestId>"
                f"<HostId>imgapi-local</HostId></Error>").encode()


def _denied(why: str) -> PolicyError:
    return PolicyError(403, "AccessDenied", f"Invalid according to Policy: {why}")


def decode_policy(encoded: str) -> dict:
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        policy = None
    if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list) \
            or not isinstance(policy.get("expiration"), str):
        raise PolicyError(400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'Policy' format: it must be base64 "
                          "of a JSON object with 'expiration' and 'conditions'")
    return policy


def _expiration(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()
    except ValueError:
        raise PolicyError(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid 'expiration' value: {text!r}") from None


def check_policy(policy: dict, fields: dict[str, str], file_size: int, *, now: float) -> None:
    """Raise the PolicyError S3 would answer with; return when the upload is allowed.

    `fields` are the form's fields by lower-case name, with the bucket of the URL under "bucket"."""
    if now >= _expiration(policy["expiration"]):
        raise _denied("Policy expired.")
    named: set[str] = set()
    size_range = None
    for condition in policy["conditions"]:
        if isinstance(condition, dict) and len(condition) == 1:
            (shown, expected), = condition.items()
            operator, shown = "eq", "$" + shown
        elif isinstance(condition, list) and len(condition) == 3 and condition[0] == "content-length-range":
            size_range = (int(condition[1]), int(condition[2]))
            continue
        elif isinstance(condition, list) and len(condition) == 3 and condition[0] in ("eq", "starts-with") \
                and isinstance(condition[1], str) and condition[1].startswith("$"):
            operator, shown, expected = condition
        else:
            raise PolicyError(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {json.dumps(condition)}")
        name = shown[1:].lower()  # field names are matched whatever their case
        named.add(name)
        value = fields.get(name)
        matched = value is not None and (value == expected if operator == "eq" else value.startswith(str(expected)))
        if not matched:
            raise _denied(f"Policy Condition failed: {json.dumps([operator, shown, expected])}")
    extra = sorted(name for name in fields if name not in named and name != "bucket"
                   and name not in _UNCHECKED_FIELDS and not name.startswith("x-ignore-"))
    if extra:
        raise _denied(f"Extra input fields: {', '.join(extra)}")
    if size_range is not None:
        low, high = size_range
        if file_size > high:
            raise PolicyError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                              ProposedSize=file_size, MaxSizeAllowed=high)
        if file_size < low:
            raise PolicyError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                              ProposedSize=file_size, MinSizeAllowed=low)


def _bucket_of(environ: dict) -> str:
    """The bucket a POST is for: the first path segment (path style) or the host's first label (virtual host)."""
    segment = (environ.get("PATH_INFO") or "/").lstrip("/").split("/", 1)[0]
    return segment or (environ.get("HTTP_HOST") or "").split(".", 1)[0]


class S3PostPolicy:
    """WSGI middleware: checks the policy of browser-style S3 uploads, passes everything else through untouched."""

    def __init__(self, app: Callable, clock: Callable[[], float] = time.time):
        self.app = app
        self.clock = clock

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or \
                not (environ.get("CONTENT_TYPE") or "").lower().startswith("multipart/form-data"):
            return self.app(environ, start_response)
        body = self._read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            self._check(environ, body)
        except PolicyError as error:
            payload = error.xml()
            start_response(f"{error.status} {_STATUS_TEXT.get(error.status, 'Error')}",
                           [("Content-Type", "application/xml"), ("Content-Length", str(len(payload)))])
            return [payload]
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads the request as it came
        return self.app(environ, start_response)

    @staticmethod
    def _read_body(environ: dict) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        stream = environ["wsgi.input"]
        if length:
            return stream.read(length)
        return stream.read() if environ.get("wsgi.input_terminated") else b""

    def _check(self, environ: dict, body: bytes) -> None:
        from werkzeug.formparser import parse_form_data

        parsing = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        _, form, files = parse_form_data(parsing)
        fields = {name.lower(): value for name, value in form.items()}
        if "policy" not in fields:
            return  # not a policy upload: moto decides
        policy = decode_policy(fields["policy"])
        uploads = list(files.values())
        if len(uploads) != 1:
            raise PolicyError(400, "InvalidArgument", "POST requires exactly one file upload per request.")
        fields["bucket"] = _bucket_of(environ)
        check_policy(policy, fields, len(uploads[0].read()), now=self.clock())


class PolicyCheckingMotoServer:
    """What moto's ThreadedMotoServer runs (its WSGI app on werkzeug's threaded server), with S3PostPolicy in front."""

    def __init__(self, ip_address: str, port: int):
        self.ip_address, self.port = ip_address, port
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = S3PostPolicy(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self.ip_address, self.port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join()
