"""`imgapi client`: run a file or a whole folder through the API, for people and scripts.

It speaks HTTP to the API only (a deployed stack or `make dev`), never to AWS itself:

- `imgapi client login` logs in once and keeps the token (IMGAPI_CREDENTIALS, else
  ~/.config/imgapi/credentials.json, mode 0600), per API URL.
- `imgapi client run OPERATION PATH -o OUT` sends each image through POST /api/v1/uploads and the presigned
  S3 POST it answers with (streamed, so any size up to the API's limit), follows the job at
  /api/v1/jobs/{task_id}, and downloads the result to OUT/<same relative folder>/<same name>.png. N files at a
  time; transient errors (no connection, 429, 5xx) are retried with backoff, honouring Retry-After. A state file
  in OUT (.imgapi-batch.json) records each input's outcome by relative path, size and modification time (and
  the operation and parameters): a second run skips what is done, and what failed for good, and picks up jobs
  an interrupted run left running.
"""
from __future__ import annotations

import argparse
import email.utils
import getpass
import hashlib
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TextIO

import requests

CREDENTIALS_ENV = "IMGAPI_CREDENTIALS"
DEFAULT_URL = "http://127.0.0.1:8000"
STATE_FILE = ".imgapi-batch.json"
STATE_VERSION = 1
# What counts as an image in a folder; the API says which of these it accepts (JPEG, PNG, WebP, HEIC, AVIF).
CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
                 ".gif": "image/gif", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
                 ".heic": "image/heic", ".heif": "image/heic", ".avif": "image/avif"}
RESULT_EXTENSIONS = {"image/png": "png", "image/webp": "webp", "image/avif": "avif"}
TERMINAL = ("completed", "failed", "cancelled")


class Failure(Exception):
    """A file that did not make it. `final`: it would fail again (a refusal, a failed job), so a re-run skips it;
    otherwise (the network, a timeout) a re-run tries it again."""

    def __init__(self, message: str, *, final: bool = True):
        super().__init__(message)
        self.message, self.final = message, final


# -- credentials -------------------------------------------------------------------------------------------

def credentials_path() -> Path:
    configured = os.environ.get(CREDENTIALS_ENV)
    return Path(configured) if configured else Path.home() / ".config" / "imgapi" / "credentials.json"


def _read_credentials() -> dict:
    try:
        data = json.loads(credentials_path().read_text())
    except (FileNotFoundError, ValueError):
        return {"logins": {}}
    return data if isinstance(data.get("logins"), dict) else {"logins": {}}


def save_login(url: str, username: str, token: str, expires_in: int) -> Path:
    path = credentials_path()
    data = _read_credentials()
    data["default_url"] = url
    data["logins"][url] = {"username": username, "access_token": token, "expires_at": int(time.time()) + expires_in}
    _write_credentials(path, data)
    return path


