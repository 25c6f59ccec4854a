"""A small HTTP server on 127.0.0.1 with scripted routes: images to download, redirects, slow or endless bodies.

    with ScriptedServer() as server:
        server.route("/a.jpg", body=jpeg_bytes, content_type="image/jpeg")
        server.route("/moved", status=302, headers={"Location": "/a.jpg"})
        url = server.url("/a.jpg")
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before answering
    chunked: bool = False  # no Content-Length: the body is streamed in chunks
    repeat_body: int = 1  # the body sent this many times (a large body without building it)


class ScriptedServer:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, headers)
        self._server: ThreadingHTTPServer | None = None

    def route(self, path: str, **kwargs) -> None:
        self.routes[path] = Route(**kwargs)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def __enter__(self) -> "ScriptedServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(path) or Route(status=404, body=b"not found", content_type="text/plain")
                if route.delay:
                    time.sleep(route.delay)
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        for _ in range(route.repeat_body):
                            self.wfile.write(f"{len(route.body):x}\r\n".encode() + route.body + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                    except OSError:
                        pass  # the client stopped reading (size limit)
                    return
                self.send_header("Content-Length", str(len(route.body) * route.repeat_body))
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    for _ in range(route.repeat_body):
                        self.wfile.write(route.body)
                except OSError:
                    pass

            do_HEAD = do_GET  # the same status and headers, no body (some clients look before they send a URL)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
