"""The host ABI, compatible with tempo-x402's byte for byte: imports in module `x402` (and `env.x402_*`), and a request's run.

A request is JSON `{method, path, body, headers, payment, query}` copied into a buffer from the
guest's `x402_alloc` (offset 0 without one); `x402_handle(ptr, len)` answers through `response`.
Values the host hands back (kv_get, payment_info, call) are written the same way and returned
packed as `ptr << 32 | len`, 0 meaning none.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import wasmtime

from colony.core.rpc import loads

from . import native
from .engine import CompileError, Engine, Trapped, classify, elapsed_ms
from .kv import View
from .manifest import CartridgeManifest, Limits
from .native import I32, I64, U32, GuestFault

PAGE = 65536
MAX_SIDE = 1024  # the largest framebuffer width or height
Signature = tuple[list[int], list[int]]
# name: (params, results); each is also imported from module env as x402_<name>.
IMPORTS: dict[str, tuple[list[int], list[int]]] = {
    "log": ([I32, I32, I32], []),
    "kv_get": ([I32, I32], [I64]),
    "kv_set": ([I32, I32, I32, I32], [I32]),
    "payment_info": ([], [I64]),
    "response": ([I32, I32, I32, I32, I32], []),
    "call": ([I32, I32, I32, I32], [I64]),
}
# The seed's safety net for Rust guests that pull in std::alloc: a bump allocator past the end of memory.
ENV_EXTRAS: dict[str, tuple[list[int], list[int]]] = {"malloc": ([I32], [I32]), "free": ([I32], [])}
# export: accepted (params, results) signatures, per kind.
_HANDLER = {"x402_handle": [([I32, I32], [])], "x402_alloc": [([I32], [I32])], "x402_init": [([], [I32])]}
EXPORTS: dict[str, dict[str, list[tuple[list[int], list[int]]]]] = {
    "backend": _HANDLER,
    "cognitive": _HANDLER,
    "interactive": {
        "x402_init": [([I32, I32], []), ([I32, I32], [I32])],
        "x402_tick": [([], []), ([], [I32])],
        "x402_key_down": [([I32], [])],
        "x402_key_up": [([I32], [])],
        "x402_get_framebuffer": [([], [I32])],
        "x402_get_width": [([], [I32])],
        "x402_get_height": [([], [I32])],
        "x402_alloc": [([I32], [I32])],
    },
}
REQUIRED = {"backend": ("x402_handle",), "cognitive": ("x402_handle",), "interactive": ("x402_tick", "x402_get_framebuffer")}
LEVELS = {0: "debug", 1: "info", 2: "warn"}


class DeployError(Exception):
    """A module cannot serve: it does not compile, imports or exports the wrong things, or fails x402_init."""


@dataclass(frozen=True)
class Policy:
    """The host's side of the limits: caps over manifests, response and log sizes, call depth."""

    max_memory_mib: int = 256
    max_fuel: int = 10_000_000_000
    max_deadline_ms: int = 10_000
    max_wasm: int = 4 << 20
    max_response: int = 1 << 20
    max_depth: int = 3
    log_bytes: int = 1024
    log_lines: int = 64

    def clamp(self, limits: Limits) -> Limits:
        """The manifest's limits, held under the node's ceilings."""
        return Limits(
            min(limits.memory_mib, self.max_memory_mib), min(limits.fuel, self.max_fuel), min(limits.deadline_ms, self.max_deadline_ms)
        )


@dataclass(frozen=True)
class Cartridge:
    """One compiled, validated version of a cartridge, ready to instantiate."""

    manifest: CartridgeManifest
    sha256: str
    pre: wasmtime.InstancePre
    limits: Limits
    exports: dict[str, Signature]  # exported functions and their types
    source: str  # where the compiled module came from: compiled, disk or memory
    compile_ms: float

    @property
    def slug(self) -> str:
        return self.manifest.slug


@dataclass
class Outcome:
    """What one invocation produced: the response, the cost, and the error when it failed."""

    slug: str
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    fuel: int = 0
    ms: float = 0.0
    error: str | None = None
    kind: str | None = None  # for failures: 'fuel', 'deadline', 'trap' or 'kv'
    logs: list[tuple[str, str]] = field(default_factory=list)
    depth: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def result_json(self) -> bytes:
        """The seed's CartridgeResult, as `call` hands it to the calling guest."""
        return to_json({"status": self.status, "body": self.body.decode(errors="replace"), "content_type": self.content_type, "duration_ms": int(self.ms)})


