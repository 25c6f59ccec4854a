"""API Gateway (HTTP API) in-process: route a request to the function template.yaml names, as a v2 event."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from .events import LambdaContext, http_event
from .handlers import HandlerPool
from .template import Route, functions, http_routes


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    function: str | None = None

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def _events_per_resolver() -> None:
    """Powertools keeps the current event on its BaseRouter class: right in Lambda (one request per process), wrong
    here, where one process serves concurrent requests (each with its own resolver: see HandlerPool). Keeping
    the event on the resolver instance as well makes each request read its own event."""
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

    original = ApiGatewayResolver.resolve
    if getattr(original, "per_resolver", False):
        return

    def resolve(self, event, context):
        self.current_event = self._to_proxy_event(event)  # an instance attribute shadows the class's
        self.lambda_context = context
        return original(self, event, context)

    resolve.per_resolver = True
    ApiGatewayResolver.resolve = resolve


class LocalHttpApi:
    def __init__(self, template: dict, namespace: str = ""):
        _events_per_resolver()
        self.routes: list[Route] = http_routes(template)
        self.specs = {spec.logical_id: spec for spec in functions(template)}
        self.pools = {spec.logical_id: HandlerPool(spec, namespace=namespace) for spec in self.specs.values()}

    def route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None

    def invoke(self, method: str, path: str, *, query: str = "", headers: dict | None = None, body: bytes = b"") -> HttpResponse:
        found = self.route(method, path)
        if found is None:
            return HttpResponse(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
        route, params = found
        spec = self.specs[route.function]
        event = http_event(method, path, route_key=f"{route.method} {route.path}", path_parameters=params or None,
                           query=query, headers=headers, body=body)
        timeout = int(spec.properties.get("Timeout", 30))
        memory = spec.properties.get("MemorySize", 512)  # a !Ref to a parameter (an image function's) counts as 512
        memory = int(memory) if isinstance(memory, (int, str)) else 512
        result = self.pools[route.function](event, LambdaContext(route.function, timeout, memory))
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
        out_headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[key.lower()] = ", ".join(values)
        return HttpResponse(int(result.get("statusCode", 200)), out_headers, data, route.function)
