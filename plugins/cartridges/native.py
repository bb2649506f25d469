"""The fast path into wasmtime's C API: raw host functions, direct guest calls, bounds-checked memory.

wasmtime-py's `Func.__call__` and its host-function trampoline cost 10-30 µs a call, and the
trampoline parks a raised exception in a module-level global that two threads can swap. This
module is the only place that uses the package's private `_ffi` bindings (pinned to wasmtime 50),
so host functions run without that global and a guest call costs a few microseconds.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from ctypes import POINTER, byref
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

log = logging.getLogger("colony.plugin.cartridges")
_NEEDED = (
    "wasmtime_func_unchecked_callback_t", "wasmtime_linker_define_func_unchecked", "wasmtime_caller_context", "wasmtime_func_call",
    "wasmtime_instance_export_get", "wasmtime_memory_data", "wasmtime_memory_data_size", "wasmtime_memory_grow", "wasmtime_val_t",
)
if missing := [name for name in _NEEDED if not hasattr(ffi, name)]:
    raise ImportError(f"this wasmtime lacks {', '.join(missing)}: colony's cartridges need wasmtime-py 50")

I32, I64 = ffi.WASMTIME_I32.value, ffi.WASMTIME_I64.value
_FUNC, _MEMORY = ffi.WASMTIME_EXTERN_FUNC.value, ffi.WASMTIME_EXTERN_MEMORY.value
_NO_FINALIZER = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))
_CALLBACKS: list[Any] = []  # ctypes callbacks must outlive every linker that holds them
U32 = 0xFFFFFFFF

Context = Any  # ctypes pointer to wasmtime_context_t
Func = Any  # ffi.wasmtime_func_t
Memory = Any  # ffi.wasmtime_memory_t


class GuestFault(Exception):
    """The guest broke the ABI (a bad pointer, an oversized value); raised inside a host function, it traps the guest."""


HostFn = Callable[[Context, list[int]], "int | None"]


def define(linker: wasmtime.Linker, module: str, name: str, params: list[int], results: list[int], fn: HostFn) -> None:
    """Define host function `module.name` on `linker`; `fn(context, args)` returns the one result (or None).

    A `GuestFault` from `fn` traps the guest with its message; any other exception is a host bug,
    logged and turned into a trap too, so nothing ever unwinds through wasm.
    """
    kinds = {I32: wasmtime.ValType.i32(), I64: wasmtime.ValType.i64()}
    ty = wasmtime.FuncType([kinds[k] for k in params], [kinds[k] for k in results])
    count = len(params)
    result = "i64" if results == [I64] else "i32" if results else None

    def callback(env: Any, caller: Any, values: Any, size: int) -> int:
        try:
            context = ffi.wasmtime_caller_context(caller)
            out = fn(context, [values[i].i32 if params[i] == I32 else values[i].i64 for i in range(count)])
            if result is not None:
                setattr(values[0], result, out or 0)
            return 0
        except GuestFault as exc:
            return trap(str(exc))
        except Exception as exc:
            log.exception("host function %s.%s failed", module, name)
            return trap(f"host function {module}.{name} failed: {type(exc).__name__}")

    raw = ffi.wasmtime_func_unchecked_callback_t(callback)
    _CALLBACKS.append(raw)
    mod, field = module.encode(), name.encode()
    error = ffi.wasmtime_linker_define_func_unchecked(linker.ptr(), mod, len(mod), field, len(field), ty.ptr(), raw, None, _NO_FINALIZER)
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)


def trap(message: str) -> int:
    """A new trap, as the address a raw host function returns to make the guest trap."""
    return ctypes.cast(wasmtime.Trap(message)._consume(), ctypes.c_void_p).value or 0


def context(store: wasmtime.Store) -> Context:
    """The store's context pointer."""
    return store._context()


def export(ctx: Context, instance: wasmtime.Instance, name: str, kind: str) -> Any:
    """The instance's export `name` as a raw func or memory, or None when absent or of another kind."""
    item = ffi.wasmtime_extern_t()
    raw = name.encode()
    if not ffi.wasmtime_instance_export_get(ctx, byref(instance._instance), raw, len(raw), byref(item)):
        return None
    if item.kind != (_FUNC if kind == "func" else _MEMORY):
        return None
    return item.of.func if kind == "func" else item.of.memory


def call(ctx: Context, func: Func, args: tuple[int, ...], kinds: tuple[int, ...], result: int | None) -> int | None:
    """Call a guest function with integer arguments; raises `wasmtime.Trap` or `WasmtimeError`."""
    params = (ffi.wasmtime_val_t * len(args))()
    for i, (kind, value) in enumerate(zip(kinds, args)):
        params[i].kind = kind
        if kind == I32:
            params[i].of.i32 = value
        else:
            params[i].of.i64 = value
    results = (ffi.wasmtime_val_t * (0 if result is None else 1))()
    trapped = POINTER(ffi.wasm_trap_t)()
    error = ffi.wasmtime_func_call(ctx, byref(func), params, len(args), results, len(results), byref(trapped))
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
    if trapped:
        raise wasmtime.Trap._from_ptr(trapped)
    if result is None:
        return None
    return int(results[0].of.i32 if result == I32 else results[0].of.i64)


def memory_size(ctx: Context, memory: Memory) -> int:
    """The memory's current length in bytes."""
    return int(ffi.wasmtime_memory_data_size(ctx, byref(memory)))


def check(ctx: Context, memory: Memory, ptr: int, length: int, what: str) -> int:
    """The host address of guest memory, after checking that bytes [ptr, ptr+length) lie inside it."""
    ptr, length = ptr & U32, length & U32
    size = memory_size(ctx, memory)
    if ptr + length > size:
        raise GuestFault(f"{what}: {length} bytes at {ptr} lie outside the guest's {size}-byte memory")
    base = ffi.wasmtime_memory_data(ctx, byref(memory))
    return ctypes.cast(base, ctypes.c_void_p).value or 0


def read(ctx: Context, memory: Memory, ptr: int, length: int, what: str) -> bytes:
    """Copy guest bytes out, bounds-checked (pointers and lengths are unsigned 32-bit)."""
    base = check(ctx, memory, ptr, length, what)
    return ctypes.string_at(base + (ptr & U32), length & U32)


def write(ctx: Context, memory: Memory, ptr: int, data: bytes, what: str) -> None:
    """Copy bytes into guest memory, bounds-checked."""
    base = check(ctx, memory, ptr, len(data), what)
    ctypes.memmove(base + (ptr & U32), data, len(data))


def grow(ctx: Context, memory: Memory, pages: int) -> bool:
    """Grow the memory by `pages`; False when the store's limits refuse."""
    previous = ctypes.c_uint64(0)
    error = ffi.wasmtime_memory_grow(ctx, byref(memory), pages, byref(previous))
    if error:
        wasmtime.WasmtimeError._from_ptr(error)  # take ownership so it is freed
        return False
    return True