@dataclass
class Invocation:
    """The state host functions act on while one guest call runs."""

    cartridge: Cartridge
    kv: View
    payment: bytes
    depth: int
    outcome: Outcome
    ctx: native.Context = None
    memory: native.Memory | None = None
    alloc: native.Func | None = None
    cause: Trapped | None = None


def _signature(ty: wasmtime.FuncType) -> Signature:
    kinds = {"i32": I32, "i64": I64}
    return [kinds.get(str(t), -1) for t in ty.params], [kinds.get(str(t), -1) for t in ty.results]


def _spell(signature: Signature) -> str:
    names = {I32: "i32", I64: "i64"}
    params, results = signature
    return f"({', '.join(names.get(k, '?') for k in params)}) -> ({', '.join(names.get(k, '?') for k in results)})"


def check_module(module: wasmtime.Module, kind: str) -> dict[str, Signature]:
    """Check a module imports only the host's functions, with their types, and exports what its kind needs."""
    offered = {("x402", name): sig for name, sig in IMPORTS.items()}
    offered.update({("env", f"x402_{name}"): sig for name, sig in IMPORTS.items()})
    offered.update({("env", name): sig for name, sig in ENV_EXTRAS.items()})
    for imported in module.imports:
        where = f"{imported.module}.{imported.name}"
        wanted = offered.get((imported.module, imported.name or ""))
        if wanted is None or not isinstance(imported.type, wasmtime.FuncType):
            raise DeployError(f"the module imports {where}, which the host does not provide (it offers the x402.* functions of the cartridge ABI)")
        if _signature(imported.type) != wanted:
            raise DeployError(f"the module imports {where} as {_spell(_signature(imported.type))}; the host defines {_spell(wanted)}")
    exports = {item.name: item.type for item in module.exports}
    if not isinstance(exports.get("memory"), wasmtime.MemoryType):
        raise DeployError("the module does not export its memory as 'memory'")
    missing = [name for name in REQUIRED[kind] if name not in exports]
    if missing:
        raise DeployError(f"a {kind} cartridge must export {', '.join(missing)}")
    for name, accepted in EXPORTS[kind].items():
        ty = exports.get(name)
        if ty is None:
            continue
        if not isinstance(ty, wasmtime.FuncType) or _signature(ty) not in accepted:
            spelled = _spell(_signature(ty)) if isinstance(ty, wasmtime.FuncType) else type(ty).__name__
            raise DeployError(f"export {name} is {spelled}; a {kind} cartridge's must be {' or '.join(_spell(a) for a in accepted)}")
    return {name: _signature(ty) for name, ty in exports.items() if isinstance(ty, wasmtime.FuncType)}


def to_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as serde_json writes it for the seed's guests."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode_request(method: str, path: str, body: str, headers: dict[str, str], payment: dict[str, Any] | None, query: str = "") -> bytes:
    """The seed's CartridgeRequest JSON (compact, in its field order), plus the query string."""
    return to_json({"method": method, "path": path, "body": body, "headers": headers, "payment": payment, "query": query})


def pack(ptr: int, length: int) -> int:
    """`ptr << 32 | len` as the signed i64 the guest receives."""
    value = ((ptr & U32) << 32) | (length & U32)
    return value - (1 << 64) if value >= 1 << 63 else value


def child_request(raw: bytes) -> bytes:
    """A `call`'s request as the callee sees it: the JSON if it is a request, else a GET / carrying the raw text.

    The payment is always null: the payer paid the caller, and a caller must not forge one.
    """
    try:
        data = loads(raw)
    except ValueError:  # not JSON, or nested too deeply to parse safely
        data = None
    if isinstance(data, dict) and isinstance(data.get("method"), str) and isinstance(data.get("path"), str):
        body, headers = data.get("body", ""), data.get("headers", {})
        if isinstance(body, str) and isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values()):
            return encode_request(data["method"], data["path"], body, headers, None)
    return encode_request("GET", "/", raw.decode(errors="replace"), {}, None)


def start_frame(ctx: native.Context, instance: wasmtime.Instance, inv: Invocation, width: int, height: int) -> tuple[int, int]:
    """Run an interactive cartridge's `x402_init(w, h)` when exported and check its framebuffer; its own width and height."""
    init = native.export(ctx, instance, "x402_init", "func")
    if init is not None:
        code = native.call(ctx, init, (width, height), (I32, I32), I32 if inv.cartridge.exports["x402_init"][1] else None)
        if code:
            raise GuestFault(f"x402_init returned {code}")
    sides = []
    for name, asked in (("x402_get_width", width), ("x402_get_height", height)):
        getter = native.export(ctx, instance, name, "func")
        side = asked if getter is None else native.call(ctx, getter, (), (), I32) or 0
        if not 0 < side <= MAX_SIDE:
            raise GuestFault(f"{name} returned {side}; each side must be 1 to {MAX_SIDE} pixels")
        sides.append(side)
    read_frame(ctx, instance, inv, sides[0], sides[1])
    return sides[0], sides[1]


