"""The endpoint registry: `/g/{slug}` resells an HTTPS service behind the paywall, guarded against SSRF."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import trio

from colony.core import PluginContext, Request, Response, RPCError
from colony.plugins.chain import Chain

from .paywall import Paywall, Terms
from .prices import parse_price

SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{1,62}[A-Za-z0-9]")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
PREFIX = "endpoint/"
RESPONSE_LIMIT = 10 * 1024 * 1024
CONNECT_TIMEOUT = 5.0
# Hop-by-hop, credential and payment headers never reach the upstream; its answers pass the KEPT allowlist instead.
DROPPED = frozenset(
    {
        "host", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
        "proxy-authorization", "content-length", "authorization", "cookie", "x-api-key", "payment-signature", "x-payment",
    }
)
KEPT = frozenset({"content-encoding", "cache-control", "etag", "last-modified", "vary", "x-request-id"})
CGNAT = ipaddress.ip_network("100.64.0.0/10")

TermsFor = Callable[[int, Request, dict[str, Any]], Terms]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(ValueError):
    """A slug, target or price the registry will not take, or a target it will not reach."""


@dataclass(frozen=True)
class Endpoint:
    """One registered endpoint."""

    slug: str
    target: str
    price: int
    description: str


def check_slug(slug: str) -> str:
    """A slug of 3-64 letters, digits and inner hyphens."""
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise Refused(f"slug {slug!r} must be 3-64 characters of A-Z, a-z, 0-9 and '-', not starting or ending with '-'")
    return slug


def check_target(target: str, dev: bool) -> tuple[str, int]:
    """(host, port) of an HTTPS target URL without userinfo, query or fragment (plain http too when `dev`)."""
    parts = urlsplit(target)
    if parts.scheme != "https" and not (dev and parts.scheme == "http"):
        raise Refused(f"target {target!r} must be an https:// URL")
    if "@" in parts.netloc:
        raise Refused("target must not carry a user name or password")
    if parts.query or parts.fragment:
        raise Refused("target must not carry a query or fragment")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused(f"target {target!r} has a bad port") from None
    if not parts.hostname:
        raise Refused(f"target {target!r} has no host")
    return parts.hostname, port


def forbidden(address: Address, dev: bool) -> bool:
    """Whether an address is private, loopback, link-local, CGNAT, multicast, unspecified or otherwise not global."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if dev and address.is_loopback:
        return False
    return not address.is_global or address.is_multicast or address in CGNAT


