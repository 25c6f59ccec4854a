"""GET / and /playground/{app.js,app.css}: the web playground, a static page that calls this API from the browser.

No token: the page is public, everything it does goes through the authenticated routes. Each asset's URL carries
its content hash, so a browser keeps an asset for a year and still picks up a new deployment (the page itself is
revalidated on every visit).

The script is a set of ES modules (static/*.js, app.js the entry), loaded with no build step. Every module is served
by the script route under its content hash: /playground/app.js?v=<hash>. The relative imports between them
(`from "./api.js"`) are rewritten, when this function loads, to those hashed URLs, and a module's hash is taken over
its rewritten text: a change in a module changes the URL of every module that imports it, directly or not, up to
the page's <script type="module">. A browser can thus never combine a cached module with a dependency of another
deployment."""
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import Response

from imgapi.api.http_api import create_resolver, lambda_entry

STATIC = Path(__file__).resolve().parent / "static"
SCRIPT_ROUTE = "/playground/app.js"
ENTRY = "app.js"
SCRIPT_TYPE = "text/javascript; charset=utf-8"
STYLE_TYPE = "text/css; charset=utf-8"
YEAR = "public, max-age=31536000, immutable"

# A static import or re-export of a sibling module: `import {...} from "./x.js"`, `export {...} from "./x.js"`,
# `import "./x.js"`. Dynamic import() is not rewritten, and refused below.
IMPORT = re.compile(r"""(?P<keyword>\b(?:from|import)\s*)(?P<quote>["'])\./(?P<name>[\w.-]+\.js)(?P=quote)""")
RELATIVE = re.compile(r"""["']\.{1,2}/[^"'\s]*\.js["']""")


def version(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Module:
    name: str
    body: str  # the file, its imports rewritten to hashed URLs
    version: str  # the hash of body
    imports: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"{SCRIPT_ROUTE}?v={self.version}"


def build_modules(directory: Path) -> dict[str, Module]:
    """Every *.js of directory with its imports rewritten to its dependencies' hashed URLs, dependencies first.
    Raises ValueError on an import cycle (a module's hash would depend on itself), an import of a file that is not
    there, or a relative specifier left that is not a static import."""
    sources = {path.name: path.read_bytes().decode("utf-8") for path in sorted(directory.glob("*.js"))}
    built: dict[str, Module] = {}

    def build(name: str, chain: tuple[str, ...]) -> Module:
        if name in built:
            return built[name]
        if name in chain:
            raise ValueError(f"import cycle: {' -> '.join(chain[chain.index(name):] + (name,))}")
        if name not in sources:
            raise ValueError(f"{chain[-1]} imports ./{name}, which is not in {directory.name}/")
        imports: list[str] = []

        def rewrite(match: re.Match) -> str:
            imports.append(match["name"])
            dependency = build(match["name"], chain + (name,))
            return f'{match["keyword"]}{match["quote"]}{dependency.url}{match["quote"]}'

        body = IMPORT.sub(rewrite, sources[name])
        left = RELATIVE.search(body)
        if left:
            raise ValueError(f"{name}: {left.group()} is not a static import of a sibling module")
        built[name] = Module(name, body, version(body), tuple(dict.fromkeys(imports)))
        return built[name]

    for module_name in sources:
        build(module_name, ())
    return built


MODULES = build_modules(STATIC)
BY_VERSION = {module.version: module for module in MODULES.values()}
STYLESHEET = (STATIC / "app.css").read_bytes().decode("utf-8")
STYLESHEET_VERSION = version(STYLESHEET)


def _reachable(name: str, seen: dict[str, None]) -> dict[str, None]:
    for dependency in MODULES[name].imports:
        if dependency not in seen:
            seen[dependency] = None
            _reachable(dependency, seen)
    return seen


# The page preloads every module the entry reaches, so the browser fetches them at once, not one import level
# after another.
PRELOAD = "\n".join(f'<link rel="modulepreload" href="{MODULES[name].url}">' for name in _reachable(ENTRY, {}))
PAGE = ((STATIC / "index.html").read_text(encoding="utf-8")
        .replace("{{app.css}}", f"/playground/app.css?v={STYLESHEET_VERSION}")
        .replace("{{app.js}}", MODULES[ENTRY].url)
        .replace("{{modulepreload}}", PRELOAD))

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


def _requested_version() -> str | None:
    return (app.current_event.query_string_parameters or {}).get("v")


@app.get("/", compress=True)
def page():
    return _static(PAGE, "text/html; charset=utf-8", "no-cache")


@app.get("/playground/app.js", compress=True)
def script():
    # A module's hash names it; an old or missing `v` gets the entry module, but revalidated.
    module = BY_VERSION.get(_requested_version())
    if module is None:
        return _static(MODULES[ENTRY].body, SCRIPT_TYPE, "no-cache")
    return _static(module.body, SCRIPT_TYPE, YEAR)


@app.get("/playground/app.css", compress=True)
def stylesheet():
    # Immutable only under the hash the page names: an old or missing `v` gets the file, but revalidated.
    return _static(STYLESHEET, STYLE_TYPE, YEAR if _requested_version() == STYLESHEET_VERSION else "no-cache")


handler = lambda_entry(app)