def read_frame(ctx: native.Context, instance: wasmtime.Instance, inv: Invocation, width: int, height: int) -> bytes:
    """An interactive cartridge's RGBA framebuffer, bounds-checked: width x height x 4 bytes at `x402_get_framebuffer()`."""
    assert inv.memory is not None
    ptr = native.call(ctx, native.export(ctx, instance, "x402_get_framebuffer", "func"), (), (), I32) or 0
    return native.read(ctx, inv.memory, ptr, width * height * 4, "x402_get_framebuffer")


class Host:
    """Runs cartridges: one linker with the ABI's host functions, shared by every store of the engine."""

    def __init__(
        self,
        engine: Engine,
        policy: Policy,
        resolve: Callable[[str], Cartridge | None],
        isolated: Callable[[str], View],
        report: Callable[[Outcome], None],
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.resolve = resolve
        self.isolated = isolated
        self.report = report
        self._local = threading.local()
        self.linker = wasmtime.Linker(engine.wasmtime)
        handlers: dict[str, Callable[..., int | None]] = {
            "log": self._log, "kv_get": self._kv_get, "kv_set": self._kv_set, "payment_info": self._payment_info,
            "response": self._response, "call": self._call, "malloc": self._malloc, "free": lambda inv, ctx, ptr: None,
        }
        for name, (params, results) in IMPORTS.items():
            native.define(self.linker, "x402", name, params, results, self._guard(handlers[name]))
            native.define(self.linker, "env", f"x402_{name}", params, results, self._guard(handlers[name]))
        for name, (params, results) in ENV_EXTRAS.items():
            native.define(self.linker, "env", name, params, results, self._guard(handlers[name]))

    # -- invocations on this thread ----------------------------------------------------------

    def _stack(self) -> list[Invocation]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def _guard(self, fn: Callable[..., int | None]) -> native.HostFn:
        def host(ctx: native.Context, args: list[int]) -> int | None:
            stack = self._stack()
            if not stack or stack[-1].memory is None:
                raise GuestFault("host functions cannot be called while the module is being instantiated")
            inv = stack[-1]
            try:
                return fn(inv, ctx, *args)
            except GuestFault as exc:
                inv.cause = inv.cause or Trapped("trap", str(exc))
                raise

        return host

    def enter(self, inv: Invocation) -> None:
        """Make `inv` the invocation that host functions on this thread act on."""
        self._stack().append(inv)

    def leave(self) -> None:
        """Undo the latest `enter`."""
        self._stack().pop()

    # -- deploying ---------------------------------------------------------------------------

    def prepare(self, manifest: CartridgeManifest, wasm: bytes) -> Cartridge:
        """Check the module's size and sha256, compile it, check imports and exports, pre-link and init it once.

        Blocking; raises DeployError. The cartridge's manifest carries the module's sha256.
        """
        if len(wasm) > self.policy.max_wasm:
            raise DeployError(f"the module is {len(wasm)} bytes; the limit is {self.policy.max_wasm}")
        start = time.perf_counter()
        sha256 = hashlib.sha256(wasm).hexdigest()
        if manifest.sha256 is not None and manifest.sha256 != sha256:
            raise DeployError(f"the manifest says sha256 {manifest.sha256} but the module's is {sha256}")
        try:
            module, source = self.engine.module(wasm, sha256)
        except CompileError as exc:
            raise DeployError(f"the module does not compile: {exc}") from None
        exports = check_module(module, manifest.kind)
        pre = self.linker.instantiate_pre(module)
        manifest = replace(manifest, sha256=sha256)
        cartridge = Cartridge(manifest, sha256, pre, self.policy.clamp(manifest.limits), exports, source, elapsed_ms(start))
        failure = self.trial(cartridge)
        if failure is not None:
            raise DeployError(failure)
        return cartridge

    def trial(self, cartridge: Cartridge) -> str | None:
        """Instantiate once and run the kind's init; the reason it fails, or None."""
        outcome = Outcome(cartridge.slug)
        inv = Invocation(cartridge, self.isolated(cartridge.slug), b"null", 0, outcome)
        store = self.engine.store(cartridge.limits)
        self.enter(inv)
        try:
            ctx, instance = self.instantiate(store, inv)
            if cartridge.manifest.kind == "interactive":
                start_frame(ctx, instance, inv, 320, 240)
            else:
                self.init(ctx, instance, inv)
            return None
        except (wasmtime.Trap, wasmtime.WasmtimeError, GuestFault) as exc:
            cause = inv.cause or classify(exc)
            return f"it did not start: {cause.message}"
        finally:
            self.leave()

    # -- running -----------------------------------------------------------------------------

    def instantiate(self, store: wasmtime.Store, inv: Invocation) -> tuple[native.Context, wasmtime.Instance]:
        """A new instance in `store`, with `inv` pointed at its memory and allocator."""
        instance = inv.cartridge.pre.instantiate(store)
        ctx = inv.ctx = native.context(store)
        inv.memory = native.export(ctx, instance, "memory", "memory")
        inv.alloc = native.export(ctx, instance, "x402_alloc", "func")
        return ctx, instance

    def init(self, ctx: native.Context, instance: wasmtime.Instance, inv: Invocation) -> None:
        """Run `x402_init()` when exported; non-zero refuses the request, as in the seed."""
        init = native.export(ctx, instance, "x402_init", "func")
        if init is not None:
            code = native.call(ctx, init, (), (), I32)
            if code != 0:
                raise GuestFault(f"x402_init returned {code}")

    def run(self, cartridge: Cartridge, request: bytes, kv: View, payment: bytes = b"null", depth: int = 0) -> Outcome:
        """Run one request through `x402_handle` in a fresh store; blocking, thread-confined. Never raises."""
        outcome = Outcome(cartridge.slug, depth=depth)
        inv = Invocation(cartridge, kv, payment, depth, outcome)
        start = time.perf_counter()
        store = self.engine.store(cartridge.limits)
        self.enter(inv)
        try:
            ctx, instance = self.instantiate(store, inv)
            self.init(ctx, instance, inv)
            handle = native.export(ctx, instance, "x402_handle", "func")
            ptr = self.place(ctx, inv, request, "the request", at_zero=True)
            native.call(ctx, handle, (ptr, len(request)), (I32, I32), None)
        except (wasmtime.Trap, wasmtime.WasmtimeError, GuestFault) as exc:
            self.fail(inv, exc)
        finally:
            self.leave()
            outcome.fuel = cartridge.limits.fuel - store.get_fuel()
            outcome.ms = elapsed_ms(start)
        self.report(outcome)
        return outcome

    def fail(self, inv: Invocation, exc: Exception) -> None:
        """Record why the guest stopped; a trap with memory over half full says how full."""
        cause = inv.cause or classify(exc)
        message = cause.message
        cap = inv.cartridge.limits.memory_mib
        used = native.memory_size(inv.ctx, inv.memory) if inv.memory is not None else 0
        if cause.kind == "trap" and used * 2 > cap << 20:
            message += f" (memory {used / (1 << 20):.1f} of its {cap} MiB cap)"
        inv.outcome.error, inv.outcome.kind = message, cause.kind

    def place(self, ctx: native.Context, inv: Invocation, data: bytes, what: str, at_zero: bool = False) -> int:
        """Copy `data` into a buffer from x402_alloc (else offset 0 for the request, or new pages past the end)."""
        assert inv.memory is not None
        if inv.alloc is not None:
            ptr = self.nested(inv, ctx, inv.alloc, (len(data),), (I32,), I32) or 0
            native.write(ctx, inv.memory, ptr, data, f"x402_alloc({len(data)}) for {what}")
            return ptr & U32
        if at_zero:
            native.write(ctx, inv.memory, 0, data, what)
            return 0
        ptr = native.memory_size(ctx, inv.memory)
        if not native.grow(ctx, inv.memory, -(-len(data) // PAGE)):
            return -1
        native.write(ctx, inv.memory, ptr, data, what)
        return ptr

    def hand_back(self, ctx: native.Context, inv: Invocation, data: bytes, what: str) -> int:
        """Write a value for the guest and return it packed, or 0 when there is no room."""
        ptr = self.place(ctx, inv, data, what)
        return 0 if ptr < 0 else pack(ptr, len(data))

    def nested(self, inv: Invocation, ctx: native.Context, func: native.Func, args: tuple[int, ...], kinds: tuple[int, ...], result: int | None) -> int | None:
        """Call back into the guest from a host function, keeping the cause when it traps (fuel, deadline)."""
        try:
            return native.call(ctx, func, args, kinds, result)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            inv.cause = inv.cause or classify(exc)
            raise GuestFault(inv.cause.message) from None

    # -- host functions ----------------------------------------------------------------------

    def _read(self, inv: Invocation, ctx: native.Context, ptr: int, length: int, what: str) -> bytes:
        assert inv.memory is not None
        return native.read(ctx, inv.memory, ptr, length, what)

    def _log(self, inv: Invocation, ctx: native.Context, level: int, ptr: int, length: int) -> None:
        assert inv.memory is not None
        native.check(ctx, inv.memory, ptr, length, "log")  # the whole span, though only a prefix is kept
        keep = min(length & U32, self.policy.log_bytes)
        text = self._read(inv, ctx, ptr, keep, "log").decode(errors="replace")
        if (length & U32) > keep:
            text += f"... ({length & U32} bytes)"
        if len(inv.outcome.logs) < self.policy.log_lines:
            inv.outcome.logs.append((LEVELS.get(level, "error"), text))
        elif len(inv.outcome.logs) == self.policy.log_lines:
            inv.outcome.logs.append(("warn", f"more than {self.policy.log_lines} log lines in one call: the rest are dropped"))

    def _kv_get(self, inv: Invocation, ctx: native.Context, key_ptr: int, key_len: int) -> int:
        value = inv.kv.get(self._read(inv, ctx, key_ptr, key_len, "kv_get key"))
        return 0 if value is None else self.hand_back(ctx, inv, value, "a kv_get value")

    def _kv_set(self, inv: Invocation, ctx: native.Context, key_ptr: int, key_len: int, value_ptr: int, value_len: int) -> int:
        if (value_len & U32) > inv.kv.quota.max_value:
            return -1
        key = self._read(inv, ctx, key_ptr, key_len, "kv_set key")
        return 0 if inv.kv.set(key, self._read(inv, ctx, value_ptr, value_len, "kv_set value")) else -1

    def _payment_info(self, inv: Invocation, ctx: native.Context) -> int:
        return self.hand_back(ctx, inv, inv.payment, "payment_info")

    def _response(self, inv: Invocation, ctx: native.Context, status: int, body_ptr: int, body_len: int, ct_ptr: int, ct_len: int) -> None:
        if (body_len & U32) > self.policy.max_response:
            raise GuestFault(f"response body of {body_len & U32} bytes is over the {self.policy.max_response}-byte limit")
        if not 200 <= status <= 599:
            raise GuestFault(f"response status {status} is not an HTTP status from 200 to 599")
        if (ct_len & U32) > 256:
            raise GuestFault(f"response content type of {ct_len & U32} bytes is over the 256-byte limit")
        body = self._read(inv, ctx, body_ptr, body_len, "response body")
        content_type = self._read(inv, ctx, ct_ptr, ct_len, "response content type")
        if not all(32 <= c < 127 for c in content_type):
            raise GuestFault("response content type must be printable ASCII")
        inv.outcome.status, inv.outcome.body = status, body
        inv.outcome.content_type = content_type.decode() or "application/json"

    def _call(self, inv: Invocation, ctx: native.Context, slug_ptr: int, slug_len: int, req_ptr: int, req_len: int) -> int:
        assert inv.memory is not None
        native.check(ctx, inv.memory, slug_ptr, slug_len, "call slug")
        slug = self._read(inv, ctx, slug_ptr, min(slug_len & U32, 64), "call slug").decode(errors="replace")
        raw = self._read(inv, ctx, req_ptr, req_len, "call request")
        if inv.depth + 1 > self.policy.max_depth:
            inv.outcome.logs.append(("error", f"call({slug}) refused: the call depth limit is {self.policy.max_depth}"))
            return 0
        target = self.resolve(slug)
        if target is None or target.manifest.kind == "interactive":
            inv.outcome.logs.append(("error", f"call({slug}) refused: no backend or cognitive cartridge {slug!r}"))
            return 0
        result = self.run(target, child_request(raw), self.isolated(slug), b"null", inv.depth + 1)
        if not result.ok:
            inv.outcome.logs.append(("error", f"call({slug}) failed: {result.error}"))
            return 0
        return self.hand_back(ctx, inv, result.result_json(), "a call result")

    def _malloc(self, inv: Invocation, ctx: native.Context, size: int) -> int:
        assert inv.memory is not None
        ptr = native.memory_size(ctx, inv.memory)
        return ptr if native.grow(ctx, inv.memory, -(-((size & U32) + 15) // PAGE)) else 0
