"""What a browser is served: the playground's page and assets (types, caching, Content-Security-Policy), and S3's
CORS rules, in the template and as the local stack enforces them in front of moto."""
from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.util
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


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@functools.cache
def playground_module():
    """The function's app.py, imported under a name of its own (for its build_modules)."""
    loader = importlib.util.spec_from_file_location("serving_test_playground", PLAYGROUND.code_dir / "app.py")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


SCRIPT = "/playground/app.js"
YEAR = "public, max-age=31536000, immutable"
SOURCES = {path.name: path.read_bytes().decode("utf-8") for path in STATIC.glob("*.js")}
SOURCES_CSS = (STATIC / "app.css").read_bytes().decode("utf-8")
HASHED_IMPORT = re.compile(r'(?P<keyword>\b(?:from|import)\s*)"/playground/app\.js\?v=(?P<v>[0-9a-f]{16})"')
ENTRY_TAG = re.compile(r'<script type="module" src="/playground/app\.js\?v=([0-9a-f]{16})"></script>')


def served_modules() -> dict[str, str]:
    """Each module the page's script reaches, by file name: the version it is served under. Follows the page's
    <script type="module"> and every import in what is served, and checks each answer on the way: served under the
    hash of what it serves, as JavaScript, cached for a year, and, with its imports' hashed URLs put back as the
    files name them ("./api.js"), exactly one of the current files."""
    (entry,) = ENTRY_TAG.findall(get("/")["body"])
    found: dict[str, str] = {}
    by_version: dict[str, str] = {}

    def follow(version: str) -> str:
        if version not in by_version:
            answer = get(SCRIPT, query=f"v={version}")
            assert answer["statusCode"] == 200 and answer["headers"]["content-type"] == "text/javascript; charset=utf-8"
            assert answer["headers"]["cache-control"] == YEAR
            body = answer["body"]
            assert version_of(body) == version, "a module is served under the hash of what is served"
            source = HASHED_IMPORT.sub(lambda m: f'{m["keyword"]}"./{follow(m["v"])}"', body)
            names = [name for name, text in SOURCES.items() if text == source]
            assert len(names) == 1, f"v={version} serves no current module: {body[:200]}"
            by_version[version] = names[0]
            found[names[0]] = version
        return by_version[version]

    assert follow(entry) == "app.js"
    return found


def test_the_page_names_its_assets_by_content_hash_and_is_always_revalidated():
    page = get("/")
    assert page["statusCode"] == 200 and page["headers"]["content-type"] == "text/html; charset=utf-8"
    assert page["headers"]["cache-control"] == "no-cache"
    html = page["body"]
    modules = served_modules()
    assert ENTRY_TAG.findall(html) == [modules["app.js"]]
    assert f'href="/playground/app.css?v={version_of(SOURCES_CSS)}"' in html
    # Every other module preloaded under the same URL its importers name: fetched at once, and only once.
    preloaded = re.findall(r'<link rel="modulepreload" href="/playground/app\.js\?v=([0-9a-f]{16})">', html)
    assert sorted(preloaded) == sorted(v for name, v in modules.items() if name != "app.js")
    # Nothing the policy below would refuse: no inline script (the one <script> is the entry module's), no inline
    # style or event handler.
    assert re.findall(r"<script\b[^>]*>", html) == [f'<script type="module" src="{SCRIPT}?v={modules["app.js"]}">']
    assert "<style" not in html and "importmap" not in html
    assert not re.search(r"\s(style|on[a-z]+)=", html)


def test_every_module_is_served_under_the_hash_of_its_content_with_its_imports_at_their_current_urls():
    modules = served_modules()  # checks each module's type, cache header, hash and content on the way
    assert set(modules) == set(SOURCES), "every module of static/ is reached from the page's script"
    assert set(SOURCES) >= {"app.js", "api.js", "jobs.js", "upload.js", "result.js"}
    # The imports as the files write them: relative, static, to a sibling file (what app.py knows to rewrite).
    for name, text in SOURCES.items():
        for specifier in re.findall(r"""\b(?:from|import)\s*["']([^"']+)["']""", text):
            assert re.fullmatch(r"\./[\w-]+\.js", specifier) and specifier[2:] in SOURCES, (name, specifier)
        assert text.startswith("// "), f"{name} starts with a comment saying what it owns"
    # Names unknown to the API stay unknown: the modules have no path of their own.
    for path in ("/playground/api.js", "/playground/jobs.js", "/playground/app.css.js"):
        assert get(path)["statusCode"] == 404, path


