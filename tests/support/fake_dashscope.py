"""A local fake of Alibaba DashScope's HTTP API, following /work/shared/dashscope.md, for tests.

    with FakeDashScope() as fake:
        monkeypatch.setenv("DASHSCOPE_BASE_URL", fake.base_url)   # http://127.0.0.1:PORT/api/v1
        ...  # code under test talks to the fake with key fake.api_key ("sk-test")
        assert fake.submits[0].headers["X-DashScope-Async"] == "enable"

What it serves (everything under /api/v1 needs `Authorization: Bearer <api_key>`):

- POST /services/aigc/background-generation/generation/   wanx-background-generation-v2   async
- POST /services/aigc/image2image/image-synthesis[/]       aitryon, aitryon-plus, wanx2.1-imageedit,
                                                           wan2.5-i2i-preview   async
- POST /services/aigc/multimodal-generation/generation    qwen-image-edit[-plus|-max][-YYYY-MM-DD],
                                                           wan2.7-image[-pro]   synchronous
- GET  /tasks/{task_id}            PENDING -> RUNNING -> terminal, driven by the number of polls
- POST /tasks/{task_id}/cancel     only while PENDING
- GET  /results/{id}.png?Expires=..&OSSAccessKeyId=..&Signature=..   real PNG bytes (no auth, like a signed OSS link)

Tasks advance by polls, not by time, so tests are deterministic: a task answers PENDING to its
first `pending_polls` queries, RUNNING to the next `running_polls`, then its outcome (SUCCEEDED unless
scripted). A task counts as "in flight" for its model from submit until a poll (or a cancel) makes it
terminal; `max_in_flight` keeps the peak, and `concurrency_limits` are enforced at submit with
429 Throttling.RateQuota, as DashScope limits concurrent tasks per model.

Scripting (each script is consumed by the next matching request(s); `times=None` means forever):
fail_next_submit, fail_next_query, fail_next_download, task_outcome, hang_next_task, delay_next,
reset_next_submit.

Choices where dashscope.md says nothing (clients must not depend on them):
- Missing `X-DashScope-Async: enable` on an async model: 403 AccessDenied, "current user api does not
  support synchronous calls" (AccessDenied is a 403 code in the error table). The header is ignored
  on the synchronous multimodal endpoint.
- Missing `model` / `input`: 400 BadRequest.EmptyModel / BadRequest.EmptyInput (DashScope's common codes);
  a body that is not JSON: 400 InvalidParameter. A known model posted to another model's endpoint:
  400 InvalidParameter "url error, please check url!". An unknown path: 404 NotFound.
- A retired model answers 400 InvalidParameter "Model not exist." (`retired_status = 404` switches to
  404 ModelNotFound, the other documented form).
- Input URLs must be http(s) (wanx2.1-imageedit and qwen-image-edit also take `data:<mime>;base64,`),
  else 400 InvalidURL. The fake never downloads inputs, so image format/size rules are not checked.
- wanx2.1-imageedit: `function` must be one of DashScope's documented functions (IMAGEEDIT_FUNCTIONS);
  an empty prompt counts as missing. qwen-image-edit: exactly one message with 1-3 images and one text
  (<= 800 chars); `n` 1-6 (plain qwen-image-edit: 1); `size` "W*H" (512-2048 per side) is honoured
  except on plain qwen-image-edit, where it is ignored.
- Task responses: PENDING/RUNNING carry submit_time (and scheduled_time once running); every terminal
  state except UNKNOWN carries submit/scheduled/end times and `usage.image_count`; `task_metrics` is
  present when n > 1. A scripted partial failure that would fail every image makes the task FAILED.
- Cancel of an unknown task: 400 UnsupportedOperation, as for a task no longer PENDING.
- Result links expire `result_ttl_seconds` (24 h) after they are made, on the fake's own clock: `advance(s)`
  moves it on, so a test can expire every link it handed out. An expired link answers 403 AccessDenied
  "Request has expired." with an OSS-style XML body, as does a wrong or missing signature.

Strict where the real service is (docs/dashscope.md, "DashScope facts" of issue #20):
- Regions: `region` (default cn-beijing) is the region this fake plays; a model DashScope does not serve there
  answers 404 ModelNotFound (MODEL_REGIONS).
- Each family's required fields and ranges: qwen-image-edit (1-3 images, one text <= 800, n 1-6 or 1, `size`
  only on -plus/-max, sides 512-2048, and only with n = 1); wan2.5-i2i-preview (input.prompt <= 2000,
  input.images 1-3, n 1-4, size "W*H" with total in [768^2, 1280^2] and ratio <= 4); wan2.7-image (one text
  <= 5000, 0-9 images, n 1-4, size 1K/2K or "W*H" with total in [768^2, 2048^2] and ratio <= 8, no
  negative_prompt or prompt_extend).
- Output shape: a given `size`; else the aspect of the LAST input image at the family's total (qwen ~1024^2,
  wan2.5 1280^2, wan2.7 2K = 2048^2); wanx2.1-imageedit expand grows the input by its scales and
  super_resolution by its factor; background generation keeps the base image's size. An input's size is
  known when a test registers it (`input_sizes[url] = (w, h)`) or the URL is on 127.0.0.1 (the fake reads
  it); otherwise, and whenever `result_sizes[model]` is set, `result_size` stands in.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

BACKGROUND_MODEL = "wanx-background-generation-v2"
TRYON_MODELS = ("aitryon", "aitryon-plus")
IMAGEEDIT_MODEL = "wanx2.1-imageedit"
QWEN_EDIT_MODELS = ("qwen-image-edit", "qwen-image-edit-plus", "qwen-image-edit-max")
QWEN_SNAPSHOT = re.compile(r"qwen-image-edit-(plus|max)-\d{4}-\d{2}-\d{2}")
WAN25_MODEL = "wan2.5-i2i-preview"
WAN27_MODELS = ("wan2.7-image", "wan2.7-image-pro")
ASYNC_MODELS = (BACKGROUND_MODEL, *TRYON_MODELS, IMAGEEDIT_MODEL, WAN25_MODEL)
# Which region serves which model (pricing page sections, 2026).
BEIJING_ONLY = frozenset({BACKGROUND_MODEL, *TRYON_MODELS, IMAGEEDIT_MODEL})
REGIONS = ("cn-beijing", "ap-southeast-1", "us-east-1", "eu-central-1")


def model_regions(model: str) -> tuple[str, ...]:
    if model in BEIJING_ONLY:
        return ("cn-beijing",)
    return ("cn-beijing", "ap-southeast-1")


def _is_qwen(model: str) -> bool:
    return model in QWEN_EDIT_MODELS or bool(QWEN_SNAPSHOT.fullmatch(model))

API_PREFIX = "/api/v1"
BACKGROUND_PATH = f"{API_PREFIX}/services/aigc/background-generation/generation"
IMAGE2IMAGE_PATH = f"{API_PREFIX}/services/aigc/image2image/image-synthesis"
MULTIMODAL_PATH = f"{API_PREFIX}/services/aigc/multimodal-generation/generation"
GENERATION_PATHS = (BACKGROUND_PATH, IMAGE2IMAGE_PATH, MULTIMODAL_PATH)
ENDPOINT_MODELS = {
    BACKGROUND_PATH: frozenset({BACKGROUND_MODEL}),
    IMAGE2IMAGE_PATH: frozenset({*TRYON_MODELS, IMAGEEDIT_MODEL, WAN25_MODEL}),
    MULTIMODAL_PATH: frozenset({*QWEN_EDIT_MODELS, *WAN27_MODELS}),
}


def _endpoint_of(model: str) -> str | None:
    if _is_qwen(model):
        return MULTIMODAL_PATH
    return next((path for path, models in ENDPOINT_MODELS.items() if model in models), None)

# Concurrent-task limits from dashscope.md (per model).
DEFAULT_CONCURRENCY_LIMITS = {BACKGROUND_MODEL: 1, "aitryon": 5, "aitryon-plus": 5, IMAGEEDIT_MODEL: 2}

IMAGEEDIT_FUNCTIONS = frozenset({
    "stylization_all", "stylization_local", "description_edit", "description_edit_with_mask",
    "remove_watermark", "expand", "super_resolution", "colorization", "doodle", "control_cartoon_feature",
})

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"})
SYNC_CALL_MESSAGE = "current user api does not support synchronous calls"

# The code a scripted HTTP failure gets when the test names only a status.
DEFAULT_CODES = {400: "InvalidParameter", 401: "InvalidApiKey", 403: "AccessDenied", 404: "ModelNotFound",
                 429: "Throttling", 500: "InternalError", 502: "BadGateway", 503: "ModelUnavailable",
                 504: "GatewayTimeout"}
DEFAULT_MESSAGES = {
    "InvalidParameter": "Required parameter(s) missing or invalid, please check the request parameters.",
    "DataInspectionFailed": "Input or output data may contain inappropriate content.",
    "InvalidURL": "Invalid URL provided in your request.",
    "InvalidApiKey": "Invalid API-key provided.",
    "AccessDenied": "Access denied.",
    "Model.AccessDenied": "Model access denied.",
    "ModelNotFound": "Model not found.",
    "Throttling": "Requests throttling triggered.",
    "Throttling.RateQuota": "Requests rate limit exceeded, please try again later.",
    "Throttling.AllocationQuota": "Allocated quota exceeded, please increase your quota limit.",
    "InternalError": "An internal error has occured, please try again later or contact service support.",
    "InternalError.Timeout": "An internal timeout error has occured during execution.",
    "InternalError.Algo": "An internal error has occured during execution.",
    "ModelUnavailable": "Model is unavailable, please try again later.",
    "InvalidPerson": "The input image has no human body or multi human bodies.",
    "InvalidGarment": "Missing clothing image.",
}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def _timestamp(moment: datetime | None) -> str | None:
    """DashScope's "2025-07-08 09:45:07.614" (milliseconds)."""
    return moment.strftime(TIME_FORMAT)[:-3] if moment else None