async def resolve(host: str, port: int, dev: bool) -> Address:
    """The first address of `host`, refusing it when any of its addresses is forbidden."""
    try:
        infos = await trio.to_thread.run_sync(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Refused(f"cannot resolve {host}: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    bad = sorted({str(a) for a in addresses if forbidden(a, dev)})
    if bad or not addresses:
        raise Refused(f"{host} resolves to a private or reserved address ({', '.join(bad)})")
    return addresses[0]


def forwarded_path(path: str) -> str:
    """The request's sub-path, re-encoded, after refusing traversal and header-splitting tricks."""
    if any(c in path for c in "\r\n\x00@") or path.startswith("/") or ".." in path.split("/"):
        raise Refused("the path holds a forbidden sequence")
    return quote(path, safe="/")


class Endpoints:
    """The registry in the store, its RPC methods, and the proxy that serves it."""

    def __init__(self, ctx: PluginContext, paywall: Paywall, terms_for: TermsFor, decimals: int) -> None:
        self.ctx, self.paywall, self.terms_for, self.decimals = ctx, paywall, terms_for, decimals
        self.dev = bool(ctx.config["allow_loopback_targets"])
        self.entries = {v["slug"]: Endpoint(**v) for _, v in ctx.store.scan(PREFIX)}

    async def add(self, slug: str, target: str, price: str | int, description: str = "") -> dict[str, Any]:
        """Register `/g/<slug>` proxying to the HTTPS `target` for `price` ("$0.01" or atomic units)."""
        try:
            check_slug(slug)
            amount = parse_price(price, self.decimals)
            await resolve(*check_target(target, self.dev), self.dev)
        except (Refused, ValueError) as exc:
            raise RPCError(-32602, str(exc)) from None
        if slug in self.entries:
            raise RPCError(-32000, f"the slug {slug!r} is taken; remove it first")
        entry = Endpoint(slug, target.rstrip("/"), amount, description)
        await self.ctx.store.put(PREFIX + slug, asdict(entry))
        self.entries[slug] = entry
        return {**asdict(entry), "path": f"/g/{slug}"}

    async def listing(self) -> list[dict[str, Any]]:
        """Every registered endpoint, by slug."""
        return [{**asdict(e), "path": f"/g/{e.slug}"} for _, e in sorted(self.entries.items())]

    async def remove(self, slug: str) -> dict[str, Any]:
        """Stop serving `/g/<slug>`."""
        if slug not in self.entries:
            raise RPCError(-32000, f"no endpoint {slug!r}")
        await self.ctx.store.delete(PREFIX + slug)
        del self.entries[slug]
        return {"removed": slug}

    async def serve(self, request: Request) -> Response:
        """Check the endpoint and its upstream, then charge and forward; nothing is charged for a 4xx or 5xx."""
        entry = self.entries.get(request.params["slug"])
        if entry is None:
            return Response.json({"error": f"no endpoint {request.params['slug']!r}"}, 404)
        try:
            path = forwarded_path(request.params.get("path", ""))
        except Refused as exc:
            return Response.json({"error": str(exc)}, 400)
        try:
            host, port = check_target(entry.target, self.dev)
            address = await resolve(host, port, self.dev)
            with trio.fail_after(CONNECT_TIMEOUT):
                await (await trio.open_tcp_stream(str(address), port)).aclose()
        except (Refused, OSError, trio.TooSlowError) as exc:
            return Response.json({"error": f"upstream unreachable: {str(exc) or type(exc).__name__}"}, 502)
        terms = self.terms_for(entry.price, request, {"description": entry.description})
        return await self.paywall.serve(request, lambda r: self.forward(entry, address, port, path, r), terms)

    async def forward(self, entry: Endpoint, address: Address, port: int, path: str, request: Request) -> Response:
        """Send a paid request upstream, to the address that was checked, and relay an allowlisted answer."""
        import httpx  # here, not at the top: httpx loads rich, which a headless node never needs

        parts = urlsplit(entry.target)
        pinned = f"[{address}]" if address.version == 6 else str(address)
        url = f"{parts.scheme}://{pinned}:{port}{parts.path}"
        url += ("/" + path if path else "") + ("?" + urlencode(request.query) if request.query else "")
        headers = {k: v for k, v in request.headers.items() if k not in DROPPED and not k.startswith("x-x402-")}
        headers["host"] = parts.netloc
        headers["accept-encoding"] = request.headers.get("accept-encoding", "identity")
        payment = request.payment or {}
        headers["x-x402-verified"] = "true"
        for key in ("payer", "network", "amount"):
            headers[f"x-x402-{key}"] = str(payment.get(key, ""))
        if payment.get("transaction"):
            headers["x-x402-txhash"] = str(payment["transaction"])
        try:
            async with httpx.AsyncClient(follow_redirects=False, timeout=None) as http:
                req = http.build_request(request.method, url, content=request.body or None, headers=headers, extensions={"sni_hostname": parts.hostname})
                response = await http.send(req, stream=True)
                try:
                    if response.is_redirect:
                        return Response.json({"error": "the upstream redirected; redirects are not followed"}, 502)
                    body = bytearray()
                    async with contextlib.aclosing(response.aiter_raw()) as chunks:
                        async for chunk in chunks:
                            body += chunk
                            if len(body) > RESPONSE_LIMIT:
                                return Response.json({"error": f"the upstream answer is over {RESPONSE_LIMIT} bytes"}, 502)
                finally:
                    await response.aclose()
        except httpx.HTTPError as exc:
            return Response.json({"error": f"upstream failed: {type(exc).__name__}"}, 502)
        kept = {k: v for k, v in response.headers.items() if k in KEPT or k.startswith("x-ratelimit-")}
        return Response(bytes(body), response.status_code, kept, response.headers.get("content-type", "application/octet-stream"))


async def register(ctx: PluginContext, chain: Chain, paywall: Paywall, terms_for: TermsFor) -> Endpoints:
    """Serve `/g/{slug}` and `/g/{slug}/{path}` and offer the `endpoints.*` methods."""
    decimals = await chain.run(chain.contract("token").functions.decimals().call)
    endpoints = Endpoints(ctx, paywall, terms_for, int(decimals))
    for method in METHODS:
        ctx.registrar.route(method, "/g/{slug}", endpoints.serve, description="an endpoint of the registry")
        ctx.registrar.route(method, "/g/{slug}/{path:path}", endpoints.serve, description="an endpoint of the registry")
    ctx.registrar.rpc("endpoints.add", endpoints.add, destructive=True)
    ctx.registrar.rpc("endpoints.list", endpoints.listing)
    ctx.registrar.rpc("endpoints.remove", endpoints.remove, destructive=True)
    return endpoints