def _write_credentials(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump(data, out, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def api_url(url: str | None) -> str:
    """The API's base URL: the one given, else IMGAPI_URL, else the one logged in to last, else DEFAULT_URL."""
    return (url or os.environ.get("IMGAPI_URL") or _read_credentials().get("default_url") or DEFAULT_URL).rstrip("/")


def forget_login(url: str) -> dict | None:
    """Remove the login saved for `url` (its token, on this machine only); the login it was, if any."""
    data = _read_credentials()
    login = data["logins"].pop(url, None)
    if login is not None:
        _write_credentials(credentials_path(), data)
    return login


def saved_username(url: str) -> str | None:
    return (_read_credentials()["logins"].get(url) or {}).get("username")


def saved_login(url: str | None) -> tuple[str, str]:
    """(API URL, token): IMGAPI_TOKEN, else the login saved for the URL (or the last one logged in to)."""
    data = _read_credentials()
    url = api_url(url)
    if os.environ.get("IMGAPI_TOKEN"):
        return url, os.environ["IMGAPI_TOKEN"]
    login = data["logins"].get(url)
    if not login:
        raise Failure(f"not logged in to {url}: run `imgapi client login --url {url} --username NAME`")
    if login.get("expires_at", 0) <= time.time():
        raise Failure(f"the token for {url} has expired: run `imgapi client login --url {url} --username "
                      f"{login.get('username', 'NAME')}` again")
    return url, login["access_token"]


# -- HTTP with retries -------------------------------------------------------------------------------------

def retry_after(response: requests.Response) -> float | None:
    """Seconds the server asks us to wait (Retry-After: seconds or an HTTP date), if it says."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass
class Http:
    """requests with retries of what may pass: no connection, a timeout, 429 and 5xx (honouring Retry-After)."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    timeout: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    _local: threading.local = field(default_factory=threading.local)

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):  # a session per thread: requests' sessions are not thread-safe
            self._local.session = requests.Session()
        return self._local.session

    def request(self, method: str, url: str, *, body: Callable[[], dict] | None = None, **kwargs: Any) -> requests.Response:
        """`body`: a function giving fresh request arguments for each attempt (a stream cannot be sent twice)."""
        for attempt in range(1, self.attempts + 1):
            wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * (0.75 + random.random() / 4)
            try:
                response = self._session().request(method, url, timeout=self.timeout, **kwargs, **(body() if body else {}))
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == self.attempts:
                    raise Failure(f"{method} {_short(url)}: {type(exc).__name__} after {attempt} attempts; "
                                  "run again to retry", final=False) from exc
            else:
                if response.status_code != 429 and response.status_code < 500 or attempt == self.attempts:
                    return response
                wait = retry_after(response) or wait
                response.close()
            self.sleep(wait)
        raise AssertionError("unreachable")


def _short(url: str) -> str:
    return url.split("?", 1)[0]


def error_of(response: requests.Response) -> str:
    """The reason an API (JSON) or S3 (XML) error gives."""
    try:
        body = response.json()
        return body.get("error") or body.get("message") or json.dumps(body)
    except ValueError:
        found = re.search(r"<Code>(.*?)</Code>.*?<Message>(.*?)</Message>", response.text, re.S)
        return f"{found.group(1)}: {found.group(2)}" if found else (response.text[:200] or response.reason)


class Api:
    def __init__(self, url: str, token: str, http: Http):
        self.url, self.token, self.http = url.rstrip("/"), token, http

    def call(self, method: str, path: str, **kwargs: Any) -> dict:
        response = self.http.request(method, self.url + path, headers={"Authorization": f"Bearer {self.token}",
                                                                       **kwargs.pop("headers", {})}, **kwargs)
        if response.status_code == 401:  # not the file's fault: a run after logging in again retries it
            raise Failure(f"the API refused the token ({error_of(response)}): run `imgapi client login` again",
                          final=False)
        if response.status_code >= 400:
            raise Failure(f"{error_of(response)} (HTTP {response.status_code})",
                          final=response.status_code < 500 and response.status_code != 429)
        return response.json() if response.content else {}  # 204: done, nothing to say


def login(url: str, username: str, password: str, http: Http) -> dict:
    response = http.request("POST", url.rstrip("/") + "/api/v1/login", json={"username": username, "password": password})
    if response.status_code != 200:
        raise Failure(f"login refused: {error_of(response)} (HTTP {response.status_code})")
    return response.json()


# -- the batch ---------------------------------------------------------------------------------------------

@dataclass
class Item:
    path: Path
    relative: str  # posix path below the batch's root: the key of the state file and of the output's place
    size: int
    mtime_ns: int
    output_stem: str  # OUT/<relative folder>/<output_stem>.<ext of the result>

    @property
    def fingerprint(self) -> str:
        return f"{self.size}:{self.mtime_ns}"


def find_inputs(source: Path, exclude: Path | None = None) -> list[Item]:
    """The images of a file or a folder (recursively; hidden files and the output folder left out), sorted."""
    if source.is_file():
        paths, root = [source], source.parent
    else:
        root, excluded = source, exclude.resolve() if exclude else None
        paths = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in CONTENT_TYPES
                       and not any(part.startswith(".") for part in p.relative_to(source).parts)
                       and not (excluded and excluded in p.resolve().parents))
    stems: dict[tuple[str, str], int] = {}
    for path in paths:
        key = (str(path.parent), path.stem.lower())
        stems[key] = stems.get(key, 0) + 1
    items = []
    for path in paths:
        stat = path.stat()
        clash = stems[(str(path.parent), path.stem.lower())] > 1  # a.jpg and a.png: a.jpg.png and a.png.png
        items.append(Item(path, path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns,
                          path.name if clash else path.stem))
    return items