class ApiError(Exception):
    """An HTTP error answer: top-level {"code", "message", "request_id"}."""

    def __init__(self, status: int, code: str, message: str | None = None, raw_body: bytes | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code
        self.message = message if message is not None else DEFAULT_MESSAGES.get(code, code)
        self.raw_body = raw_body


def _invalid(message: str, code: str = "InvalidParameter") -> ApiError:
    return ApiError(400, code, message)


class Headers(dict):
    """Request headers with case-insensitive lookup (keys stored lower-case)."""

    def __init__(self, items=()):
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default=None):
        return super().get(key.lower(), default)


@dataclass
class RecordedRequest:
    """One request as the fake received it (recorded before any validation)."""
    method: str
    path: str                      # without the query string
    query: dict[str, list[str]]
    headers: Headers
    body: Any                      # parsed JSON, or None when empty or not JSON
    raw: bytes

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None


@dataclass
class ResultImage:
    """A PNG the fake serves at `url`; width/height let tests check what was copied."""
    id: str
    url: str
    width: int
    height: int
    model: str
    task_id: str | None
    index: int
    _png: bytes | None = field(default=None, repr=False)

    def png(self) -> bytes:
        """The image bytes: a gradient whose colours depend on the id, so results differ."""
        if self._png is None:
            seed = int(hashlib.sha256(self.id.encode()).hexdigest()[:8], 16)
            start = np.array([seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF], np.float32)
            end = 255.0 - start
            ramp = np.linspace(0.0, 1.0, self.width, dtype=np.float32)[None, :, None]
            shade = np.linspace(0.85, 1.0, self.height, dtype=np.float32)[:, None, None]
            pixels = (start + (end - start) * ramp) * shade
            buffer = io.BytesIO()
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(buffer, "PNG")
            self._png = buffer.getvalue()
        return self._png


