"""What a browser is served: the playground's page and assets (types, caching, Content-Security-Policy), and S3's
CORS rules, in the template and as the local stack enforces them in front of moto."""
from __future__ import annotations

import base64
import gzip
import hashlib
import re

import boto3
import pytest
import urllib3
from werkzeug.test import Client
from werkzeug.wrappers import Response as WsgiResponse

from imgapi_local.events import LambdaContext, http_event
from imgapi_local.handlers import load_handler
from imgapi_local.s3_post_policy import S3Cors, cors_rules, match_cors_rule
from imgapi_local.template import ROOT, Resolver, functions, load_template, parameter_defaults

STATIC = ROOT / "functions" / "playground" / "static"
TEMPLATE = load_template()
PLAYGROUND = next(spec for spec in functions(TEMPLATE) if spec.logical_id == "PlaygroundFunction")


def get(path: str, query: str = "", headers: dict | None = None) -> dict:
    response = load_handler(PLAYGROUND)(http_event("GET", path, route_key=f"GET {path}", query=query, headers=headers),
                                       LambdaContext("PlaygroundFunction"))
    response["headers"] = {k.lower(): v for k, v in response["headers"].items()}
    return response


def version_of(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:16]


def test_the_page_names_its_assets_by_content_hash_and_is_always_revalidated():
    page = get("/")
    assert page["statusCode"] == 200 and page["headers"]["content-type"] == "text/html; charset=utf-8"
    assert page["headers"]["cache-control"] == "no-cache"
    html = page["body"]
    assert f'src="/playground/app.js?v={version_of("app.js")}"' in html
    assert f'href="/playground/app.css?v={version_of("app.css")}"' in html
    # Nothing the policy below would refuse: no inline script, style or event handler.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) and "<style" not in html
    assert not re.search(r"\s(style|on[a-z]+)=", html)


@pytest.mark.parametrize("name, content_type", [("app.js", "text/javascript; charset=utf-8"),
                                                ("app.css", "text/css; charset=utf-8")])
def test_assets_are_cached_for_a_year_under_their_hash_only(name, content_type):
    current = get(f"/playground/{name}", query=f"v={version_of(name)}")
    assert current["statusCode"] == 200 and current["headers"]["content-type"] == content_type
    assert current["headers"]["cache-control"] == "public, max-age=31536000, immutable"
    assert current["body"] == (STATIC / name).read_text(encoding="utf-8")
    for query in ("", "v=0123456789abcdef"):  # an old page's hash, or none: the file, but revalidated
        assert get(f"/playground/{name}", query=query)["headers"]["cache-control"] == "no-cache"


def test_responses_are_gzipped_for_browsers_that_take_it():
    zipped = get("/playground/app.js", headers={"accept-encoding": "gzip, deflate, br"})
    assert zipped["isBase64Encoded"] and zipped["headers"]["content-encoding"] == "gzip"
    assert gzip.decompress(base64.b64decode(zipped["body"])) == (STATIC / "app.js").read_bytes()
    assert zipped["headers"]["vary"] == "Accept-Encoding"


