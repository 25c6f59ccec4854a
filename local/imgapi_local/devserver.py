"""The local stack behind `make dev`: the whole API on localhost over an in-process AWS, no Docker.

- moto's server on 127.0.0.1 is the AWS endpoint (so presigned URLs work from curl and a browser), with S3's POST
  policy enforced in front of it (s3_post_policy.py: moto itself accepts any presigned POST);
- every table, queue, bucket and secret of template.yaml is created in it (provision.py);
- every HttpApi route of template.yaml is served by calling the real handler with an API Gateway v2 event;
- every SQS event source runs its function on its queue (batch size, partial batch responses, redrive to the DLQ);
- every S3 event source gets its notifications: the bucket notifies an internal queue, whose S3 events are
  handed to the function as S3 would hand them;
- every Schedule event runs its function at its rate.

moto is made atomic where AWS is while the stack runs (moto_atomic.py). Each background thread (queue pollers,
schedules, the HTTP server's loop) survives its errors as Lambda's pollers do: a failed iteration is logged with its
traceback and the thread goes on after a short pause.
"""
from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from .provision import reset_caches

DEMO_USER, DEMO_PASSWORD = "test_user", "test_password"
STATE_FILE = ".imgapi-dev.json"
# API Gateway refuses larger payloads before Lambda sees them (Lambda's own limit is 6 MB).
MAX_REQUEST_BYTES = 10 * 1024 * 1024
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024
# Locally a failed message comes back after this many seconds rather than the queue's full visibility timeout.
LOCAL_RETRY_DELAY_SECONDS = 1
# Locally a failed webhook is retried within seconds (so that a developer sees a retry), unless the environment
# sets WEBHOOK_RETRY_SCHEDULE; on AWS the template's WebhookRetrySchedule backs off for over a day.
LOCAL_WEBHOOK_RETRY_SCHEDULE = "1,2,5,15,60"
# How long a background thread waits after a failed iteration, so that a lasting error does not spin.
ERROR_PAUSE_SECONDS = 1.0


_STACK_COUNTER = itertools.count(1)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of concurrent clients (the load tests) got connection
    # resets. The kernel caps this at net.core.somaxconn.
    request_queue_size = 1024


class PortInUse(RuntimeError):
    pass


def _task_id_of(body: bytes, path: str) -> str | None:
    try:
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("task_id"), str):
            return data["task_id"]
    except (ValueError, UnicodeDecodeError):
        pass
    parts = path.rstrip("/").split("/")
    return parts[-1] if len(parts) > 2 and parts[-2] in ("status", "result", "jobs") else None


@dataclass
class QueueSource:
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    threads: int
    s3_notifications: bool = False