class BatchState:
    """OUT/.imgapi-batch.json: each input's outcome, written after every change (atomically)."""

    def __init__(self, path: Path, job_signature: str):
        self.path, self.signature = path, job_signature
        self._lock = threading.Lock()
        try:
            data = json.loads(path.read_text())
            self.files: dict[str, dict] = data["files"] if data.get("version") == STATE_VERSION else {}
        except (FileNotFoundError, ValueError, KeyError):
            self.files = {}

    def entry(self, item: Item) -> dict | None:
        """What an earlier run recorded for this very input (same file, same operation and parameters)."""
        entry = self.files.get(item.relative)
        if entry and entry.get("fingerprint") == item.fingerprint and entry.get("job") == self.signature:
            return entry
        return None

    def record(self, item: Item, **values: Any) -> None:
        with self._lock:
            self.files[item.relative] = {"fingerprint": item.fingerprint, "job": self.signature, **values,
                                         "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(json.dumps({"version": STATE_VERSION, "files": self.files}, indent=1, sort_keys=True))
            os.replace(temporary, self.path)


def job_signature(operation: str, params: dict) -> str:
    return hashlib.sha256(json.dumps([operation, params], sort_keys=True).encode()).hexdigest()[:16]


# -- progress ----------------------------------------------------------------------------------------------

def _bar(done: float, total: float, width: int = 24) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _size(size: float) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


class Progress:
    """Progress bars on standard error: the batch (submitted, running, done, failed) and each upload in flight.

    On a terminal they are redrawn in place; otherwise (a log, a pipe) each file's outcome is one line."""

    STATES = ("uploading", "submitted", "running", "done", "failed", "skipped")

    def __init__(self, total: int, stream: TextIO = sys.stderr, live: bool | None = None):
        self.total, self.stream = total, stream
        self.live = stream.isatty() if live is None else live
        self.counts = {state: 0 for state in self.STATES}
        self.state_of: dict[str, str] = {}
        self.uploads: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._drawn = 0
        self._last_draw = 0.0

    def set(self, name: str, state: str) -> None:
        with self._lock:
            if self.state_of.get(name) == state:
                return
            if name in self.state_of:
                self.counts[self.state_of[name]] -= 1
            self.state_of[name] = state
            self.counts[state] += 1
            if state != "uploading":
                self.uploads.pop(name, None)
        self._draw(force=True)

    def uploaded(self, name: str, sent: int, total: int) -> None:
        with self._lock:
            self.uploads[name] = (sent, total)
        self._draw()

    def say(self, line: str) -> None:
        """A line that stays (a file's outcome), above the bars."""
        with self._lock:
            self._clear()
            print(line, file=self.stream, flush=True)
            self._render()

    def finish(self) -> None:
        with self._lock:
            self._clear()
            if self.live:
                print(self._batch_line(), file=self.stream, flush=True)

    def _batch_line(self) -> str:
        finished = self.counts["done"] + self.counts["failed"] + self.counts["skipped"]
        parts = "  ".join(f"{state} {self.counts[state]}" for state in self.STATES if state != "uploading")
        return f"{_bar(finished, self.total)} {finished}/{self.total}  uploading {self.counts['uploading']}  {parts}"

    def _draw(self, force: bool = False) -> None:
        if not self.live or (not force and time.monotonic() - self._last_draw < 0.1):
            return
        with self._lock:
            self._clear()
            self._render()

    def _clear(self) -> None:
        if self.live and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")  # up to the first bar, erase to the end
        self._drawn = 0

    def _render(self) -> None:
        if not self.live:
            return
        lines = [self._batch_line()]
        lines += [f"  {_bar(sent, total, 16)} {_size(sent)} / {_size(total)}  {name}" for name, (sent, total) in self.uploads.items()]
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)
        self._last_draw = time.monotonic()


# -- one file ----------------------------------------------------------------------------------------------