def test_the_entry_module_is_revalidated_under_an_old_hash_or_none():
    entry = served_modules()["app.js"]
    for query in ("", "v=0123456789abcdef"):  # an old page's hash, or none: the entry module, but revalidated
        answer = get(SCRIPT, query=query)
        assert answer["headers"]["cache-control"] == "no-cache"
        assert answer["headers"]["content-type"] == "text/javascript; charset=utf-8"
        assert version_of(answer["body"]) == entry


def test_the_stylesheet_is_cached_for_a_year_under_its_hash_only():
    current = get("/playground/app.css", query=f"v={version_of(SOURCES_CSS)}")
    assert current["statusCode"] == 200 and current["headers"]["content-type"] == "text/css; charset=utf-8"
    assert current["headers"]["cache-control"] == YEAR
    assert current["body"] == SOURCES_CSS
    module_version = served_modules()["api.js"]
    for query in ("", "v=0123456789abcdef", f"v={module_version}"):  # an old hash, none, or a script's: revalidated
        assert get("/playground/app.css", query=query)["headers"]["cache-control"] == "no-cache"


def write_modules(directory, **files: str) -> None:
    for name, text in files.items():
        (directory / f"{name}.js").write_text(text, encoding="utf-8")


def test_a_change_in_a_module_changes_the_url_of_every_module_that_imports_it(tmp_path):
    build_modules = playground_module().build_modules
    write_modules(tmp_path, main='import { b } from "./b.js";\nimport "./side.js";\nexport const a = b;\n',
                  b="import { c } from './c.js';\nexport { c as d } from \"./c.js\";\nexport const b = c;\n",
                  c="export const c = 1;\n", side="document.title = 'x';\n", other="export const o = 1;\n")
    before = build_modules(tmp_path)
    assert {name: module.version for name, module in before.items()} == \
        {name: version_of(module.body) for name, module in before.items()}
    assert before["main.js"].body == (f'import {{ b }} from "{SCRIPT}?v={before["b.js"].version}";\n'
                                      f'import "{SCRIPT}?v={before["side.js"].version}";\nexport const a = b;\n')
    assert before["b.js"].body.count(f"{SCRIPT}?v={before['c.js'].version}") == 2
    assert before["c.js"].body == "export const c = 1;\n"

    write_modules(tmp_path, c="export const c = 2;\n")  # a dependency of a dependency changes
    after = build_modules(tmp_path)
    for name in ("c.js", "b.js", "main.js"):  # it, its importer, and the importer's importer
        assert after[name].version != before[name].version, name
    for name in ("side.js", "other.js"):
        assert after[name].version == before[name].version, name
    assert f"{SCRIPT}?v={after['b.js'].version}" in after["main.js"].body


@pytest.mark.parametrize("files, refusal", [
    ({"a": 'import "./b.js";\n', "b": 'import { a } from "./a.js";\n'}, "import cycle: a.js -> b.js -> a.js"),
    ({"a": 'import { x } from "./missing.js";\n'}, "a.js imports ./missing.js, which is not in"),
    ({"a": 'const m = await import("./b.js");\n', "b": ""}, 'a.js: "./b.js" is not a static import'),
    ({"a": 'import { x } from "../elsewhere/b.js";\n'}, 'a.js: "../elsewhere/b.js" is not a static import'),
])
def test_modules_whose_urls_could_not_be_hashed_are_refused_when_the_function_loads(tmp_path, files, refusal):
    write_modules(tmp_path, **files)
    with pytest.raises(ValueError, match=re.escape(refusal)):
        playground_module().build_modules(tmp_path)


def test_responses_are_gzipped_for_browsers_that_take_it():
    version = served_modules()["jobs.js"]
    plain = get(SCRIPT, query=f"v={version}")
    zipped = get(SCRIPT, query=f"v={version}", headers={"accept-encoding": "gzip, deflate, br"})
    assert zipped["isBase64Encoded"] and zipped["headers"]["content-encoding"] == "gzip"
    assert gzip.decompress(base64.b64decode(zipped["body"])).decode("utf-8") == plain["body"]
    assert zipped["headers"]["vary"] == "Accept-Encoding"


def test_the_content_security_policy_allows_this_origin_and_storage_only(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    for path, query in (("/", ""), (SCRIPT, ""), (SCRIPT, f"v={served_modules()['api.js']}"), ("/playground/app.css", "")):
        headers = get(path, query=query)["headers"]
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
        policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
        assert policy == {
            "default-src": "'none'", "script-src": "'self'", "style-src": "'self'",
            "img-src": "'self' blob: data: https:", "connect-src": "'self' https: blob: data:",
            "base-uri": "'none'", "form-action": "'none'", "frame-ancestors": "'none'",
        }  # script-src: files of this origin only; no inline script, no hash or nonce that would allow one
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