@dataclass(frozen=True)
class Outcome:
    """How a task ends. status RUNNING means it never ends (hangs); failed > 0 on SUCCEEDED is partial."""
    status: str = "SUCCEEDED"
    code: str | None = None
    message: str | None = None
    failed: int = 0


@dataclass
class FakeTask:
    """An async task: its request, its poll-driven progress and, once terminal, its results."""
    task_id: str
    model: str
    body: dict
    n: int
    outcome: Outcome
    pending_polls: int
    running_polls: int
    submit_time: datetime
    status: str = "PENDING"
    polls: int = 0
    scheduled_time: datetime | None = None
    end_time: datetime | None = None
    results: list[dict] = field(default_factory=list)   # [{"url"}|{"code","message"}]
    images: list[ResultImage] = field(default_factory=list)
    code: str | None = None
    message: str | None = None
    size: tuple[int, int] | None = None    # the results' (width, height)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass
class _Script:
    payload: Any
    times: int | None       # None: forever
    model: str | None = None


class FakeDashScope:
    """A DashScope HTTP API on 127.0.0.1 in a background thread; see the module docstring.

    Configuration attributes (change them at any time; tasks take pending/running polls at submit):
      api_key, pending_polls, running_polls, result_size, result_sizes, retired_models, retired_status,
      concurrency_limits, enforce_concurrency, query_rate_limit, require_result_signature.
    Observations: requests, tasks, results, in_flight, max_in_flight (plus submits / queries helpers).
    """

    def __init__(self, api_key: str = "sk-test", *, pending_polls: int = 1, running_polls: int = 1,
                 result_size: tuple[int, int] = (128, 96), enforce_concurrency: bool = True):
        self.api_key = api_key
        self.pending_polls = pending_polls
        self.running_polls = running_polls
        self.result_size = result_size
        self.result_sizes: dict[str, tuple[int, int]] = {}          # per-model override of result_size
        self.retired_models: set[str] = set()
        self.retired_status = 400                                    # 400 "Model not exist." or 404 ModelNotFound
        self.concurrency_limits: dict[str, int] = dict(DEFAULT_CONCURRENCY_LIMITS)
        self.enforce_concurrency = enforce_concurrency
        self.query_rate_limit: int | None = None                     # e.g. 20: task queries per second
        self.require_result_signature = True
        self.region = "cn-beijing"
        self.input_sizes: dict[str, tuple[int, int]] = {}           # an input URL's (width, height)
        self.result_ttl_seconds = 86400
        self._clock_offset = 0.0

        self.requests: list[RecordedRequest] = []
        self.tasks: dict[str, FakeTask] = {}
        self.results: dict[str, ResultImage] = {}                   # by result id
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()

        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._secret = uuid.uuid4().bytes
        self._submit_failures: list[_Script] = []
        self._submit_resets: list[_Script] = []
        self._query_failures: list[_Script] = []
        self._download_failures: list[_Script] = []
        self._outcomes: list[_Script] = []
        self._delays: dict[str, list[_Script]] = {"submit": [], "query": [], "download": []}
        self._query_times: deque[float] = deque()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> "FakeDashScope":
        """Listen on a free port of 127.0.0.1 and serve from a daemon thread."""
        self._closing.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-dashscope", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake scripted delays and drop kept-alive connections."""
        if self._server is None:
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> "FakeDashScope":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def root_url(self) -> str:
        """http://127.0.0.1:PORT (no path)."""
        assert self._server is not None, "FakeDashScope is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """What our code receives as DASHSCOPE_BASE_URL: http://127.0.0.1:PORT/api/v1."""
        return self.root_url + API_PREFIX

    def env(self) -> dict[str, str]:
        """Environment variables pointing a client at this fake."""
        return {"DASHSCOPE_BASE_URL": self.base_url, "DASHSCOPE_API_KEY": self.api_key}

    # ---------------------------------------------------------------- scripting

    def fail_next_submit(self, status: int = 429, code: str | None = None, message: str | None = None, *,
                         times: int | None = 1, model: str | None = None, raw_body: bytes | None = None) -> None:
        """Answer the next `times` generation requests (async submits and synchronous multimodal calls,
        of `model` if given) that pass authentication with an HTTP error `{"code","message","request_id"}`;
        `raw_body` replaces that JSON (e.g. an HTML gateway page)."""
        self._add(self._submit_failures, self._scripted_error(status, code, message, raw_body), times, model)

    def reset_next_submit(self, *, times: int | None = 1, model: str | None = None) -> None:
        """Take the next `times` generation requests (of `model` if given) as usual (the task is created, the images
        made), then reset the connection (an RST) instead of answering: DashScope has the work, the client hears
        nothing back."""
        self._add(self._submit_resets, True, times, model)

    def fail_next_query(self, status: int = 500, code: str | None = None, message: str | None = None, *,
                        times: int | None = 1, raw_body: bytes | None = None) -> None:
        """Answer the next `times` task queries (GET /tasks/{id}) with an HTTP error; they do not count as polls."""
        self._add(self._query_failures, self._scripted_error(status, code, message, raw_body), times, None)

    def fail_next_download(self, status: int = 403, *, times: int | None = 1) -> None:
        """Answer the next `times` result-image GETs with an OSS-style XML error (e.g. an expired link)."""
        self._add(self._download_failures, status, times, None)

    def task_outcome(self, status: str = "FAILED", code: str | None = None, message: str | None = None, *,
                     failed: int = 0, times: int | None = 1, model: str | None = None) -> None:
        """Make the next `times` submitted tasks (of `model` if given) end this way when they finish:

        - "FAILED": output.code/message (default code InternalError), e.g. ("FAILED", "InvalidPerson");
        - "SUCCEEDED" with failed=k: partial success, the last k of n results carry code/message
          (default DataInspectionFailed) instead of url; k >= n makes the task FAILED;
        - "UNKNOWN" or "CANCELED": the task reports that status;
        - "RUNNING": the task never finishes (see hang_next_task).
        """
        status = status.upper()
        if status not in {"SUCCEEDED", "FAILED", "UNKNOWN", "CANCELED", "RUNNING"}:
            raise ValueError(f"unsupported outcome {status!r}")
        if status == "FAILED":
            code = code or "InternalError"
        if status == "SUCCEEDED" and failed:
            code = code or "DataInspectionFailed"
        outcome = Outcome(status, code, message if message is not None else
                          (DEFAULT_MESSAGES.get(code, code) if code else None), failed)
        self._add(self._outcomes, outcome, times, model)

    def hang_next_task(self, *, times: int | None = 1, model: str | None = None) -> None:
        """The next `times` tasks stay RUNNING forever (for deadline tests); they also stay in flight."""
        self.task_outcome("RUNNING", times=times, model=model)

    def delay_next(self, seconds: float, *, on: str = "submit", times: int | None = 1,
                   model: str | None = None) -> None:
        """Sleep `seconds` before answering the next `times` accepted requests of a kind, for client timeouts:
        on="submit" (async submit, or a multimodal call while it counts as in flight), "query" or "download".
        Closing the fake interrupts the sleep."""
        if on not in self._delays:
            raise ValueError(f"on must be one of {sorted(self._delays)}")
        self._add(self._delays[on], seconds, times, model)

    def reset_scripts(self) -> None:
        """Forget every pending script."""
        with self._lock:
            for queue in (self._submit_failures, self._submit_resets, self._query_failures, self._download_failures,
                          self._outcomes, *self._delays.values()):
                queue.clear()

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on (result links expire on it): advance(86401) expires every link made so far."""
        with self._lock:
            self._clock_offset += seconds

    def now(self) -> float:
        return time.time() + self._clock_offset

    # ---------------------------------------------------------------- observation helpers

    @property
    def submits(self) -> list[RecordedRequest]:
        """Recorded POSTs to the generation endpoints (async submits and multimodal calls), in order."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and _generation_path(r.path)]

    def queries(self, task_id: str | None = None) -> list[RecordedRequest]:
        """Recorded task queries (GET /tasks/{id}), optionally of one task."""
        prefix = f"{API_PREFIX}/tasks/"
        with self._lock:
            return [r for r in self.requests if r.method == "GET" and r.path.startswith(prefix)
                    and (task_id is None or r.path == prefix + task_id)]

    def result_for_url(self, url: str) -> ResultImage:
        """The ResultImage a result URL (as the fake returned it) points at."""
        name = urlsplit(url).path.rsplit("/", 1)[-1]
        return self.results[name.removesuffix(".png")]

    # ---------------------------------------------------------------- internals: scripts

    @staticmethod
    def _scripted_error(status, code, message, raw_body) -> ApiError:
        code = code or DEFAULT_CODES.get(status, "InternalError")
        return ApiError(status, code, message, raw_body)

    def _add(self, queue: list[_Script], payload, times: int | None, model: str | None) -> None:
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            queue.append(_Script(payload, times, model))

    def _take(self, queue: list[_Script], model: str | None = None):
        """Consume one use of the first script matching `model`; None when there is none."""
        with self._lock:
            for script in queue:
                if script.model is None or script.model == model:
                    if script.times is not None:
                        script.times -= 1
                        if script.times <= 0:
                            queue.remove(script)
                    return script.payload
        return None

    def _delay(self, kind: str, model: str | None = None) -> None:
        seconds = self._take(self._delays[kind], model)
        if seconds:
            self._closing.wait(seconds)

    # ---------------------------------------------------------------- internals: requests

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _authenticate(self, headers: Headers) -> None:
        value = headers.get("Authorization")
        if not value:
            raise ApiError(401, "InvalidApiKey", "No API-key provided.")
        if value != f"Bearer {self.api_key}":
            raise ApiError(401, "InvalidApiKey", "Invalid API-key provided.")

    def _resolve_model(self, path: str, body: Any) -> str:
        """Common checks of a generation request: a JSON object with a known, live model for this endpoint."""
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object.")
        model = body.get("model")
        if not model:
            raise ApiError(400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.')
        if not isinstance(model, str) or _endpoint_of(model) is None:
            raise ApiError(404, "ModelNotFound", f"Model not found ({model})!")
        if self.region not in model_regions(model):
            raise ApiError(404, "ModelNotFound", f"Model not found ({model}) in region {self.region}!")
        if model in self.retired_models:
            if self.retired_status == 404:
                raise ApiError(404, "ModelNotFound", f"Model not found ({model})!")
            raise _invalid("Model not exist.")
        if _endpoint_of(model) != path:
            raise _invalid("url error, please check url!")
        if not isinstance(body.get("input"), dict) or not body["input"]:
            raise ApiError(400, "BadRequest.EmptyInput", "Required input parameter missing from request.")
        parameters = body.get("parameters", {})
        if parameters is not None and not isinstance(parameters, dict):
            raise _invalid("parameters must be an object.")
        return model

    def _size_for(self, model: str) -> tuple[int, int]:
        return self.result_sizes.get(model, self.result_size)

    def _new_image(self, model: str, task_id: str | None, index: int, size: tuple[int, int]) -> ResultImage:
        """Register a result image and its signed URL (called with the lock held)."""
        rid = uuid.uuid4().hex
        expires = int(self.now()) + self.result_ttl_seconds
        url = (f"{self.root_url}/results/{rid}.png?Expires={expires}&OSSAccessKeyId=LTAIfakeKeyId"
               f"&Signature={self._signature(rid, str(expires))}")
        image = ResultImage(rid, url, size[0], size[1], model, task_id, index)
        self.results[rid] = image
        return image

    def _signature(self, rid: str, expires: str) -> str:
        return hmac.new(self._secret, f"{rid}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def _enter_flight(self, model: str) -> None:
        """Count one more task of `model` in flight, or refuse it over the concurrency limit (lock held)."""
        limit = self.concurrency_limits.get(model)
        if self.enforce_concurrency and limit is not None and self.in_flight[model] >= limit:
            raise ApiError(429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
        self.in_flight[model] += 1
        self.max_in_flight[model] = max(self.max_in_flight[model], self.in_flight[model])

    def _leave_flight(self, model: str) -> None:
        self.in_flight[model] -= 1

    # ---------------------------------------------------------------- endpoints

    def submit(self, path: str, headers: Headers, body: Any) -> tuple[int, dict]:
        """POST to an async generation endpoint: validate, then create a PENDING task."""
        model = self._resolve_model(path, body)
        if headers.get("X-DashScope-Async", "").strip().lower() != "enable":
            raise ApiError(403, "AccessDenied", SYNC_CALL_MESSAGE)
        n = _validate_async(model, body["input"], body.get("parameters") or {})
        size = self._output_size(model, body)
        self._delay("submit", model)
        with self._lock:
            self._enter_flight(model)
            outcome = self._take(self._outcomes, model) or Outcome()
            task = FakeTask(str(uuid.uuid4()), model, body, n, outcome, max(0, self.pending_polls),
                            max(0, self.running_polls), datetime.now(), size=size)
            self.tasks[task.task_id] = task
        return 200, {"output": {"task_id": task.task_id, "task_status": "PENDING"}}

    def query(self, task_id: str) -> tuple[int, dict]:
        """GET /tasks/{id}: advance the task by one poll and describe it."""
        if self.query_rate_limit is not None:
            with self._lock:
                now = time.monotonic()
                while self._query_times and now - self._query_times[0] >= 1.0:
                    self._query_times.popleft()
                if len(self._query_times) >= self.query_rate_limit:
                    raise ApiError(429, "Throttling.RateQuota")
                self._query_times.append(now)
        self._delay("query")
        with self._lock:
            task = self.tasks.get(task_id)
            if task is None:
                return 200, {"output": {"task_id": task_id, "task_status": "UNKNOWN"}}
            self._advance(task)
            return 200, self._describe(task)

    def cancel(self, task_id: str) -> tuple[int, dict]:
        """POST /tasks/{id}/cancel: only a task still PENDING can be cancelled."""
        with self._lock:
            task = self.tasks.get(task_id)
            if task is None or task.status != "PENDING":
                raise ApiError(400, "UnsupportedOperation",
                               "Failed to cancel the task, please confirm if the task is in PENDING status.")
            task.status, task.end_time = "CANCELED", datetime.now()
            self._leave_flight(task.model)
        return 200, {}

    def multimodal(self, path: str, body: Any) -> tuple[int, dict]:
        """POST /services/aigc/multimodal-generation/generation: the synchronous qwen-image-edit family."""
        model = self._resolve_model(path, body)
        if model in WAN27_MODELS:
            n = _validate_wan27(body["input"], body.get("parameters") or {})
        else:
            n, _ = _validate_multimodal(model, body["input"], body.get("parameters") or {})
        size = self._output_size(model, body)
        with self._lock:
            self._enter_flight(model)
        try:
            self._delay("submit", model)
            with self._lock:
                images = [self._new_image(model, None, i, size) for i in range(n)]
        finally:
            with self._lock:
                self._leave_flight(model)
        return 200, {
            "output": {"choices": [{"finish_reason": "stop", "message": {
                "role": "assistant", "content": [{"image": image.url} for image in images]}}]},
            "usage": {"image_count": n, "width": size[0], "height": size[1]},
        }

    def download(self, name: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        """GET /results/{id}.png: the PNG bytes, if the signed link is intact."""
        status = self._take(self._download_failures)
        if status:
            return status, "application/xml", _oss_error("AccessDenied" if status == 403 else "InternalError",
                                                         "Scripted download failure.")
        rid = name.removesuffix(".png")
        with self._lock:
            image = self.results.get(rid)
        if image is None or not name.endswith(".png"):
            return 404, "application/xml", _oss_error("NoSuchKey", "The specified key does not exist.")
        expires = query.get("Expires", [""])[0]
        if self.require_result_signature:
            signature = query.get("Signature", [""])[0]
            if not hmac.compare_digest(signature, self._signature(rid, expires)):
                return 403, "application/xml", _oss_error(
                    "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        if expires.isdigit() and int(expires) < self.now():
            return 403, "application/xml", _oss_error("AccessDenied", "Request has expired.")
        self._delay("download")
        return 200, "image/png", image.png()

    # ---------------------------------------------------------------- output shapes

    def _input_size(self, url: Any) -> tuple[int, int] | None:
        """An input image's (width, height): registered by the test, or read from a URL on 127.0.0.1."""
        if not isinstance(url, str):
            return None
        if url in self.input_sizes:
            return self.input_sizes[url]
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            return None
        try:
            import requests
            response = requests.get(url, timeout=5)
            with Image.open(io.BytesIO(response.content)) as image:
                size = image.size
        except Exception:   # noqa: BLE001 - an unreadable input just has no known size
            return None
        with self._lock:
            self.input_sizes[url] = size
        return size

    def _output_size(self, model: str, body: dict) -> tuple[int, int]:
        """The (width, height) the real model would answer with (see the module docstring)."""
        if model in self.result_sizes:
            return self.result_sizes[model]
        inp, params = body.get("input") or {}, body.get("parameters") or {}
        given = re.fullmatch(r"(\d+)\*(\d+)", str(params.get("size") or ""))
        if given and model != "qwen-image-edit":
            return int(given[1]), int(given[2])
        if model == BACKGROUND_MODEL:
            return self._input_size(inp.get("base_image_url")) or self.result_size
        if model in TRYON_MODELS:
            return self._input_size(inp.get("person_image_url")) or self.result_size
        if model == IMAGEEDIT_MODEL:
            base = self._input_size(inp.get("base_image_url"))
            if base is None:
                return self.result_size
            w, h = base
            if inp.get("function") == "expand":
                return (round(w * (params.get("left_scale", 1.0) + params.get("right_scale", 1.0)) / 2),
                        round(h * (params.get("top_scale", 1.0) + params.get("bottom_scale", 1.0)) / 2))
            if inp.get("function") == "super_resolution":
                factor = params.get("upscale_factor", 1)
                return w * factor, h * factor
            return base
        if model == WAN25_MODEL:
            images, total = inp.get("images") or [], 1280 * 1280
        else:
            content = ((inp.get("messages") or [{}])[0] or {}).get("content") or []
            images = [item.get("image") for item in content if isinstance(item, dict) and "image" in item]
            total = 1024 * 1024 if _is_qwen(model) else (1024 * 1024 if params.get("size") == "1K" else 2048 * 2048)
        last = self._input_size(images[-1]) if images else None
        if last is None:
            return self.result_size
        scale = (total / (last[0] * last[1])) ** 0.5   # the aspect of the LAST image at the family's total
        return round(last[0] * scale), round(last[1] * scale)

    # ---------------------------------------------------------------- task progress

    def _advance(self, task: FakeTask) -> None:
        """One poll: PENDING for pending_polls, RUNNING for running_polls, then the outcome (lock held)."""
        if task.terminal:
            return
        task.polls += 1
        if task.polls <= task.pending_polls:
            task.status = "PENDING"
        elif task.outcome.status == "RUNNING" or task.polls <= task.pending_polls + task.running_polls:
            task.status = "RUNNING"
            task.scheduled_time = task.scheduled_time or datetime.now()
        else:
            self._finish(task)

    def _finish(self, task: FakeTask) -> None:
        outcome = task.outcome
        now = datetime.now()
        task.scheduled_time = task.scheduled_time or now
        task.end_time = now
        status = outcome.status
        if status == "SUCCEEDED" and outcome.failed >= task.n:
            status = "FAILED"
        if status == "SUCCEEDED":
            size = task.size or self._size_for(task.model)
            good = task.n - outcome.failed
            for i in range(task.n):
                if i < good:
                    image = self._new_image(task.model, task.task_id, i, size)
                    task.images.append(image)
                    task.results.append({"url": image.url})
                else:
                    task.results.append({"code": outcome.code, "message": outcome.message})
        elif status == "FAILED":
            task.code = outcome.code or "InternalError"
            task.message = outcome.message or DEFAULT_MESSAGES.get(task.code, task.code)
        task.status = status
        self._leave_flight(task.model)

    def _describe(self, task: FakeTask) -> dict:
        """The body of a task query, as DashScope shapes it for this task's model and state."""
        output: dict[str, Any] = {"task_id": task.task_id, "task_status": task.status}
        if task.status == "UNKNOWN":
            return {"output": output}
        output["submit_time"] = _timestamp(task.submit_time)
        if task.scheduled_time:
            output["scheduled_time"] = _timestamp(task.scheduled_time)
        if not task.terminal:
            return {"output": output}
        output["end_time"] = _timestamp(task.end_time)
        if task.status == "SUCCEEDED":
            if task.model in TRYON_MODELS:
                output["image_url"] = task.images[0].url
            else:
                output["results"] = [dict(r) for r in task.results]
        elif task.status == "FAILED":
            output["code"], output["message"] = task.code, task.message
        if task.n > 1:
            succeeded = len(task.images)
            output["task_metrics"] = {"TOTAL": task.n, "SUCCEEDED": succeeded, "FAILED": task.n - succeeded}
        return {"output": output, "usage": {"image_count": len(task.images)}}


# -------------------------------------------------------------------- validation (pure functions)

def _generation_path(path: str) -> str | None:
    """The canonical generation path (trailing slash optional), or None."""
    path = path.rstrip("/")
    return path if path in GENERATION_PATHS else None


def _check_url(value: Any, name: str, *, allow_data: bool = False, required: bool = True) -> None:
    if value is None or value == "":
        if required:
            raise _invalid(f"Required parameter input.{name} missing.")
        return
    if not isinstance(value, str):
        raise _invalid(f"input.{name} must be a string URL.")
    if allow_data and re.match(r"^data:[\w.+-]+/[\w.+-]+;base64,[A-Za-z0-9+/=\s]+$", value):
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(f"input.{name} is not a valid http(s) URL.", code="InvalidURL")


def _check_int(params: dict, name: str, lo: int, hi: int) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _invalid(f"parameters.{name} must be an integer in [{lo}, {hi}].")
    return value


def _check_number(params: dict, name: str, lo: float, hi: float) -> None:
    value = params.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise _invalid(f"parameters.{name} must be a number in [{lo}, {hi}].")


def _check_bool(params: dict, name: str) -> None:
    if name in params and not isinstance(params[name], bool):
        raise _invalid(f"parameters.{name} must be a boolean.")


def _check_text(container: dict, name: str, *, max_len: int | None = None, required: bool = False,
                where: str = "input") -> str | None:
    value = container.get(name)
    if value is None or value == "":
        if required:
            raise _invalid(f"Required parameter {where}.{name} missing.")
        return None
    if not isinstance(value, str):
        raise _invalid(f"{where}.{name} must be a string.")
    if max_len is not None and len(value) > max_len:
        raise _invalid(f"{where}.{name} is longer than {max_len} characters.")
    return value


def _validate_async(model: str, inp: dict, params: dict) -> int:
    """Validate an async submit's input/parameters per dashscope.md; returns n (images asked for)."""
    if model == BACKGROUND_MODEL:
        _check_url(inp.get("base_image_url"), "base_image_url")
        _check_url(inp.get("ref_image_url"), "ref_image_url", required=False)
        ref_prompt = _check_text(inp, "ref_prompt")
        _check_text(inp, "neg_ref_prompt")
        if not inp.get("ref_image_url") and not ref_prompt:
            raise _invalid("At least one of input.ref_image_url and input.ref_prompt is required.")
        n = _check_int(params, "n", 1, 4) or 1
        if "model_version" in params and params["model_version"] not in ("v2", "v3"):
            raise _invalid('parameters.model_version must be "v2" or "v3".')
        _check_int(params, "noise_level", 0, 999)
        _check_number(params, "ref_prompt_weight", 0, 1)
        return n
    if model in TRYON_MODELS:
        _check_url(inp.get("person_image_url"), "person_image_url")
        _check_url(inp.get("top_garment_url"), "top_garment_url", required=False)
        _check_url(inp.get("bottom_garment_url"), "bottom_garment_url", required=False)
        if not inp.get("top_garment_url") and not inp.get("bottom_garment_url"):
            raise _invalid("At least one of input.top_garment_url and input.bottom_garment_url is required.")
        if "resolution" in params and (isinstance(params["resolution"], bool)
                                       or params["resolution"] not in (-1, 1024, 1280)):
            raise _invalid("parameters.resolution must be -1, 1024 or 1280.")
        _check_bool(params, "restore_face")
        return 1
    if model == WAN25_MODEL:
        _check_text(inp, "prompt", max_len=2000, required=True)
        _check_text(inp, "negative_prompt", max_len=500)
        images = inp.get("images")
        if not isinstance(images, list) or not 1 <= len(images) <= 3:
            raise _invalid("input.images must hold 1 to 3 image URLs.")
        for url in images:
            _check_url(url, "images", allow_data=True)
        n = _check_int(params, "n", 1, 4) or 4
        _check_pixels(params, min_total=768 * 768, max_total=1280 * 1280, max_ratio=4)
        _check_bool(params, "prompt_extend")
        _check_bool(params, "watermark")
        _check_int(params, "seed", 0, 2147483647)
        return n
    if model == IMAGEEDIT_MODEL:
        function = inp.get("function")
        if not function:
            raise _invalid("Required parameter input.function missing.")
        if function not in IMAGEEDIT_FUNCTIONS:
            raise _invalid(f"input.function {function!r} is not supported.")
        _check_text(inp, "prompt", max_len=800, required=True)
        _check_url(inp.get("base_image_url"), "base_image_url", allow_data=True)
        n = _check_int(params, "n", 1, 4) or 1
        _check_int(params, "seed", 0, 2147483647)
        _check_bool(params, "watermark")
        if function == "expand":
            for side in ("top_scale", "bottom_scale", "left_scale", "right_scale"):
                _check_number(params, side, 1.0, 2.0)
        if function == "super_resolution":
            _check_int(params, "upscale_factor", 1, 4)
        if function == "description_edit_with_mask":
            _check_url(inp.get("mask_image_url"), "mask_image_url", allow_data=True)
        return n
    raise AssertionError(model)   # _resolve_model admits only known async models here


def _validate_multimodal(model: str, inp: dict, params: dict) -> tuple[int, tuple[int, int] | None]:
    """Validate a qwen-image-edit call; returns n and the requested (width, height) or None."""
    messages = inp.get("messages")
    if not isinstance(messages, list) or len(messages) != 1 or not isinstance(messages[0], dict):
        raise _invalid("input.messages must hold exactly one message.")
    message = messages[0]
    if message.get("role") != "user":
        raise _invalid('The message role must be "user".')
    content = message.get("content")
    if not isinstance(content, list):
        raise _invalid("message.content must be a list.")
    images, texts = [], []
    for item in content:
        if not isinstance(item, dict) or len(item) != 1 or not ({"image", "text"} & item.keys()):
            raise _invalid('Each content item must be {"image": url} or {"text": prompt}.')
        (images if "image" in item else texts).append(item)
    if not 1 <= len(images) <= 3:
        raise _invalid("The message must contain 1 to 3 images.")
    if len(texts) != 1:
        raise _invalid("The message must contain exactly one text.")
    for item in images:
        _check_url(item["image"], "messages.content.image", allow_data=True)
    _check_text(texts[0], "text", max_len=800, required=True, where="messages.content")
    n = _check_int(params, "n", 1, 1 if model == "qwen-image-edit" else 6) or 1
    if params.get("size") is not None and model == "qwen-image-edit":
        raise _invalid("parameters.size is not supported by qwen-image-edit.")
    if params.get("size") is not None and n != 1:
        raise _invalid("parameters.size can be set only when n is 1.")
    _check_text(params, "negative_prompt", max_len=500, where="parameters")
    _check_bool(params, "watermark")
    _check_bool(params, "prompt_extend")
    _check_int(params, "seed", 0, 2147483647)
    size = None
    if params.get("size") is not None and model != "qwen-image-edit":
        match = re.fullmatch(r"(\d+)\*(\d+)", str(params["size"]))
        if not match or not all(512 <= int(v) <= 2048 for v in match.groups()):
            raise _invalid('parameters.size must be "W*H" with sides in [512, 2048].')
        size = (int(match[1]), int(match[2]))
    return n, size


def _check_pixels(params: dict, *, min_total: int, max_total: int, max_ratio: float) -> None:
    """`size` "W*H" with W*H in [min_total, max_total] and the long side at most max_ratio times the short one."""
    if params.get("size") is None:
        return
    match = re.fullmatch(r"(\d+)\*(\d+)", str(params["size"]))
    if not match:
        raise _invalid('parameters.size must be "W*H".')
    w, h = int(match[1]), int(match[2])
    if not min_total <= w * h <= max_total or max(w, h) > max_ratio * min(w, h):
        raise _invalid(f"parameters.size {w}*{h} is out of range: total pixels in [{min_total}, {max_total}], "
                       f"aspect ratio at most {max_ratio:g}:1.")


def _validate_wan27(inp: dict, params: dict) -> int:
    """Validate a wan2.7-image call (one text, 0-9 images); returns n."""
    messages = inp.get("messages")
    if not isinstance(messages, list) or len(messages) != 1 or not isinstance(messages[0], dict):
        raise _invalid("input.messages must hold exactly one message.")
    content = messages[0].get("content")
    if messages[0].get("role") != "user" or not isinstance(content, list):
        raise _invalid('The message must be {"role": "user", "content": [...]}.')
    texts = [item for item in content if isinstance(item, dict) and "text" in item]
    images = [item for item in content if isinstance(item, dict) and "image" in item]
    if len(texts) != 1 or len(texts) + len(images) != len(content) or len(images) > 9:
        raise _invalid("The message must contain exactly one text and at most 9 images.")
    for item in images:
        _check_url(item["image"], "messages.content.image", allow_data=True)
    _check_text(texts[0], "text", max_len=5000, required=True, where="messages.content")
    for unsupported in ("negative_prompt", "prompt_extend"):
        if unsupported in params:
            raise _invalid(f"parameters.{unsupported} is not supported by wan2.7-image.")
    n = _check_int(params, "n", 1, 4) or 1
    if params.get("size") not in (None, "1K", "2K"):
        _check_pixels(params, min_total=768 * 768, max_total=2048 * 2048, max_ratio=8)
    _check_bool(params, "watermark")
    _check_int(params, "seed", 0, 2147483647)
    return n


def _oss_error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{uuid.uuid4().hex.upper()[:24]}</RequestId><HostId>fake-oss</HostId></Error>").encode()


# -------------------------------------------------------------------- HTTP plumbing

class _ConnectionReset(Exception):
    """Raised while routing a request the fake was scripted to answer with a reset connection."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeDashScope

    def handle_error(self, request, client_address):
        # A connection the fake itself cut while closing (e.g. mid scripted delay) is not worth a traceback.
        if not self.fake._closing.is_set():
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Parses, records and routes one request; all behaviour lives in FakeDashScope."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body go out in two writes: avoid 40 ms delayed-ACK stalls
    server: _Server
    timeout = 30   # an idle kept-alive connection's thread gives up after this

    def setup(self):
        super().setup()
        with self.server.fake._lock:
            self.server.fake._connections.add(self.connection)

    def finish(self):
        with self.server.fake._lock:
            self.server.fake._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format, *args):   # keep test output quiet
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        raw = self._read_body()
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        try:
            body = json.loads(raw) if raw else None
            bad_json = False
        except ValueError:
            body, bad_json = None, True
        fake._record(RecordedRequest(method, path, query, Headers(self.headers.items()), body, raw))
        request_id = str(uuid.uuid4())
        try:
            self._answer(fake, method, path, query, body, bad_json, request_id)
        except _ConnectionReset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()  # an RST: no answer at all
            self.close_connection = True

    def _answer(self, fake: FakeDashScope, method: str, path: str, query: dict, body: Any, bad_json: bool,
                request_id: str) -> None:
        try:
            if method == "GET" and path.startswith("/results/"):
                status, content_type, payload = fake.download(path.removeprefix("/results/"), query)
                return self._send(status, content_type, payload)
            if not path.startswith(API_PREFIX + "/"):
                raise ApiError(404, "NotFound", f"Not found: {path}")
            fake._authenticate(Headers(self.headers.items()))
            status, answer = self._route(fake, method, path, body, bad_json)
        except ApiError as error:
            if error.raw_body is not None:
                return self._send(error.status, "text/html", error.raw_body)
            status, answer = error.status, {"code": error.code, "message": error.message}
        answer["request_id"] = request_id
        self._send(status, "application/json", json.dumps(answer).encode())

    def _route(self, fake: FakeDashScope, method: str, path: str, body: Any, bad_json: bool) -> tuple[int, dict]:
        generation = _generation_path(path)
        if generation and method == "POST":
            model = body.get("model") if isinstance(body, dict) else None
            reset = fake._take(fake._submit_resets, model)
            scripted = fake._take(fake._submit_failures, model)
            if scripted:
                raise scripted
            if bad_json:
                raise _invalid("The request body is not valid JSON.")
            if generation == MULTIMODAL_PATH:
                answer = fake.multimodal(generation, body)
            else:
                answer = fake.submit(generation, Headers(self.headers.items()), body)
            if reset:  # the work was done (and would be billed); its answer never leaves
                raise _ConnectionReset()
            return answer
        match = re.fullmatch(rf"{API_PREFIX}/tasks/([^/]+)(/cancel)?", path)
        if match and method == "GET" and not match[2]:
            scripted = fake._take(fake._query_failures)
            if scripted:
                raise scripted
            return fake.query(match[1])
        if match and method == "POST" and match[2]:
            return fake.cancel(match[1])
        raise ApiError(404, "NotFound", f"Not found: {method} {path}")

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