class LocalStack:
    """Start with start(), stop with stop(); `url` is the API's base URL, `aws_url` the AWS endpoint."""

    def __init__(self, port: int = 8000, aws_port: int = 0, host: str = "127.0.0.1",
                 log: Callable[[str], None] | None = None, worker_threads: int = 2, state_file: Path | None = None,
                 schedule_seconds: float | None = None, error_pause_seconds: float = ERROR_PAUSE_SECONDS):
        """port=0: any free port (`url` tells which, once started). schedule_seconds: run every Schedule event this
        often instead of at its rate (tests)."""
        self.state_file = state_file
        self.schedule_seconds = schedule_seconds
        self.error_pause_seconds = error_pause_seconds
        self.host, self.port = host, port
        self.aws_port = aws_port or free_port(host)
        self.log = log or (lambda line: print(line, flush=True))
        self.worker_threads = worker_threads
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._moto = None
        self._mock = None
        self._http: ThreadingHTTPServer | None = None
        self._saved_env: dict[str, str | None] = {}
        self.sources: list[QueueSource] = []
        self.stack = None
        self._lock = threading.Lock()
        self._instances: dict[str, int] = {}
        # Each stack gets its own "containers": modules imported for another stack (or for tests on
        # moto's in-memory mock) hold clients bound to that other AWS.
        self.namespace = f"_stack{next(_STACK_COUNTER)}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def aws_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    # -- lifecycle -----------------------------------------------------------------------------

    def _setenv(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def start(self) -> "LocalStack":
        for port in (self.port, self.aws_port):
            if port and not port_is_free(self.host, port):
                raise PortInUse(f"port {port} on {self.host} is already in use")
        from .s3_post_policy import PolicyCheckingMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        from moto import mock_aws

        # One in-memory AWS, two doors: the functions call it in-process (moto's mock, no HTTP: a
        # DynamoDB or SQS call costs ~1 ms instead of ~8 through the server), and everything outside
        # (curl, browsers following presigned URLs, `aws --endpoint-url`) uses the server on
        # 127.0.0.1. The functions' S3 endpoint is the server's address, so the URLs they presign
        # point at it, and moto's custom-endpoint support still answers their own S3 calls in-process.
        # Both doors share moto's backends, so they see the same tables, queues and objects.
        self._mock = mock_aws()
        self._mock.start()
        from .moto_atomic import make_atomic

        self._restore_moto = make_atomic()  # AWS's atomicity, the same the tests' in-memory AWS has
        self._moto = PolicyCheckingMotoServer(self.host, self.aws_port)
        self._moto.start()
        region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self._saved_env.setdefault("AWS_ENDPOINT_URL", os.environ.pop("AWS_ENDPOINT_URL", None))
        self._setenv({
            "AWS_ENDPOINT_URL_S3": self.aws_url, "MOTO_S3_CUSTOM_ENDPOINTS": self.aws_url,
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": region, "AWS_REGION": region, "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "true",
        })
        self._saved_env.setdefault("AWS_SESSION_TOKEN", os.environ.pop("AWS_SESSION_TOKEN", None))
        self._saved_env.setdefault("AWS_PROFILE", os.environ.pop("AWS_PROFILE", None))
        reset_caches()

        from .provision import provision
        from .template import load_template

        self.stack = provision(load_template())
        self._apply_bucket_cors()
        # The functions' own logs are JSON for CloudWatch; locally the one-line summaries below are the
        # log, and the functions' own lines show from WARNING up unless LOG_LEVEL says otherwise.
        # A variable the template sets from a stack parameter (DASHSCOPE_BASE_URL, DASHSCOPE_MODEL_*, MAX_UPLOAD_BYTES,
        # ...) keeps the value the developer's environment gives it, as a parameter override would when deploying.
        overridden = {name for name in self.stack.parameter_variables() if os.environ.get(name)}
        environment = {k: v for k, v in self.stack.environment().items() if k not in overridden}
        if "WEBHOOK_RETRY_SCHEDULE" not in overridden:
            environment["WEBHOOK_RETRY_SCHEDULE"] = LOCAL_WEBHOOK_RETRY_SCHEDULE
        self._setenv({**environment, "POWERTOOLS_LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")})
        reset_caches()
        self._create_demo_user()
        self.sources = self._queue_sources()
        self._start_http()
        if self.state_file:
            # How `imgapi users --local` finds this stack's AWS endpoint and users table.
            self.state_file.write_text(json.dumps({"url": self.url, "aws_url": self.aws_url,
                                                   "users_table": os.environ["USERS_TABLE"]}))
        for source in self.sources:
            for _ in range(source.threads):
                self._spawn(self._poll, source)
        for function, seconds in self._schedules():
            self._spawn(self._run_schedule, function, self.schedule_seconds or seconds)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.state_file:
            self.state_file.unlink(missing_ok=True)
        if self._http:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=30)
        if self._moto:
            self._moto.stop()
        if self._mock:
            self._mock.stop()
            self._restore_moto()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_caches()

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _spawn(self, target: Callable, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _log_safely(self, line: str) -> None:
        """Log, and if the log itself fails (a closed pipe), say so on stderr rather than lose the thread."""
        try:
            self.log(line)
        except Exception as exc:
            try:
                print(f"imgapi dev: could not log ({type(exc).__name__}: {exc}): {line}", file=sys.stderr, flush=True)
            except Exception:
                pass

    def _keep_going(self, name: str, iteration: Callable[[], None]) -> None:
        """Run `iteration` until the stack stops. A failed iteration is logged with its traceback and, after a short
        pause (a lasting error must not spin), the next one runs: one error never ends a background thread."""
        while not self._stop.is_set():
            try:
                iteration()
            except Exception as exc:
                if self._stop.is_set():  # the endpoint is going away at shutdown
                    return
                self._log_safely(f"{time.strftime('%H:%M:%S')} {name}: {type(exc).__name__}: {exc}; going on in "
                                 f"{self.error_pause_seconds:g} s\n{traceback.format_exc().rstrip()}")
                self._stop.wait(self.error_pause_seconds)

    def _apply_bucket_cors(self) -> None:
        """Each bucket's CorsConfiguration from the template: set on the bucket (GetBucketCors answers as S3's would)
        and enforced in front of moto (S3Cors), so a browser page meets the same CORS locally as on AWS."""
        import boto3

        from .s3_post_policy import cors_rules

        for logical_id, resource in self.stack.template["Resources"].items():
            if resource["Type"] != "AWS::S3::Bucket":
                continue
            bucket = self.stack.resolver.refs[logical_id]
            configuration = (resource.get("Properties") or {}).get("CorsConfiguration")
            rules = cors_rules(self.stack.resolver.resolve(configuration)) if configuration else []
            if rules:
                boto3.client("s3").put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
            self._moto.cors[bucket] = rules

    def _create_demo_user(self) -> None:
        from imgapi.auth import users

        users.create_user(DEMO_USER, DEMO_PASSWORD)

    # -- event sources -------------------------------------------------------------------------

    def _queue_sources(self) -> list[QueueSource]:
        import boto3

        from .template import functions

        sources = []
        resolver = self.stack.resolver
        sqs, s3 = boto3.client("sqs"), boto3.client("s3")
        notifications: dict[str, list[dict]] = {}
        for spec in functions(self.stack.template):
            for name, event in spec.events.items():
                props = event.get("Properties") or {}
                if event["Type"] == "SQS":
                    queue_id = props["Queue"]["Fn::GetAtt"][0]
                    limit = int(resolver.resolve((props.get("ScalingConfig") or {}).get("MaximumConcurrency", 2)))
                    sources.append(QueueSource(spec.logical_id, resolver.refs[queue_id],
                                               resolver.get_att(queue_id, "Arn"), int(props.get("BatchSize", 10)),
                                               max(1, min(limit, self.worker_threads))))
                elif event["Type"] == "S3":
                    # S3 cannot call a local function: it notifies a queue, and we hand its events on.
                    queue_name = f"imgapi-local-s3-{spec.logical_id}-{name}"
                    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
                    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                    bucket = resolver.ref(props["Bucket"]["Ref"])
                    events = props["Events"] if isinstance(props["Events"], list) else [props["Events"]]
                    config = {"QueueArn": arn, "Events": events, "Id": f"{spec.logical_id}-{name}"}
                    rules = (resolver.resolve(props.get("Filter") or {}).get("S3Key") or {}).get("Rules")
                    if rules:  # SAM's S3Key.Rules is the S3 API's Key.FilterRules
                        config["Filter"] = {"Key": {"FilterRules": rules}}
                    notifications.setdefault(bucket, []).append(config)
                    sources.append(QueueSource(spec.logical_id, url, arn, 10, 1, s3_notifications=True))
        for bucket, configs in notifications.items():
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs})
        return sources

    def _schedules(self) -> list[tuple[str, float]]:
        """(function, period in seconds) of every Schedule event: rate(N minute|minutes|hour|hours|day|days)."""
        from .template import functions

        units = {"minute": 60, "hour": 3600, "day": 86400}
        schedules = []
        for spec in functions(self.stack.template):
            for event in spec.events.values():
                if event["Type"] == "Schedule":
                    amount, unit = event["Properties"]["Schedule"].removeprefix("rate(").rstrip(")").split()
                    schedules.append((spec.logical_id, int(amount) * units[unit.rstrip("s")]))
        return schedules

    def _run_schedule(self, function: str, seconds: float) -> None:
        """A Schedule event: the function every `seconds`, as EventBridge would invoke it."""
        from .events import LambdaContext, scheduled_event
        from .template import functions

        spec = next(s for s in functions(self.stack.template) if s.logical_id == function)
        timeout = int(spec.properties.get("Timeout", 30))
        handler = self._handler_loader(spec, 0)

        def iteration() -> None:
            if self._stop.wait(seconds):
                return
            started = time.monotonic()
            try:
                outcome = f"-> {handler()(scheduled_event(function), LambdaContext(function, timeout))}"
            except Exception as exc:  # the function failed (as it would in Lambda): logged, the schedule goes on
                outcome = f"failed: {type(exc).__name__}: {exc}\n{traceback.format_exc().rstrip()}"
            self.log(f"{time.strftime('%H:%M:%S')} {function} (schedule) {outcome} "
                     f"({(time.monotonic() - started) * 1000:.0f} ms)")

        self._keep_going(f"{function} (schedule)", iteration)

    def _handler_loader(self, spec, instance: int) -> Callable[[], Callable]:
        """The function's handler, imported on first use: a module that fails to import (a syntax error being fixed)
        fails that iteration only, and the next one imports it again."""
        from .handlers import load_handler

        loaded: list[Callable] = []

        def handler() -> Callable:
            if not loaded:
                loaded.append(load_handler(spec, instance, self.namespace))
            return loaded[0]
        return handler

    def _poll(self, source: QueueSource) -> None:
        """One poller of a queue, as Lambda's event source mapping runs the function on it."""
        import boto3

        from .template import functions

        spec = next(s for s in functions(self.stack.template) if s.logical_id == source.function)
        with self._lock:  # each poller is its own "container" of the function
            self._instances[source.function] = instance = self._instances.get(source.function, -1) + 1
        handler = self._handler_loader(spec, instance)
        sqs = boto3.client("sqs")
        kind = "S3 notifications" if source.s3_notifications else "queue"
        self._keep_going(f"{source.function} ({kind} poller {instance})",
                         lambda: self._poll_once(source, spec, handler, sqs))

    def _poll_once(self, source: QueueSource, spec, handler: Callable[[], Callable], sqs) -> None:
        """Receive one batch, run the function on it, delete what succeeded and put back what failed."""
        from .events import LambdaContext, sqs_event

        timeout = int(spec.properties.get("Timeout", 30))
        messages = sqs.receive_message(QueueUrl=source.queue_url, MaxNumberOfMessages=min(source.batch_size, 10),
                                       WaitTimeSeconds=1, AttributeNames=["All"],
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if source.s3_notifications:
            # S3 sends an s3:TestEvent when notifications are configured; it is not an invocation.
            tests = [m for m in messages if "Records" not in json.loads(m["Body"])]
            for m in tests:
                self._settle(sqs, source, m, failed=False)
            messages = [m for m in messages if m not in tests]
        if not messages:
            return
        started = time.monotonic()
        if source.s3_notifications:
            failed = self._deliver_s3(handler, spec, messages, timeout)
        else:
            failed = self._deliver_sqs(handler, spec, source, messages, timeout, sqs_event, LambdaContext)
        unsettled = [m for m in messages if not self._settle(sqs, source, m, failed=m["MessageId"] in failed)]
        tasks = ",".join(filter(None, (_task_id_of(m["Body"].encode(), "") for m in messages))) or "-"
        outcome = "ok" if not failed else f"{len(failed)} of {len(messages)} failed (will retry)"
        if unsettled:
            outcome += f"; {len(unsettled)} not deleted or put back (they come back after the visibility timeout)"
        self.log(f"{time.strftime('%H:%M:%S')} {source.function} {len(messages)} record(s) task={tasks} "
                 f"-> {outcome} ({(time.monotonic() - started) * 1000:.0f} ms)")

    def _settle(self, sqs, source: QueueSource, message: dict, *, failed: bool) -> bool:
        """Delete a processed message, or make a failed one visible again soon, as the event source mapping does.
        An error (ReceiptHandleIsInvalid, a lost connection) is logged with its traceback and the batch's other
        messages are still settled: the message comes back after its visibility timeout, as on AWS."""
        try:
            if failed:
                sqs.change_message_visibility(QueueUrl=source.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=LOCAL_RETRY_DELAY_SECONDS)
            else:
                sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=message["ReceiptHandle"])
            return True
        except Exception as exc:
            if not self._stop.is_set():
                what = "put back" if failed else "delete"
                self._log_safely(f"{time.strftime('%H:%M:%S')} {source.function}: cannot {what} message "
                                 f"{message['MessageId']}: {type(exc).__name__}: {exc}\n"
                                 f"{traceback.format_exc().rstrip()}")
            return False

    def _deliver_sqs(self, handler, spec, source, messages, timeout, sqs_event, LambdaContext) -> set[str]:
        try:
            response = handler()(sqs_event(messages, source.queue_arn), LambdaContext(spec.logical_id, timeout))
        except Exception as exc:  # the whole invocation failed: every record comes back
            self.log(f"{spec.logical_id}: invocation failed: {type(exc).__name__}: {exc}\n"
                     f"{traceback.format_exc().rstrip()}")
            return {m["MessageId"] for m in messages}
        return {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}

    def _deliver_s3(self, handler, spec, messages, timeout) -> set[str]:
        from .events import LambdaContext

        failed = set()
        for message in messages:
            event = json.loads(message["Body"])
            for record in event["Records"]:
                # moto leaves out the sequencer S3 puts on every record; S3 consumers de-duplicate on it.
                record["s3"]["object"].setdefault("sequencer", f"{int(time.time() * 1e6):016X}")
            try:
                handler()(event, LambdaContext(spec.logical_id, timeout))
            except Exception as exc:
                self.log(f"{spec.logical_id}: S3 event failed: {type(exc).__name__}: {exc}\n"
                         f"{traceback.format_exc().rstrip()}")
                failed.add(message["MessageId"])
        return failed

    # -- HTTP ------------------------------------------------------------------------------------

    def _start_http(self) -> None:
        from .api_gateway import LocalHttpApi

        gateway = LocalHttpApi(self.stack.template, namespace=self.namespace)
        stack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "imgapi-local"
            # Headers and body go out in separate writes; with Nagle on, a keep-alive client's
            # delayed ACK stalls every response by ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # one line per invocation is logged below instead
                pass

            def _refuse(self, status: int, message: str) -> None:
                # Malformed or absurd framing: answered without reading a body, and the connection closed (what
                # follows on it cannot be parsed safely). In the API's documented error shape.
                self.close_connection = True
                code = "bad_framing" if status == 400 else "request_too_large"
                self._send(status, {"content-type": "application/json", "connection": "close"},
                           json.dumps({"error": message, "code": code}).encode())

            def _handle(self) -> None:
                started = time.monotonic()
                lengths = self.headers.get_all("content-length") or []
                if len(set(lengths)) > 1 or any(not value.strip().isdigit() for value in lengths):
                    return self._refuse(400, "Bad Request: Content-Length must be one non-negative integer")
                if self.headers.get("transfer-encoding"):
                    return self._refuse(400, "Bad Request: Transfer-Encoding is not supported; send Content-Length")
                length = int(lengths[0]) if lengths else 0
                if length > MAX_REQUEST_BYTES:
                    return self._refuse(413, "Request Entity Too Large")
                body = self.rfile.read(length) if length else b""
                if len(body) < length:  # the client closed the connection before sending what it announced
                    self.close_connection = True
                    return
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.command == "OPTIONS":
                    self._send(204, {"access-control-allow-origin": "*", "access-control-allow-headers": "authorization, content-type, idempotency-key",
                                     "access-control-allow-methods": "GET, POST, DELETE, OPTIONS"}, b"")
                    return
                if len(body) * 4 / 3 > LAMBDA_PAYLOAD_BYTES:
                    self._send(413, {"content-type": "application/json"},
                               b'{"message":"Request too long: Lambda accepts at most 6 MB; upload large files with POST /api/v1/uploads"}')
                    return
                try:
                    response = gateway.invoke(self.command, parts.path, query=parts.query, headers=headers, body=body)
                except Exception as exc:  # what API Gateway answers when the function itself crashes
                    stack.log(f"{self.command} {parts.path}: function error: {type(exc).__name__}: {exc}")
                    self._send(500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
                    return
                self._send(response.status, response.headers, response.body)
                task = _task_id_of(response.body if response.headers.get("content-type", "").startswith("application/json") else b"", parts.path)
                stack.log(f"{time.strftime('%H:%M:%S')} {response.function or '-'} {self.command} {parts.path} -> "
                          f"{response.status} ({(time.monotonic() - started) * 1000:.0f} ms)" + (f" task={task}" if task else ""))

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                if self.close_connection:
                    self.send_header("connection", "close")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = _handle

        self._http = _Server((self.host, self.port), Handler)
        self.port = self._http.server_address[1]  # the one the system chose, when port was 0
        self._http.daemon_threads = True
        # A request's own error is answered and logged by the server; should the loop itself fail, it starts again.
        self._spawn(self._keep_going, "HTTP server", self._http.serve_forever)


def _model_lookup_note() -> str:
    home = os.environ.get("U2NET_HOME")
    if home:
        return f"rembg models: looked up in U2NET_HOME={home} (<home>/models/<name>/<name>.onnx or <home>/<name>.onnx)"
    return ("rembg models: U2NET_HOME is not set; rembg looks in ~/.rembg/models/<name>/ and ~/.u2net/, and downloads "
            "a missing model on first use (needs internet). Set U2NET_HOME to a folder holding u2net.onnx to work offline.")


def _dashscope_note() -> str:
    from imgapi.core.settings import get_settings

    settings = get_settings().dashscope
    if settings.configured:
        return f"DashScope: {settings.base_url} (change_bg, change_cloth, expand and fix run there)"
    return ("DashScope: not configured; change_bg, expand and fix run on the local engine and change_cloth "
            "answers 503. Start with DASHSCOPE_API_KEY=sk-... (and DASHSCOPE_BASE_URL for another region) to use it.")


def serve(port: int = 8000, host: str = "127.0.0.1") -> int:
    """`imgapi dev`: run until Ctrl-C."""
    from .template import ROOT

    stack = LocalStack(port=port, host=host, state_file=ROOT / STATE_FILE)
    try:
        stack.start()
    except PortInUse as exc:
        print(f"imgapi dev: {exc}. Stop whatever uses it, or pick another port: PORT=8010 make dev", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"imgapi dev: port {port} is already in use; try PORT=8010 make dev", file=sys.stderr)
            return 1
        raise
    print(f"""
imgapi is running on {stack.url}  (in-process AWS at {stack.aws_url}; Ctrl-C to stop)

  playground:  {stack.url}/  (open it in a browser)
  API contract: {stack.url}/api/v1/openapi.json
  demo user:   {DEMO_USER} / {DEMO_PASSWORD}
  {_model_lookup_note()}
  {_dashscope_note()}

  Try it:
    TOKEN=$(curl -s -X POST "{stack.url}/api/v1/login?username={DEMO_USER}&password={DEMO_PASSWORD}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -s -X POST "{stack.url}/api/v1/upscale/combo?token=$TOKEN&enhance_level=medium" -F "file=@portrait.jpg"
    curl -s "{stack.url}/api/v1/upscale/status/<task_id>?token=$TOKEN"
    curl -s "{stack.url}/api/v1/upscale/result/<task_id>?token=$TOKEN" -o result.png
    curl -s -X POST "{stack.url}/remove_bg?token=$TOKEN&wait=20" -H 'content-type: application/json' \\
         -d '{{"image_url": "https://example.com/portrait.jpg"}}'

  A whole folder, large files included (straight to S3 through POST /api/v1/uploads):
    imgapi client login --url {stack.url} --username {DEMO_USER}
    imgapi client run combo ./photos -o ./enhanced --param enhance_level=medium
""", flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    print("\nimgapi dev: stopping...", flush=True)
    stack.stop()
    print("imgapi dev: stopped.", flush=True)
    return 0
