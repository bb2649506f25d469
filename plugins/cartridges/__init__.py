"""cartridges: untrusted WASM that the node compiles, serves, sells and hot-swaps at runtime."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import trio

from colony.core import Manifest, Option, PluginContext, Registrar, RPCError
from colony.core.http import Request, Response
from colony.core.rpc import INVALID_PARAMS, OPERATION_FAILED, loads

from . import tools
from .abi import MAX_SIDE, Cartridge, DeployError, Outcome, Policy, encode_request, to_json
from .engine import Engine
from .kv import KV, Quota
from .library import Library
from .manifest import SLUG, ManifestError, parse
from .sessions import SessionError, Sessions
from .toolchain import BuildError, build

PLUGIN = Manifest(
    name="cartridges",
    version="1.0.0",
    description="Runs untrusted WASM cartridges under wasmtime: HTTP backends at /c/SLUG, framebuffer apps, cognitive overrides.",
    config={
        "workers": Option(2, "Most guest calls running at once, each in its own worker thread."),
        "tick_ms": Option(10, "Epoch ticker interval in milliseconds: the granularity of every deadline."),
        "cache": Option(True, "Keep compiled modules on disk under <home>/cartridges/cache/, so a restart does not recompile."),
        "max_wasm": Option(4 << 20, "Largest module accepted, in bytes."),
        "max_memory_mib": Option(256, "Ceiling on any manifest's limits.memory_mib."),
        "max_fuel": Option(10_000_000_000, "Ceiling on any manifest's limits.fuel."),
        "max_deadline_ms": Option(10_000, "Ceiling on any manifest's limits.deadline_ms."),
        "max_response": Option(1 << 20, "Largest response body a cartridge may set, in bytes."),
        "max_depth": Option(3, "Deepest chain of cartridges calling cartridges (call)."),
        "kv_max_key": Option(256, "Longest KV key, in bytes."),
        "kv_max_value": Option(64 << 10, "Longest KV value, in bytes."),
        "kv_max_bytes": Option(16 << 20, "Most KV data (keys plus values) one cartridge may hold, in bytes."),
        "kv_max_writes": Option(1000, "Most distinct keys one invocation may write."),
        "log_lines": Option(200, "Log lines kept per cartridge (cartridges.logs)."),
        "sessions": Option(8, "Most interactive sessions open at once."),
        "session_idle": Option(60.0, "Seconds after which an unused interactive session is closed."),
    },
)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_state: dict[str, Any] = {}


def colony_register(registrar: Registrar) -> None:
    for method in METHODS:
        registrar.route(method, "/c/{slug}", serve, description="A WASM cartridge")
        registrar.route(method, "/c/{slug}/{path:path}", serve, description="A WASM cartridge")
    registrar.rpc("cartridges.deploy", cartridges_deploy, destructive=True)
    registrar.rpc("cartridges.list", cartridges_list)
    registrar.rpc("cartridges.remove", cartridges_remove, destructive=True)
    registrar.rpc("cartridges.rollback", cartridges_rollback, destructive=True)
    registrar.rpc("cartridges.call", cartridges_call)
    registrar.rpc("cartridges.logs", cartridges_logs)
    registrar.rpc("cartridges.session.open", session_open)
    registrar.rpc("cartridges.session.tick", session_tick)
    registrar.rpc("cartridges.session.key", session_key)
    registrar.rpc("cartridges.session.close", session_close)
    registrar.panel("cartridges", cartridges_panel, title="Cartridges")


async def colony_start(ctx: PluginContext) -> None:
    config = ctx.config
    policy = Policy(
        max_memory_mib=int(config["max_memory_mib"]), max_fuel=int(config["max_fuel"]), max_deadline_ms=int(config["max_deadline_ms"]),
        max_wasm=int(config["max_wasm"]), max_response=int(config["max_response"]), max_depth=int(config["max_depth"]),
    )
    quota = Quota(int(config["kv_max_key"]), int(config["kv_max_value"]), int(config["kv_max_bytes"]), int(config["kv_max_writes"]))
    cache = ctx.home / "cartridges" / "cache" if config["cache"] else None
    engine = await trio.to_thread.run_sync(Engine, cache, int(config["tick_ms"]))
    kv = KV(ctx.store, quota)
    limiter = trio.CapacityLimiter(max(1, int(config["workers"])))
    library = Library(ctx.store, engine, policy, kv, limiter, int(config["log_lines"]), ctx.publish)
    _state.update(engine=engine, library=library, policy=policy)
    try:
        await library.load()
    except BaseException:
        engine.close()
        raise
    sessions = _state["sessions"] = Sessions(library.host, kv, limiter, int(config["sessions"]), float(config["session_idle"]))
    ctx.start_task(sessions.reap)
    tools.register(ctx, cartridges_deploy)


async def colony_stop(ctx: PluginContext) -> None:
    engine: Engine | None = _state.get("engine")
    _state.clear()
    if engine is not None:
        engine.close()


async def colony_health(ctx: PluginContext) -> bool | str:
    library = _state.get("library")
    if library is None:
        return "not running"
    return f"{len(library.failed)} stored cartridges did not load" if library.failed else True


def _library() -> Library:
    library = _state.get("library")
    if library is None:
        raise RPCError(OPERATION_FAILED, "the cartridges plugin is not running")
    return library


def _cartridge(slug: str, *kinds: str) -> Cartridge:
    cartridge = _library().get(slug) if SLUG.fullmatch(slug) else None
    if cartridge is None:
        raise RPCError(INVALID_PARAMS, f"no cartridge {slug!r}")
    if kinds and cartridge.manifest.kind not in kinds:
        raise RPCError(INVALID_PARAMS, f"{slug} is a {cartridge.manifest.kind} cartridge; this needs {' or '.join(kinds)}")
    return cartridge


# -- HTTP --------------------------------------------------------------------------------


def _payment(request: Request) -> dict[str, Any] | None:
    """The seed's PaymentContext (amount as a string) for a paid request, with the network and scheme."""
    paid = request.payment
    if not paid:
        return None
    return {"payer": paid.get("payer", ""), "amount": str(paid.get("amount", "")), "tx_hash": paid.get("transaction", ""), "network": paid.get("network", ""), "scheme": paid.get("scheme", "")}