def test_the_content_security_policy_allows_this_origin_and_storage_only(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    for path in ("/", "/playground/app.js"):
        headers = get(path)["headers"]
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
        policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
        assert policy == {
            "default-src": "'none'", "script-src": "'self'", "style-src": "'self'",
            "img-src": "'self' blob: data: https:", "connect-src": "'self' https: blob: data:",
            "base-uri": "'none'", "form-action": "'none'", "frame-ancestors": "'none'",
        }
    # Locally S3 is the in-process AWS on another port (plain http): the page must reach it too.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:45123")
    policy = get("/")["headers"]["content-security-policy"]
    assert "connect-src 'self' https: blob: data: http://127.0.0.1:45123;" in policy
    assert "img-src 'self' blob: data: https: http://127.0.0.1:45123;" in policy


# -- the bucket's CORS -----------------------------------------------------------------------------------------

def template_rules(**parameters: str) -> list[dict]:
    resolver = Resolver({**parameter_defaults(TEMPLATE), **parameters})
    return cors_rules(resolver.resolve(TEMPLATE["Resources"]["ImagesBucket"]["Properties"]["CorsConfiguration"]))


def test_the_bucket_lets_browsers_post_uploads_and_read_results_from_the_allowed_origins():
    parameter = TEMPLATE["Parameters"]["BucketCorsAllowedOrigins"]
    assert (parameter["Type"], parameter["Default"]) == ("CommaDelimitedList", "*")
    (rule,) = template_rules()
    assert rule == {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "POST", "HEAD"], "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000, "ID": "browser-uploads-and-results"}
    (narrowed,) = template_rules(BucketCorsAllowedOrigins="https://play.example.com,https://*.example.org")
    assert narrowed["AllowedOrigins"] == ["https://play.example.com", "https://*.example.org"]
    assert match_cors_rule([narrowed], "https://a.example.org", "POST", ["content-type"]) is narrowed
    assert match_cors_rule([narrowed], "https://evil.example.net", "POST", []) is None
    assert match_cors_rule([narrowed], "https://play.example.com", "PUT", []) is None


BUCKET = "images"
SPECIFIC = [{"AllowedOrigins": ["http://page.test"], "AllowedMethods": ["GET", "POST"], "AllowedHeaders": ["x-amz-*"],
             "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]


def downstream(environ, start_response):
    """moto's server as it answers: flask-cors allows any origin on everything."""
    return WsgiResponse(b"from moto", headers={"Access-Control-Allow-Origin": "*", "Vary": "Origin"})(environ, start_response)


def cors_client(rules: dict) -> Client:
    return Client(S3Cors(downstream, rules))


def test_a_preflight_is_answered_from_the_buckets_rules_as_s3_answers_it():
    client = cors_client({BUCKET: SPECIFIC, "plain": []})
    allowed = client.options(f"/{BUCKET}/key", headers={"Origin": "http://page.test", "Access-Control-Request-Method": "POST",
                                                         "Access-Control-Request-Headers": "X-Amz-Date"})
    assert allowed.status_code == 200 and allowed.get_data() == b""
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://page.test"
    assert allowed.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert allowed.headers["Access-Control-Allow-Headers"] == "X-Amz-Date"
    assert allowed.headers["Access-Control-Expose-Headers"] == "ETag" and allowed.headers["Access-Control-Max-Age"] == "60"
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    for origin, method, asked in (("http://other.test", "POST", ""), ("http://page.test", "PUT", ""),
                                  ("http://page.test", "POST", "authorization")):
        refused = client.options(f"/{BUCKET}", headers={"Origin": origin, "Access-Control-Request-Method": method,
                                                        **({"Access-Control-Request-Headers": asked} if asked else {})})
        assert refused.status_code == 403 and b"<Code>AccessForbidden</Code>" in refused.get_data(), (origin, method, asked)
        assert "Access-Control-Allow-Origin" not in refused.headers
    no_rules = client.options("/plain/key", headers={"Origin": "http://page.test", "Access-Control-Request-Method": "GET"})
    assert no_rules.status_code == 403 and b"CORS is not enabled for this bucket" in no_rules.get_data()


def test_other_requests_get_the_rules_headers_instead_of_motos_allow_all():
    client = cors_client({BUCKET: SPECIFIC})
    allowed = client.get(f"/{BUCKET}/key", headers={"Origin": "http://page.test"})
    assert allowed.get_data() == b"from moto" and allowed.headers["Access-Control-Allow-Origin"] == "http://page.test"
    assert allowed.headers.getlist("Access-Control-Allow-Origin") == ["http://page.test"]
    for origin, method in (("http://other.test", "GET"), ("http://page.test", "DELETE")):
        answered = client.open(f"/{BUCKET}/key", method=method, headers={"Origin": origin})
        assert answered.get_data() == b"from moto" and "Access-Control-Allow-Origin" not in answered.headers
    untouched = client.get("/", headers={"Origin": "http://page.test"})  # not a bucket with rules: moto's answer
    assert untouched.headers["Access-Control-Allow-Origin"] == "*"


def test_the_local_stack_puts_the_templates_rules_on_the_bucket_and_enforces_them(local_stack):
    bucket = local_stack.stack.resolver.refs["ImagesBucket"]
    assert boto3.client("s3").get_bucket_cors(Bucket=bucket)["CORSRules"] == template_rules()
    # Over HTTP (urllib3: this process's moto mock would answer `requests` itself), as a browser asks.
    preflight = urllib3.request("OPTIONS", f"{local_stack.aws_url}/{bucket}", timeout=10,
                                headers={"Origin": local_stack.url, "Access-Control-Request-Method": "POST"})
    assert preflight.status == 200 and preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Expose-Headers"] == "ETag"
    refused = urllib3.request("OPTIONS", f"{local_stack.aws_url}/{bucket}/results/x.png", timeout=10,
                              headers={"Origin": local_stack.url, "Access-Control-Request-Method": "DELETE"})
    assert refused.status == 403