@dataclass
class Batch:
    api: Api
    operation: str
    params: dict
    output: Path
    state: BatchState
    progress: Progress
    job_timeout: float = 900.0
    poll: tuple[float, float] = (0.25, 2.0)  # first and longest wait between two looks at a job
    results: dict[str, tuple[str, str]] = field(default_factory=dict)  # relative path -> (outcome, detail)

    def run(self, item: Item) -> None:
        """One input, start to finish (or to its failure); never raises a Failure."""
        earlier = self.state.entry(item)
        if earlier and (earlier["status"] == "failed" or
                        (earlier["status"] == "done" and (self.output / earlier["output"]).exists())):
            self._finish(item, "skipped", f"{earlier['status']} in an earlier run: "
                         + (earlier["output"] if earlier["status"] == "done" else earlier["error"]))
            return
        task_id = None
        try:
            if earlier and earlier["status"] == "submitted" and self._still_going(earlier["task_id"]):
                task_id = earlier["task_id"]  # an interrupted run's job: follow it rather than upload again
            else:
                task_id = self._upload(item)
            self.progress.set(item.relative, "submitted")
            job = self._follow(item, task_id)
            if job["status"] == "failed":
                reason = (job.get("error") or {}).get("message") or "the job failed"
                raise Failure(reason.removeprefix(f"{item.path.name}: "))
            output = self._download(item, job)
        except Failure as failure:
            if failure.final:
                self.state.record(item, status="failed", error=failure.message, task_id=task_id)
            self._finish(item, "failed", failure.message)
            return
        self.state.record(item, status="done", task_id=task_id, output=output)
        self._finish(item, "done", output)

    def _finish(self, item: Item, outcome: str, detail: str) -> None:
        self.results[item.relative] = (outcome, detail)
        self.progress.set(item.relative, outcome)
        self.progress.say(f"{outcome:>7}  {item.relative}: {detail}")

    def _still_going(self, task_id: str) -> bool:
        """Whether the job an interrupted run left got its upload (else the file is uploaded again)."""
        try:
            job = self.api.call("GET", f"/api/v1/jobs/{task_id}")
        except Failure:
            return False
        return job["status"] != "awaiting_upload" and (job.get("error") or {}).get("code") != "upload_expired"

    def _upload(self, item: Item) -> str:
        self.progress.set(item.relative, "uploading")
        content_type = CONTENT_TYPES[item.path.suffix.lower()]
        answer = self.api.call("POST", "/api/v1/uploads", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
            "operation": self.operation, "params": self.params, "filename": item.path.name,
            "content_type": content_type, "size": item.size})
        # Recorded before the file goes: a run interrupted after the upload follows this job next time.
        self.state.record(item, status="submitted", task_id=answer["task_id"])
        upload = answer["upload"]
        opened: list = []

        def body() -> dict:  # a fresh stream for each attempt
            from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor

            stream = item.path.open("rb")
            opened.append(stream)
            encoder = MultipartEncoder(fields=[*upload["fields"].items(), ("file", (item.path.name, stream, content_type))])
            monitor = MultipartEncoderMonitor(encoder, lambda m: self.progress.uploaded(item.relative, m.bytes_read, m.len))
            return {"data": monitor, "headers": {"Content-Type": monitor.content_type}}

        try:
            response = self.api.http.request("POST", upload["url"], body=body)
        finally:
            for stream in opened:
                stream.close()
        if response.status_code >= 300:  # 400: the file itself (EntityTooLarge ...); 403: e.g. the URL expired meanwhile
            raise Failure(f"the upload was refused: {error_of(response)} (HTTP {response.status_code})",
                          final=response.status_code == 400)
        return answer["task_id"]

    def _follow(self, item: Item, task_id: str) -> dict:
        deadline = time.monotonic() + self.job_timeout
        wait = self.poll[0]
        while True:
            job = self.api.call("GET", f"/api/v1/jobs/{task_id}")
            if job["status"] in TERMINAL:
                return job
            if job["status"] == "processing":
                self.progress.set(item.relative, "running")
            if time.monotonic() > deadline:
                raise Failure(f"task {task_id} is still {job['status']} after {self.job_timeout:.0f} s; "
                              "run again to go on waiting", final=False)
            time.sleep(wait)
            wait = min(self.poll[1], wait * 1.5)

    def _download(self, item: Item, job: dict) -> str:
        result = (job.get("results") or [None])[0]
        if not result:
            raise Failure("the job completed without a result")
        extension = RESULT_EXTENSIONS.get(result.get("content_type"), "png")
        relative = Path(item.relative).parent / f"{item.output_stem}.{extension}"
        target = self.output / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        response = self.api.http.request("GET", result["url"], stream=True)
        if response.status_code != 200:
            raise Failure(f"the result could not be downloaded: {error_of(response)} (HTTP {response.status_code}); "
                          "run again", final=False)
        partial = target.with_name(target.name + ".part")
        with partial.open("wb") as out:
            for chunk in response.iter_content(1 << 16):
                out.write(chunk)
        os.replace(partial, target)
        return relative.as_posix()


# -- commands ----------------------------------------------------------------------------------------------

def parse_params(pairs: list[str], params_file: str | None) -> dict:
    """--params-file JSON, then each --param name=value (a JSON value, else the text itself)."""
    params = json.loads(Path(params_file).read_text()) if params_file else {}
    if not isinstance(params, dict):
        raise Failure("--params-file must hold a JSON object")
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise Failure(f"--param takes name=value; got {pair!r}")
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params