async def serve(request: Request) -> Response:
    """A backend cartridge at /c/{slug} or /c/{slug}/{path}; the gateway has taken payment for priced ones."""
    slug = request.params.get("slug", "")
    cartridge = _library().get(slug)
    if cartridge is None or cartridge.manifest.kind != "backend":
        return Response.json({"error": f"no backend cartridge {slug!r}"}, 404)
    payment = _payment(request)
    raw = encode_request(request.method, "/" + request.params.get("path", ""), request.body.decode(errors="replace"), request.headers, payment, urlencode(request.query))
    return respond(await _library().invoke(cartridge, raw, to_json(payment)))


def respond(outcome: Outcome) -> Response:
    """The guest's response, or a JSON error: 504 past the deadline, 503 on a KV conflict, 500 otherwise."""
    if outcome.ok:
        return Response(outcome.body, outcome.status, {}, outcome.content_type)
    status = {"deadline": 504, "kv": 503}.get(outcome.kind or "", 500)
    return Response.json({"error": f"cartridge {outcome.slug} failed ({outcome.kind}): {outcome.error}"}, status)


def colony_price(route: str) -> int | None:
    """The manifest price of a priced backend cartridge's routes; free ones and other routes have no opinion."""
    library = _state.get("library")
    if library is None or not route.startswith("/c/"):
        return None
    cartridge = library.get(route[3:].split("/", 1)[0])
    if cartridge is None or cartridge.manifest.kind != "backend":
        return None
    return cartridge.manifest.price or None


