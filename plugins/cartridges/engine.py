"""The wasmtime engine: fuel and epoch interruption, a 10 ms epoch ticker, per-call stores, and the module cache."""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from colony.core.paths import write_private

from .manifest import Limits

WASMTIME_VERSION = importlib.metadata.version("wasmtime")
log = logging.getLogger("colony.plugin.cartridges")
_MAGIC = b"colony-cwasm-1\n"


class CompileError(Exception):
    """The wasm could not be compiled: malformed, truncated, or using features the engine refuses."""


@dataclass
class EngineStats:
    """How modules were obtained: compiled or read back from disk, and cached files refused."""

    compiles: int = 0
    disk_loads: int = 0
    cache_rejects: int = 0


@dataclass(frozen=True)
class Trapped:
    """Why a guest stopped early: `kind` is 'fuel', 'deadline' or 'trap'."""

    kind: str
    message: str


class Engine:
    """One wasmtime Engine with fuel and epoch interruption, its epoch ticker, and its compiled modules."""

    def __init__(self, cache_dir: Path | None, tick_ms: int = 10, max_stack: int = 512 << 10) -> None:
        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        config.max_wasm_stack = max_stack
        config.cranelift_opt_level = "speed"
        self.wasmtime = wasmtime.Engine(config)
        # Serialized modules load only into an engine of the same version and configuration.
        self.fingerprint = hashlib.sha256(f"wasmtime {WASMTIME_VERSION} fuel epoch stack={max_stack} speed".encode()).hexdigest()[:16]
        self.cache_dir = cache_dir
        self.tick_ms = tick_ms
        self.stats = EngineStats()
        self._modules: dict[str, wasmtime.Module] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="colony-cartridge-epoch", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        interval = self.tick_ms / 1000
        while not self._stop.wait(interval):
            self.wasmtime.increment_epoch()

    def close(self) -> None:
        """Stop the epoch ticker and forget the compiled modules."""
        self._stop.set()
        self._ticker.join()
        with self._lock:
            self._modules.clear()

    # -- modules ----------------------------------------------------------------------------

    def module(self, wasm: bytes, sha256: str) -> tuple[wasmtime.Module, str]:
        """The compiled module for `wasm` and where it came from ('memory', 'disk' or 'compiled'); blocking."""
        with self._lock:
            found = self._modules.get(sha256)
        if found is not None:
            return found, "memory"
        module = self._load(sha256)
        source = "disk"
        if module is None:
            if not wasm.startswith(b"\0asm"):  # wasmtime would read anything else as WAT text
                raise CompileError("this is not a WebAssembly binary (it does not start with \\0asm)")
            try:
                module = wasmtime.Module(self.wasmtime, wasm)
            except wasmtime.WasmtimeError as exc:
                raise CompileError(_first_line(str(exc))) from None
            self.stats.compiles += 1
            self._save(sha256, module)
            source = "compiled"
        else:
            self.stats.disk_loads += 1
        with self._lock:
            self._modules[sha256] = module
        return module, source

    def forget(self, sha256: str) -> None:
        """Drop a module nobody deploys any more, from memory and from the disk cache."""
        with self._lock:
            self._modules.pop(sha256, None)
        path = self._path(sha256)
        if path is not None:
            path.unlink(missing_ok=True)

    def _path(self, sha256: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"{sha256}-{self.fingerprint}.cwasm"

    def _load(self, sha256: str) -> wasmtime.Module | None:
        """A module from the disk cache, only if the file is intact: native code is never loaded unchecked."""
        path = self._path(sha256)
        if path is None or not path.is_file():
            return None
        raw = path.read_bytes()
        header = len(_MAGIC) + 32
        intact = raw.startswith(_MAGIC) and hashlib.sha256(raw[header:]).digest() == raw[len(_MAGIC) : header]
        if intact:
            try:
                return wasmtime.Module.deserialize(self.wasmtime, raw[header:])
            except wasmtime.WasmtimeError:
                pass
        self.stats.cache_rejects += 1
        path.unlink(missing_ok=True)
        return None

    def _save(self, sha256: str, module: wasmtime.Module) -> None:
        """Write the compiled module to the disk cache; a cache that cannot be written only costs a recompile later."""
        path = self._path(sha256)
        if path is None:
            return
        payload = bytes(module.serialize())
        try:
            write_private(path, _MAGIC + hashlib.sha256(payload).digest() + payload)
        except OSError as exc:
            log.warning("module cache not written (%s): %s", path, exc)

    # -- stores -----------------------------------------------------------------------------

    def store(self, limits: Limits) -> wasmtime.Store:
        """A fresh store with the memory cap, the fuel budget and the deadline of `limits`."""
        store = wasmtime.Store(self.wasmtime)
        store.set_limits(memory_size=limits.memory_mib << 20, table_elements=100_000, instances=1, tables=4, memories=1)
        self.arm(store, limits)
        return store

    def arm(self, store: wasmtime.Store, limits: Limits) -> None:
        """Refill a store's fuel and restart its deadline (a call may stop up to one tick early, never late)."""
        store.set_fuel(limits.fuel)
        store.set_epoch_deadline(max(1, math.ceil(limits.deadline_ms / self.tick_ms)))


def classify(exc: Exception) -> Trapped:
    """What stopped a guest: out of fuel, past its deadline, or any other trap or error."""
    if isinstance(exc, wasmtime.Trap):
        code = exc.trap_code
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return Trapped("fuel", "the cartridge ran out of fuel")
        if code == wasmtime.TrapCode.INTERRUPT:
            return Trapped("deadline", "the cartridge ran past its deadline")
        if code == wasmtime.TrapCode.STACK_OVERFLOW:
            return Trapped("trap", "the cartridge overflowed its stack (unbounded recursion?)")
        return Trapped("trap", _first_line(exc.message))
    return Trapped("trap", _first_line(str(exc)))


def _first_line(text: str) -> str:
    """The line that says what happened: wasmtime puts it under "Caused by:", after the backtrace."""
    text = text.rpartition("Caused by:")[2]
    line = (text.strip().splitlines() or ["unknown error"])[0].strip()
    return line.removeprefix("wasm trap: ")[:300]


def elapsed_ms(start: float) -> float:
    """Milliseconds since `start` (a perf_counter reading)."""
    return round((time.perf_counter() - start) * 1000, 3)
