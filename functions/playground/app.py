"""GET / and /playground/{app.js,app.css}: the web playground, a static page that calls this API from the browser.

No token: the page is public, everything it does goes through the authenticated routes. Each asset's URL carries
its content hash, so a browser keeps an asset for a year and still picks up a new deployment (the page itself is
revalidated on every visit)."""
import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import Response

from imgapi.http_api import create_resolver, lambda_entry

STATIC = Path(__file__).resolve().parent / "static"
ASSET_TYPES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
ASSETS = {name: (STATIC / name).read_bytes() for name in ASSET_TYPES}
VERSIONS = {name: hashlib.sha256(data).hexdigest()[:16] for name, data in ASSETS.items()}
PAGE = (STATIC / "index.html").read_text(encoding="utf-8")
for _name, _version in VERSIONS.items():
    PAGE = PAGE.replace(f"{{{{{_name}}}}}", f"/playground/{_name}?v={_version}")

app = create_resolver()


def content_security_policy() -> str:
    """Scripts and styles from this origin only; the page may read and send images to S3 (presigned URLs, which are
    https in AWS; locally the in-process S3 on another port, whose address the functions presign with)."""
    storage = ""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        storage = f" {parts.scheme}://{parts.netloc}"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' blob: data: https:{storage}; connect-src 'self' https: blob: data:{storage}; "
            # form-action 'none': were the script not to run, the login form must not put a password in a URL.
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _static(body, content_type: str, cache_control: str) -> Response:
    return Response(status_code=200, content_type=content_type, body=body, headers={
        "Cache-Control": cache_control,
        "Content-Security-Policy": content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        # Presigned URLs and task ids stay on this page.
        "Referrer-Policy": "no-referrer",
        "Vary": "Accept-Encoding",  # gzip when the browser takes it (compress=True below)
    })


@app.get("/", compress=True)
def page():
    return _static(PAGE, "text/html; charset=utf-8", "no-cache")


def _asset(name: str) -> Response:
    # Immutable only under the hash the page names: an old or missing `v` gets the file, but revalidated.
    versioned = (app.current_event.query_string_parameters or {}).get("v") == VERSIONS[name]
    return _static(ASSETS[name].decode("utf-8"), ASSET_TYPES[name],
                   "public, max-age=31536000, immutable" if versioned else "no-cache")


@app.get("/playground/app.js", compress=True)
def script():
    return _asset("app.js")


@app.get("/playground/app.css", compress=True)
def stylesheet():
    return _asset("app.css")


handler = lambda_entry(app)
