"""Serving a declared route: a function registers each handler through its declaration in contract.ROUTES,
which authenticates the caller (unless the route is public) and checks the path and query parameters before the
handler runs. So what the document says of security and parameters is what every route does."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from imgapi.api.contract import route_for
from imgapi.api.http_api import authenticate


@dataclass(frozen=True)
class Request:
    owner: str | None  # the authenticated user; None on a public route
    path: dict[str, Any]  # checked path parameters
    query: dict[str, Any]  # every declared query parameter, checked, the default where not given
    given: frozenset[str]  # the query parameters the request did give
    event: dict  # the raw API Gateway event (bodies are read from it)
    context: Any  # Lambda's context (None in some tests)

    @property
    def body_is_text(self) -> bool:
        """A form (values are text to convert) rather than JSON (values typed as they are)."""
        headers = {k.lower(): v for k, v in (self.event.get("headers") or {}).items()}
        return not headers.get("content-type", "").lower().startswith("application/json")


def route(app: APIGatewayHttpResolver, key: str) -> Callable[[Callable[[Request], Any]], Callable[[Request], Any]]:
    """Register `handler(request)` on `app` for the declared route "METHOD /path"."""
    declared = route_for(key)

    def register(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        @app.route(declared.rule, declared.method)
        @functools.wraps(handler)
        def serve(**path: str) -> Any:
            event = app.current_event
            owner = None if declared.public else authenticate(event)  # 401 before any 400
            raw_query = event.query_string_parameters or {}
            request = Request(
                owner=owner,
                path={p.name: p.read(path.get(p.name), text=True) for p in declared.path_params},
                query={p.name: p.read(raw_query.get(p.name), text=True) for p in declared.query},
                given=frozenset(p.name for p in declared.query if raw_query.get(p.name) not in (None, "")),
                event=event.raw_event,
                context=app.lambda_context,
            )
            return handler(request)

        return handler

    return register
