"""S3's POST policy, enforced in front of moto's server: the local stack refuses browser-style uploads as S3 does.

moto stores whatever a presigned POST (boto3's generate_presigned_post) sends, whatever its policy says. S3
itself checks the policy document that travels with the form: its expiration, each condition (exact matches,
starts-with, the content-length-range of the file) and that no form field goes unmentioned, and answers with an
XML error: 400 EntityTooLarge / EntityTooSmall, 403 AccessDenied "Invalid according to Policy: ...". This WSGI
middleware does the same for every multipart POST that carries a `policy` field, then hands the request to
moto unchanged. (The signature is not checked: moto accepts any credentials anyway.)

S3's CORS, for the same reason: moto's server answers every origin (flask-cors on the whole app), so a page that
works locally could fail against S3. S3Cors answers preflights and adds CORS headers from the bucket's rules (the
template's CorsConfiguration), refusing what S3 would refuse, policy errors included.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import re
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


# -- CORS, as S3 evaluates a bucket's CORSRules ------------------------------------------------------------------

_CORS_REFUSED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
                 "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
                 "whitelisted by the resource's CORS spec.")


def cors_rules(configuration: dict) -> list[dict]:
    """A template's CorsConfiguration (CloudFormation's names) as S3 API CORSRules. A CommaDelimitedList parameter
    resolves locally to its text, hence the split."""
    def listed(value: Any) -> list[str]:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return [str(part) for part in value or []]

    rules = []
    for rule in configuration.get("CorsRules") or []:
        converted = {"AllowedOrigins": listed(rule.get("AllowedOrigins")), "AllowedMethods": listed(rule.get("AllowedMethods"))}
        for source, target in (("AllowedHeaders", "AllowedHeaders"), ("ExposedHeaders", "ExposeHeaders")):
            if rule.get(source):
                converted[target] = listed(rule[source])
        if rule.get("MaxAge") is not None:
            converted["MaxAgeSeconds"] = int(rule["MaxAge"])
        if rule.get("Id"):
            converted["ID"] = str(rule["Id"])
        rules.append(converted)
    return rules


def _wildcard(pattern: str, value: str, *, case: bool) -> bool:
    """S3's match: one `*` stands for any run of characters."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def match_cors_rule(rules: list[dict], origin: str, method: str, headers: list[str]) -> dict | None:
    """The first rule allowing this origin, method and request headers, as S3 picks it."""
    for rule in rules:
        if not any(_wildcard(allowed, origin, case=True) for allowed in rule.get("AllowedOrigins", [])):
            continue
        if method not in rule.get("AllowedMethods", []):
            continue
        if all(any(_wildcard(allowed, header, case=False) for allowed in rule.get("AllowedHeaders", [])) for header in headers):
            return rule
    return None


def cors_headers(rule: dict, origin: str, request_headers: list[str]) -> list[tuple[str, str]]:
    any_origin = rule.get("AllowedOrigins") == ["*"]
    headers = [("Access-Control-Allow-Origin", "*" if any_origin else origin),
               ("Access-Control-Allow-Methods", ", ".join(rule["AllowedMethods"]))]
    if not any_origin:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    if request_headers:
        headers.append(("Access-Control-Allow-Headers", ", ".join(request_headers)))
    if rule.get("ExposeHeaders"):
        headers.append(("Access-Control-Expose-Headers", ", ".join(rule["ExposeHeaders"])))
    if rule.get("MaxAgeSeconds") is not None:
        headers.append(("Access-Control-Max-Age", str(rule["MaxAgeSeconds"])))
    headers.append(("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"))
    return headers


class S3Cors:
    """WSGI middleware: the CORS rules of the buckets in `rules` (bucket -> CORSRules; [] for none) applied as S3
    applies them. Requests for other paths pass through untouched."""

    def __init__(self, app: Callable, rules: dict[str, list[dict]]):
        self.app = app
        self.rules = rules  # filled in once the buckets exist

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        bucket = _bucket_of(environ)
        origin = environ.get("HTTP_ORIGIN")
        if bucket not in self.rules or not origin:
            return self.app(environ, start_response)
        rules = self.rules[bucket]
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":
            wanted = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD") or ""
            asked = [h.strip() for h in (environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS") or "").split(",") if h.strip()]
            rule = match_cors_rule(rules, origin, wanted, asked) if wanted else None
            if rule is None:
                message = _CORS_REFUSED if rules else "CORSResponse: CORS is not enabled for this bucket."
                resource = "OBJECT" if "/" in (environ.get("PATH_INFO") or "/").strip("/") else "BUCKET"
                payload = PolicyError(403, "AccessForbidden", message, Method=wanted or "OPTIONS",
                                      ResourceType=resource).xml()
                start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(payload)))])
                return [payload]
            start_response("200 OK", [*cors_headers(rule, origin, asked), ("Content-Length", "0")])
            return [b""]
        rule = match_cors_rule(rules, origin, method, [])

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            # moto's own answer (flask-cors: any origin) gives way to the bucket's rules.
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")
                    and (k.lower(), v.strip().lower()) != ("vary", "origin")]
            return start_response(status, kept + (cors_headers(rule, origin, []) if rule else []), exc_info)

        return self.app(environ, respond)


class PolicyCheckingMotoServer:
    """What moto's ThreadedMotoServer runs (its WSGI app on werkzeug's threaded server), with S3PostPolicy and
    S3Cors in front."""

    def __init__(self, ip_address: str, port: int):
        self.ip_address, self.port = ip_address, port
        self.cors: dict[str, list[dict]] = {}  # bucket -> CORSRules, enforced by S3Cors
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = S3Cors(S3PostPolicy(DomainDispatcherApplication(create_backend_app)), self.cors)
        self._server = make_server(self.ip_address, self.port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join()
