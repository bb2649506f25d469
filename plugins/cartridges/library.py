"""The deployed cartridges: current and previous version of each, atomic hot swap, rollback, stats and logs."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from colony.core import Namespace

from .abi import Cartridge, DeployError, Host, Outcome, Policy
from .engine import Engine, elapsed_ms
from .kv import KV, View
from .manifest import CartridgeManifest, ManifestError, parse

@dataclass
class Stats:
    """Counters for one cartridge, across its versions."""

    calls: int = 0
    errors: int = 0
    fuel: int = 0
    ms: float = 0.0
    traps: dict[str, int] = field(default_factory=lambda: {"fuel": 0, "deadline": 0, "other": 0})
    last_error: str = ""


@dataclass
class Slot:
    """One deployed cartridge: the version serving, the one before it, and what it has done."""

    current: Cartridge
    previous: Cartridge | None
    deployed_at: float
    stats: Stats
    logs: deque[dict[str, Any]]


def _record(cartridge: Cartridge, at: float) -> dict[str, Any]:
    return {"manifest": cartridge.manifest.to_dict(), "deployed_at": at}


class Library:
    """Every deployed cartridge, persisted in the plugin's store; a swap is one dict assignment."""

    def __init__(
        self,
        store: Namespace,
        engine: Engine,
        policy: Policy,
        kv: KV,
        limiter: trio.CapacityLimiter,
        log_lines: int,
        publish: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.store = store
        self.host = Host(engine, policy, resolve=self.get, isolated=lambda slug: kv.view(slug, isolated=True), report=self.report)
        self.kv = kv
        self.limiter = limiter
        self.log_lines = log_lines
        self.publish = publish
        self.slots: dict[str, Slot] = {}
        self.failed: dict[str, str] = {}  # slugs whose stored version would not load at start, and why
        self._compiling = trio.CapacityLimiter(1)
        self._deploying: dict[str, trio.Lock] = {}
        self._modules = trio.Lock()  # saving a module and collecting unused ones do not interleave across slugs
        self._stats_lock = threading.Lock()

    def get(self, slug: str) -> Cartridge | None:
        """The version of `slug` serving now."""
        slot = self.slots.get(slug)
        return None if slot is None else slot.current

    # -- loading and deploying -------------------------------------------------------------

    async def load(self) -> None:
        """Bring back every cartridge the store holds (from the module cache: no recompiling)."""
        for key, record in self.store.scan("cart/"):
            slug = key.removeprefix("cart/")
            try:
                current = await self._prepare(record["current"]["manifest"])
                previous = await self._prepare(record["previous"]["manifest"]) if record.get("previous") else None
            except (DeployError, ManifestError, KeyError, TypeError) as exc:
                self.failed[slug] = f"the stored version did not load: {exc}"
                continue
            self.slots[slug] = Slot(current, previous, float(record["current"].get("deployed_at", 0)), Stats(), deque(maxlen=self.log_lines))

    async def _prepare(self, data: dict[str, Any]) -> Cartridge:
        manifest = parse(data)
        wasm = self.store.get(f"wasm/{manifest.sha256}")
        if not isinstance(wasm, bytes):
            raise DeployError(f"the module {manifest.sha256} is missing from the store")
        return await self._compile(manifest, wasm)

    async def _compile(self, manifest: CartridgeManifest, wasm: bytes) -> Cartridge:
        return await trio.to_thread.run_sync(self.host.prepare, manifest, wasm, limiter=self._compiling)

    async def deploy(self, manifest: CartridgeManifest, wasm: bytes) -> dict[str, Any]:
        """Compile, validate and hot-swap in a new version; on any failure the old version keeps serving."""
        start = time.perf_counter()
        async with self._deploying.setdefault(manifest.slug, trio.Lock()):
            try:
                cartridge = await self._compile(manifest, wasm)
            except DeployError as exc:
                self._refused(manifest, str(exc))
                raise
            manifest, sha256 = cartridge.manifest, cartridge.sha256
            old = self.slots.get(manifest.slug)
            dropped = self._stored(manifest.slug)
            at = time.time()
            # Serve at once; the durable save follows, and undoes the swap if it fails.
            if old is None:
                self.slots[manifest.slug] = Slot(cartridge, None, at, Stats(), deque(maxlen=self.log_lines))
            else:
                self.slots[manifest.slug] = Slot(cartridge, old.current, at, old.stats, old.logs)
            swap_ms = elapsed_ms(start)
            try:
                async with self._modules, self.store.transaction() as tx:
                    if self.store.get(f"wasm/{sha256}") is None:
                        tx.put(f"wasm/{sha256}", wasm)
                    tx.put(f"cart/{manifest.slug}", {"current": _record(cartridge, at), "previous": old and _record(old.current, old.deployed_at)})
            except Exception as exc:
                if old is None:
                    self.slots.pop(manifest.slug, None)
                else:
                    self.slots[manifest.slug] = old
                self._refused(manifest, f"it could not be saved: {exc}")
                raise DeployError(f"it could not be saved: {exc}") from None
            self.failed.pop(manifest.slug, None)
            await self._collect(dropped)
        info = {
            **self.describe(manifest.slug),
            "compiled": cartridge.source,
            "compile_ms": cartridge.compile_ms,
            "swap_ms": swap_ms,
            "ms": elapsed_ms(start),
        }
        self.publish("cartridges.deployed", {"slug": manifest.slug, "version": manifest.version, "sha256": sha256, "previous": info["previous"]})
        return info

    def _refused(self, manifest: CartridgeManifest, reason: str) -> None:
        """Tell the operator why a deploy failed, on the serving version's record and as an event."""
        slot = self.slots.get(manifest.slug)
        message = f"deploy of {manifest.slug} {manifest.version} failed: {reason}"
        if slot is not None:
            slot.stats.last_error = message
            slot.logs.append({"at": time.time(), "level": "error", "message": message, "depth": 0})
        self.publish("cartridges.deploy_failed", {"slug": manifest.slug, "version": manifest.version, "reason": reason})

    async def rollback(self, slug: str) -> dict[str, Any]:
        """Swap back to the previous version (running rollback again returns to the newer one)."""
        async with self._deploying.setdefault(slug, trio.Lock()):
            slot = self.slots.get(slug)
            if slot is None:
                raise LookupError(f"no cartridge {slug!r}")
            if slot.previous is None:
                raise DeployError(f"{slug} has no previous version to roll back to")
            at = time.time()
            swapped = Slot(slot.previous, slot.current, at, slot.stats, slot.logs)
            await self.store.put(f"cart/{slug}", {"current": _record(swapped.current, at), "previous": _record(slot.current, slot.deployed_at)})
            self.slots[slug] = swapped
        self.publish("cartridges.rolled_back", {"slug": slug, "version": swapped.current.manifest.version, "from": slot.current.manifest.version})
        return self.describe(slug)

    async def remove(self, slug: str) -> dict[str, Any]:
        """Stop serving `slug` and delete its versions, its KV data and its logs."""
        async with self._deploying.setdefault(slug, trio.Lock()):
            if slug not in self.slots and slug not in self.failed:
                raise LookupError(f"no cartridge {slug!r}")
            self.slots.pop(slug, None)
            self.failed.pop(slug, None)
            dropped = self._stored(slug)
            await self.store.delete(f"cart/{slug}")
            keys = await self.kv.remove(slug)
            await self._collect(dropped)
        self.publish("cartridges.removed", {"slug": slug, "kv_keys": keys})
        return {"slug": slug, "removed": True, "kv_keys": keys}

    def _stored(self, slug: str) -> set[str]:
        """The modules the stored record of `slug` names: the ones a deploy or remove may leave unused."""
        record = self.store.get(f"cart/{slug}")
        if not isinstance(record, dict):
            return set()
        versions = [record.get(which) for which in ("current", "previous")]
        manifests = [version.get("manifest") for version in versions if isinstance(version, dict)]
        return {manifest["sha256"] for manifest in manifests if isinstance(manifest, dict) and isinstance(manifest.get("sha256"), str)}

    async def _collect(self, dropped: set[str]) -> None:
        """Delete the stored modules in `dropped` that no version of any cartridge uses any more."""
        async with self._modules:
            used = {version.sha256 for slot in self.slots.values() for version in (slot.current, slot.previous) if version is not None}
            for slug in self.failed:
                used |= self._stored(slug)
            for sha256 in dropped - used:
                await self.store.delete(f"wasm/{sha256}")
                await trio.to_thread.run_sync(self.host.engine.forget, sha256)  # unlinks its cache file

    # -- running ---------------------------------------------------------------------------

    async def invoke(self, cartridge: Cartridge, request: bytes, payment: bytes = b"null") -> Outcome:
        """Run one request in a worker thread and commit its KV writes; a trap or timeout commits nothing.

        Commits are optimistic; a request whose reads were overwritten meanwhile runs again holding
        the cartridge's KV lock, so it cannot be overtaken twice.
        """
        view = self.kv.view(cartridge.slug)
        outcome = await self._run(cartridge, request, view, payment)
        if not outcome.ok or await self.kv.commit(view):
            return outcome
        async with self.kv.lock(cartridge.slug):
            view = self.kv.view(cartridge.slug)
            outcome = await self._run(cartridge, request, view, payment)
            if not outcome.ok or await self.kv.apply(view):
                return outcome
        return Outcome(cartridge.slug, error="its KV writes would pass its quota; nothing was saved", kind="kv")

    async def _run(self, cartridge: Cartridge, request: bytes, view: View, payment: bytes) -> Outcome:
        return await trio.to_thread.run_sync(self.host.run, cartridge, request, view, payment, limiter=self.limiter)

    def report(self, outcome: Outcome) -> None:
        """Count one finished invocation and keep its logs; called from worker threads."""
        slot = self.slots.get(outcome.slug)
        if slot is None:
            return
        now = time.time()
        with self._stats_lock:
            stats = slot.stats
            stats.calls += 1
            stats.fuel += outcome.fuel
            stats.ms += outcome.ms
            for level, message in outcome.logs:
                slot.logs.append({"at": now, "level": level, "message": message, "depth": outcome.depth})
            if outcome.error is not None:
                stats.errors += 1
                stats.traps[outcome.kind if outcome.kind in ("fuel", "deadline") else "other"] += 1
                stats.last_error = f"{outcome.kind}: {outcome.error}"
                slot.logs.append({"at": now, "level": "error", "message": stats.last_error, "depth": outcome.depth})

    # -- views -----------------------------------------------------------------------------

    def describe(self, slug: str) -> dict[str, Any]:
        """One cartridge as `cartridges.list` shows it."""
        slot = self.slots[slug]
        manifest, stats = slot.current.manifest, slot.stats
        return {
            "slug": slug,
            "kind": manifest.kind,
            "version": manifest.version,
            "sha256": slot.current.sha256,
            "lang": manifest.lang,
            "price": manifest.price,
            "hook": manifest.hook,
            "limits": slot.current.limits.to_dict(),
            "previous": None if slot.previous is None else slot.previous.manifest.version,
            "deployed_at": slot.deployed_at,
            "kv_bytes": self.kv.usage(slug),
            "calls": stats.calls,
            "errors": stats.errors,
            "fuel": stats.fuel,
            "mean_ms": round(stats.ms / stats.calls, 3) if stats.calls else 0.0,
            "traps": dict(stats.traps),
            "last_error": stats.last_error,
        }

    def rows(self) -> list[dict[str, Any]]:
        """Every cartridge, in slug order; those whose stored version failed to load carry only the reason."""
        rows = [self.describe(slug) for slug in self.slots]
        rows += [{"slug": slug, "kind": None, "version": None, "last_error": reason} for slug, reason in self.failed.items()]
        return sorted(rows, key=lambda row: row["slug"])

    def logs(self, slug: str, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` log lines of a cartridge, oldest first."""
        slot = self.slots.get(slug)
        if slot is None:
            raise LookupError(f"no cartridge {slug!r}")
        return list(slot.logs)[-limit:] if limit > 0 else []