def cmd_login(args: argparse.Namespace) -> int:
    url = (args.url or os.environ.get("IMGAPI_URL") or DEFAULT_URL).rstrip("/")
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"password for {args.username}: ")
    answer = login(url, args.username, password, Http(attempts=args.retries))
    path = save_login(url, args.username, answer["access_token"], int(answer.get("expires_in", 3600)))
    print(f"logged in to {url} as {args.username}; the token (valid {int(answer.get('expires_in', 3600)) // 60} min) "
          f"is in {path}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    source, output = Path(args.path), Path(args.output)
    if not source.exists():
        raise Failure(f"{source} does not exist")
    url, token = saved_login(args.url)
    params = parse_params(args.param or [], args.params_file)
    items = find_inputs(source, exclude=output)
    if not items:
        raise Failure(f"no images in {source} (looked for {', '.join(sorted(CONTENT_TYPES))})")
    http = Http(attempts=args.retries)
    progress = Progress(len(items), live=False if args.no_progress else None)
    batch = Batch(Api(url, token, http), args.operation, params, output,
                  BatchState(output / STATE_FILE, job_signature(args.operation, params)), progress, job_timeout=args.timeout)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(batch.run, items))
    progress.finish()
    return report(items, batch.results, output)


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel jobs by task id (DELETE /api/v1/jobs/{task_id}); 1 when any could not be cancelled."""
    url, token = saved_login(args.url)
    api, refused = Api(url, token, Http(attempts=args.retries)), 0
    for task_id in args.task_id:
        try:
            job = api.call("DELETE", f"/api/v1/jobs/{task_id}")
            print(f"cancelled {task_id} ({job['operation']})")
        except Failure as failure:
            if not failure.final:
                raise
            print(f"not cancelled {task_id}: {failure.message}", file=sys.stderr)
            refused += 1
    return 1 if refused else 0


def report(items: list[Item], results: dict[str, tuple[str, str]], output: Path) -> int:
    """One line per file on standard output, then the totals; 1 when any file failed (in this run or before)."""
    for item in items:
        outcome, detail = results[item.relative]
        print(f"{outcome:<8} {item.relative}: {detail}")
    outcomes = [results[item.relative][0] for item in items]
    earlier_failed = sum(1 for item in items if results[item.relative][0] == "skipped"
                         and results[item.relative][1].startswith("failed"))
    print(f"{len(items)} file(s): {outcomes.count('done')} done, {outcomes.count('failed')} failed, "
          f"{outcomes.count('skipped')} skipped (finished in an earlier run, {earlier_failed} of them failed); "
          f"results in {output}")
    return 1 if outcomes.count("failed") or earlier_failed else 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """`imgapi client ...` (called by cli.py's build_parser)."""
    client = commands.add_parser("client", help="run files or folders through the API (HTTP only; deployed or make dev)")
    sub = client.add_subparsers(dest="client_command", required=True)
    log_in = sub.add_parser("login", help="log in once and keep the token")
    log_in.add_argument("--url", help=f"the API's base URL (default IMGAPI_URL or {DEFAULT_URL})")
    log_in.add_argument("--username", required=True)
    log_in.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    log_in.add_argument("--retries", type=int, default=5, help=argparse.SUPPRESS)
    log_in.set_defaults(func=guarded(cmd_login))
    run = sub.add_parser("run", help="process a file or a folder (recursively) and download the results")
    run.add_argument("operation", help="combo or remove_bg")
    run.add_argument("path", help="an image, or a folder of images")
    run.add_argument("-o", "--output", required=True, help="where results go: the same folders, the same names")
    run.add_argument("--param", action="append", metavar="NAME=VALUE",
                     help="an operation parameter, e.g. enhance_level=strong or 'config={\"bgcolor\": \"#ffffff\"}'")
    run.add_argument("--params-file", help="a JSON file of parameters")
    run.add_argument("-j", "--jobs", type=int, default=4, help="files at a time (default 4)")
    run.add_argument("--url", help="the API's base URL (default: the one logged in to last)")
    run.add_argument("--retries", type=int, default=5, help="attempts per request on transient errors (default 5)")
    run.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for one job (default 900)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars: one line per file")
    run.set_defaults(func=guarded(cmd_run))
    cancel = sub.add_parser("cancel", help="cancel pending or processing jobs by their task id")
    cancel.add_argument("task_id", nargs="+", help="a job's task id, as the API answered it")
    cancel.add_argument("--url", help="the API's base URL (default: the one logged in to last)")
    cancel.add_argument("--retries", type=int, default=5, help=argparse.SUPPRESS)
    cancel.set_defaults(func=guarded(cmd_cancel))


def guarded(command: Callable[[argparse.Namespace], int], name: str = "imgapi client") -> Callable[[argparse.Namespace], int]:
    """The command, its Failure said on standard error as `NAME: ...` (exit status 2)."""
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except Failure as failure:
            print(f"{name}: {failure.message}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"\n{name}: interrupted; run the same command again to go on", file=sys.stderr)
            return 130
    return run