async def colony_cognitive(name: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """Answer `name` with the first deployed cognitive cartridge whose hook is `name` and that replies 200 with a JSON object."""
    library = _state.get("library")
    if library is None:
        return None
    raw = encode_request("POST", "/", to_json(request).decode(), {"content-type": "application/json"}, None)
    for slug in sorted(library.slots):
        cartridge = library.get(slug)
        if cartridge is None or cartridge.manifest.kind != "cognitive" or cartridge.manifest.hook != name:
            continue
        outcome = await library.invoke(cartridge, raw)
        if not outcome.ok or outcome.status != 200:
            continue
        try:
            answer = loads(outcome.body)
        except ValueError:
            continue
        if isinstance(answer, dict):
            return answer
    return None


# -- RPC ---------------------------------------------------------------------------------


async def cartridges_deploy(wasm: str | None = None, manifest: dict | None = None, path: str | None = None) -> dict[str, Any]:  # type: ignore[type-arg]
    """Deploy a cartridge, hot-swapping any running version: base64 `wasm` with its `manifest`, or a `path` on the node to build."""
    library, policy = _library(), _state["policy"]
    if path is not None:
        if wasm is not None or manifest is not None:
            raise RPCError(INVALID_PARAMS, "give either path, or wasm with manifest")
        try:
            built = await trio.to_thread.run_sync(build, Path(path).expanduser())
        except (BuildError, OSError, ValueError) as exc:
            raise RPCError(OPERATION_FAILED, f"build failed: {exc}") from None
        module, data = built.wasm, built.manifest
    else:
        if wasm is None or manifest is None:
            raise RPCError(INVALID_PARAMS, "give wasm (base64) with manifest, or path")
        if len(wasm) > (policy.max_wasm // 3 + 1) * 4:
            raise RPCError(INVALID_PARAMS, f"the module is over the {policy.max_wasm}-byte limit")
        try:
            module = base64.b64decode(wasm, validate=True)
        except (binascii.Error, ValueError):
            raise RPCError(INVALID_PARAMS, "wasm must be standard base64") from None
        data = manifest
    try:
        parsed = parse(data)
    except ManifestError as exc:
        raise RPCError(INVALID_PARAMS, f"bad manifest: {exc}") from None
    try:
        return await library.deploy(parsed, module)
    except DeployError as exc:
        serving = library.get(parsed.slug)
        still = f"; {serving.manifest.version} keeps serving" if serving is not None else ""
        raise RPCError(OPERATION_FAILED, f"{parsed.slug} {parsed.version} was not deployed: {exc}{still}") from None


async def cartridges_list() -> list[dict[str, Any]]:
    """Every deployed cartridge: manifest, previous version, calls, errors, fuel used and traps by kind."""
    return _library().rows()


async def cartridges_remove(slug: str) -> dict[str, Any]:
    """Stop serving a cartridge and delete its versions, KV data and logs."""
    try:
        removed = await _library().remove(slug)
    except LookupError as exc:
        raise RPCError(INVALID_PARAMS, str(exc)) from None
    _state["sessions"].close_slug(slug)
    return removed


async def cartridges_rollback(slug: str) -> dict[str, Any]:
    """Serve the previous version again (the current one becomes the previous)."""
    try:
        return await _library().rollback(slug)
    except LookupError as exc:
        raise RPCError(INVALID_PARAMS, str(exc)) from None
    except DeployError as exc:
        raise RPCError(OPERATION_FAILED, str(exc)) from None


async def cartridges_call(slug: str, method: str = "GET", path: str = "/", body: str = "", headers: dict | None = None) -> dict[str, Any]:  # type: ignore[type-arg]
    """Call a backend or cognitive cartridge directly, without payment; returns its status, body and cost."""
    cartridge = _cartridge(slug, "backend", "cognitive")
    if not (method.isascii() and method.isalpha() and len(method) <= 16) or not path.startswith("/") or len(path) > 4096:
        raise RPCError(INVALID_PARAMS, "method must be an HTTP method and path must start with '/'")
    given = headers or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in given.items()):
        raise RPCError(INVALID_PARAMS, "headers must map strings to strings")
    raw = encode_request(method.upper(), path, body, {k.lower(): v for k, v in given.items()}, None)
    outcome = await _library().invoke(cartridge, raw)
    return {
        "status": outcome.status if outcome.ok else respond(outcome).status,
        "body": outcome.body.decode(errors="replace"),
        "content_type": outcome.content_type,
        "fuel": outcome.fuel,
        "ms": outcome.ms,
        "error": outcome.error,
        "kind": outcome.kind,
        "logs": [{"level": level, "message": message} for level, message in outcome.logs],
    }


async def cartridges_logs(slug: str, limit: int = 100) -> list[dict[str, Any]]:
    """A cartridge's newest log lines (guest logs, traps and failed deploys), oldest first."""
    try:
        return _library().logs(slug, max(0, min(limit, 10_000)))
    except LookupError as exc:
        raise RPCError(INVALID_PARAMS, str(exc)) from None


def _sessions() -> Sessions:
    sessions: Sessions | None = _state.get("sessions")
    if sessions is None:
        raise RPCError(OPERATION_FAILED, "the cartridges plugin is not running")
    return sessions


async def _session_call(step: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    try:
        return await step
    except SessionError as exc:
        raise RPCError(OPERATION_FAILED, str(exc)) from None


async def session_open(slug: str, width: int = 320, height: int = 240) -> dict[str, Any]:
    """Start an interactive cartridge: x402_init(width, height); returns the session id and the first frame."""
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise RPCError(INVALID_PARAMS, f"width and height must be 1 to {MAX_SIDE}")
    return await _session_call(_sessions().open(_cartridge(slug, "interactive"), width, height))


def _keys(keys: list | None) -> list[tuple[int, bool]]:  # type: ignore[type-arg]
    events = []
    for item in keys or []:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int) and not isinstance(item[0], bool) and isinstance(item[1], bool)):
            raise RPCError(INVALID_PARAMS, "keys must be [code, down] pairs: an integer key code and true (down) or false (up)")
        if not -(2**31) <= item[0] < 2**31:
            raise RPCError(INVALID_PARAMS, "a key code must fit in 32 bits")
        events.append((item[0], item[1]))
    return events


