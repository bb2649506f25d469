"""The ASGI application: routing, CORS, size limits, the paywall, and handler isolation."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import trio

from colony.core.http import Request, Response, to_response

from .paywall import EXPOSED, Paywall, Terms
from .routing import Route, Router

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
log = logging.getLogger("colony.plugin.gateway")

ALLOWED_HEADERS = "Content-Type, PAYMENT-SIGNATURE, X-PAYMENT, Authorization"


class TooLarge(Exception):
    """The request body is over the limit."""


@dataclass
class Traffic:
    """Requests served and handler failures."""

    requests: int = 0
    handler_errors: int = 0


class Gateway:
    """Serves every registered route; priced ones go through the paywall."""

    def __init__(
        self,
        routes: Callable[[], Router],
        terms: Callable[[int, Request, dict[str, Any]], Terms],
        price_of: Callable[[str], Awaitable[int | None]],
        paywall: Paywall,
        *,
        max_body: int,
        handler_timeout: float,
        origins: str,
    ) -> None:
        self.routes = routes
        self.terms = terms
        self.price_of = price_of
        self.paywall = paywall
        self.max_body = max_body
        self.handler_timeout = handler_timeout
        self.origins = origins
        self.allowed = frozenset(o.strip() for o in origins.split(",") if o.strip())
        self.traffic = Traffic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # The plugin starts and stops everything itself; the server's lifespan events only need answers.
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        try:
            response = await self.respond(scope, receive)
        except TooLarge:
            response = Response.json({"error": f"request body over {self.max_body} bytes"}, 413)
        self._cors(scope, response)
        await send({"type": "http.response.start", "status": response.status, "headers": _headers(response)})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else response.body})
        self.traffic.requests += 1

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        """The response to one HTTP request."""
        method, path = scope["method"].upper(), scope["path"]
        if method == "OPTIONS":
            return Response(b"", 204, {"Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS", "Access-Control-Allow-Headers": ALLOWED_HEADERS, "Access-Control-Max-Age": "600"})
        route, params, elsewhere = self.routes().find(method, path)
        if route is None:
            return Response.json({"error": f"{method} not allowed here" if elsewhere else f"no route for {path}"}, 405 if elsewhere else 404)
        request = _request(scope, await self._body(receive), params)
        price = route.price if route.price is not None else await self.price_of(path)
        if price is None:
            return await self.run(route, request)
        return await self.paywall.serve(request, lambda r: self.run(route, r), self.terms(price, request, route.meta))

    async def run(self, route: Route, request: Request) -> Response:
        """Call a route's handler; a failure or a timeout is a 5xx, never a crash."""
        try:
            # A bare CancelScope: fail_after's generator wrappers cost more than many handlers do.
            with trio.CancelScope(deadline=trio.current_time() + self.handler_timeout):
                result = route.handler(request)
                if inspect.isawaitable(result):
                    result = await result
                return to_response(result)
        except Exception as exc:
            self.traffic.handler_errors += 1
            log.warning("route %s %s of plugin %s failed: %s: %s", route.method, route.template, route.owner, type(exc).__name__, exc)
            return Response.json({"error": "the handler failed"}, 500)
        self.traffic.handler_errors += 1  # only a deadline that passed gets here
        return Response.json({"error": f"the handler took longer than {self.handler_timeout}s"}, 504)

    async def _body(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    def _cors(self, scope: Scope, response: Response) -> None:
        origin = _header(scope, b"origin")
        if origin is None:
            return
        if "*" in self.allowed:
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif origin in self.allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        else:
            return
        response.headers["Access-Control-Expose-Headers"] = EXPOSED


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _request(scope: Scope, body: bytes, params: dict[str, str]) -> Request:
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", ())}
    scheme = scope.get("scheme", "http")
    host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
    client = scope.get("client") or ("", 0)
    query = scope.get("query_string", b"")
    return Request(
        method=scope["method"].upper(),
        path=scope["path"],
        query=dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {},
        headers=headers,
        body=body,
        params=params,
        client=str(client[0]),
        base_url=f"{scheme}://{host}",
    )


def _headers(response: Response) -> list[tuple[bytes, bytes]]:
    out = [(b"content-type", response.content_type.encode("latin-1")), (b"content-length", str(len(response.body)).encode())]
    for key, value in response.headers.items():
        if key.lower() not in ("content-length", "content-type"):
            out.append((key.lower().encode("latin-1"), str(value).encode("latin-1")))
    return out