# The parameter is `session_id`: the control protocol hands a parameter named `session` the caller's connection.
async def session_tick(session_id: str, keys: list | None = None) -> dict[str, Any]:  # type: ignore[type-arg]
    """Deliver `keys` ([code, down] pairs), run x402_tick once, and return the frame (null when unchanged)."""
    return await _session_call(_sessions().step(session_id, _keys(keys), tick=True))


async def session_key(session_id: str, code: int, down: bool = True) -> dict[str, Any]:
    """Deliver one key press or release without ticking; returns the frame (null when unchanged)."""
    return await _session_call(_sessions().step(session_id, _keys([[code, down]]), tick=False))


async def session_close(session_id: str) -> dict[str, Any]:
    """Close an interactive session."""
    return {"session": session_id, "closed": _sessions().close(session_id)}


# -- observability -----------------------------------------------------------------------


def colony_metrics() -> dict[str, float]:
    library: Library | None = _state.get("library")
    if library is None:
        return {}
    stats = [slot.stats for slot in library.slots.values()]
    engine: Engine = _state["engine"]
    return {
        "deployed": len(library.slots),
        "calls": sum(s.calls for s in stats),
        "errors": sum(s.errors for s in stats),
        "fuel": sum(s.fuel for s in stats),
        "traps_fuel": sum(s.traps["fuel"] for s in stats),
        "traps_deadline": sum(s.traps["deadline"] for s in stats),
        "traps_other": sum(s.traps["other"] for s in stats),
        "sessions": len(_state["sessions"].open_sessions) if "sessions" in _state else 0,
        "compiles": engine.stats.compiles,
        "cache_loads": engine.stats.disk_loads,
    }


def cartridges_panel() -> dict[str, Any]:
    """The cartridges panel: totals as gauges, one row per cartridge."""
    library: Library | None = _state.get("library")
    if library is None:
        return {"text": "not running"}
    columns = ["slug", "kind", "version", "previous", "calls", "errors", "fuel", "traps", "last_error"]
    rows = [
        [r["slug"], r["kind"], r["version"], r.get("previous"), r.get("calls", 0), r.get("errors", 0), r.get("fuel", 0),
         "/".join(str(n) for n in (r.get("traps") or {}).values()), r["last_error"]]
        for r in library.rows()
    ]
    return {"gauges": colony_metrics(), "table": {"columns": columns, "rows": rows}}
