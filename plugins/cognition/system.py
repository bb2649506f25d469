"""Plumbing every cognitive-system plugin shares: learned state in the store, guarded merges, votes, panels.

The API (stable; the ten system plugins and third-party systems code against it):

- `System.load(ctx, from_dict, fresh, *, dump=to_dict, key="state") -> System[S]`: the system's
  learned state read from `ctx.store[key]` through the rule module's `from_dict`; no stored state
  gives `fresh()`, a corrupt one is logged, kept aside under `<key>.corrupt` on the next `save`, and
  replaced by `fresh()` (`system.recovered` says why). Never raises for bad stored data.
  - `system.state`: the live state; assign a new value when the rule module returns new states.
  - `await system.save()`: one write of `dump(state)`, queued (the tick does not wait for the disk;
    the store commits it with the tick's other writes, in order); call it at the end of
    `colony_reflect`. `load` first lets queued writes commit, so a swapped-in copy reads the newest.
  - `await system.close()`: save only when `system.dirty` (call it in `colony_stop`). `merge` sets
    `dirty`; set it yourself when you change the state outside `colony_reflect`. During a blue/green
    swap the new copy loads while the old still runs, so an old copy must not overwrite what the
    new one saved: a clean state is never re-saved.
  - `system.merge(peer, data, rate, apply) -> bool`: run `apply(copy, data, rate)` on a copy of the
    state (`apply` returns the new state, or None when it updated the copy in place); the result must
    survive the store's round trip (`from_dict` of the msgpack of `dump(result)`). A rate outside
    [0, 1], hostile peer data or any error in `apply` is logged as a warning and ignored (the state is
    untouched); True when merged.
  - `system.copy()`: a deep copy of the state, through its plain form.
- `await stop(running)`: `colony_stop`'s work for a plugin whose module-level `_state` dict keeps its
  `System` under "system": empty the dict, then `close()` the system.
- `learning_steps(tick)`: the steps that are learning material (status ok or failed).
- `lessons(tick)`: the learning steps with their failure's error class (None when ok), rate-limited
  failures left out (transient, not the step's fault).
- `votes(appraisals)`: every appraisal that is a vote (a dict with a numeric `"vote"`) as a
  `rules.synthesis.Vote`, keyed by plugin; `vote_dict(vote)` is the contract's appraisal shape.
- `observation(tick, plugin)`: that plugin's observation dict this tick ({} when absent or not a dict).
- `goal(tick)`: the soul's current goal dict (`observations["soul"]["goal"]`), or None.
- `failure_text(step)`: the error messages a failed step's results carry ("" when none).
- `fired(tick, op)`: whether colony_state reports oscillator `op` fired
  (`observations["colony_state"]["fired"]`).
- `due(tick, ops, every)`: whether work scheduled by those oscillators is due: one of `ops` fired
  when colony_state runs, else every `every` ticks (0: never).
- `numbers(value)`: a dict's finite-number entries as floats by string key ({} for anything else).
- `rng(name, tick)`: a deterministic `random.Random` for one system and tick.
- `rounded(value)`: floats rounded to 4 places, through dicts and lists (observations are rounded).
- `panel(gauges, *, series=None, table=None, text=None)` / `NOT_RUNNING`: TUI panel data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import msgpack

from colony.core import PluginContext, Step, Tick

from .rules.feedback import classify_error
from .rules.numbers import clamp, is_number
from .rules.synthesis import Vote

S = TypeVar("S")
STATE_KEY = "state"
LEARNING = ("ok", "failed")
NOT_RUNNING: dict[str, Any] = {"text": "not running"}
PLACES = 4


def to_dict(state: Any) -> Any:
    """The default dump: the rule module's `to_dict()`."""
    return state.to_dict()


class System(Generic[S]):
    """One cognitive system's learned state, bound to its plugin's store."""

    def __init__(self, ctx: PluginContext, state: S, from_dict: Callable[[Any], S], dump: Callable[[S], Any], key: str) -> None:
        self.ctx = ctx
        self.state = state
        self.from_dict = from_dict
        self.dump = dump
        self.key = key
        self.recovered = ""  # why the stored state was replaced by a fresh one, if it was
        self.dirty = False  # changed since the last save
        self._corrupt: Any = None

    @classmethod
    def load(
        cls,
        ctx: PluginContext,
        from_dict: Callable[[Any], S],
        fresh: Callable[[], S],
        *,
        dump: Callable[[S], Any] = to_dict,
        key: str = STATE_KEY,
    ) -> System[S]:
        """The stored state, or a fresh one when there is none or it cannot be read."""
        # Saves are queued, not awaited: let those of an earlier copy of this plugin (a swap) commit first.
        ctx.store.store.commit_sync([])
        stored = ctx.store.get(key)
        if stored is None:
            return cls(ctx, fresh(), from_dict, dump, key)
        try:
            state = from_dict(stored)
        except Exception as exc:  # stored data from an older or damaged node: any failure means "unreadable"
            system = cls(ctx, fresh(), from_dict, dump, key)
            system.recovered = f"{type(exc).__name__}: {exc}"
            system._corrupt = stored
            ctx.log.warning("stored %s state is unreadable (%s); starting fresh", ctx.name, system.recovered)
            return system
        return cls(ctx, state, from_dict, dump, key)

    async def save(self) -> None:
        """Queue one write of the state (and, once, of the unreadable state it replaced, for a post-mortem).

        The tick does not wait for the disk: the store commits the write with the other systems' writes
        and the tick's record, in one transaction, in order. A state the store cannot hold fails here.
        """
        txn = self.ctx.store.transaction()
        if self._corrupt is not None:
            txn.put(f"{self.key}.corrupt", self._corrupt)
        txn.put(self.key, self.dump(self.state))
        txn.queue(self._written)
        self._corrupt, self.dirty = None, False

    def _written(self, error: BaseException | None) -> None:
        """The store's word on a queued write (called on its writer thread)."""
        if error is not None:
            self.ctx.log.error("saving the %s state failed: %s", self.ctx.name, error)

    async def close(self) -> None:
        """Save the state if it changed since the last save."""
        if self.dirty:
            await self.save()

    def copy(self) -> S:
        """A deep copy of the state, through its plain form."""
        return self.from_dict(self.dump(self.state))

    def merge(self, peer: str, data: Any, rate: Any, apply: Callable[[S, Any, float], S | None]) -> bool:
        """Blend a peer's exported state in through `apply`, or log and ignore it when anything is wrong."""
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            self.ctx.log.warning("merge from %s ignored: rate %r is not a number in [0, 1]", peer, rate)
            return False
        try:
            ours = self.copy()
            result = apply(ours, data, float(rate))
            merged = ours if result is None else result
            self.from_dict(msgpack.unpackb(msgpack.packb(self.dump(merged)), strict_map_key=False))  # storable and loadable
        except Exception as exc:  # peer data is hostile until proven otherwise: no failure may escape
            self.ctx.log.warning("merge from %s ignored: %s: %.200s", peer, type(exc).__name__, exc)
            return False
        self.state, self.dirty = merged, True
        return True


async def stop(running: dict[str, Any]) -> None:
    """Forget a plugin's running state and save its System (kept under "system") if it changed."""
    system = running.get("system")
    running.clear()
    if isinstance(system, System):
        await system.close()


def learning_steps(tick: Tick) -> list[Step]:
    """The tick's steps that ran to an outcome (ok or failed): the only learning material."""
    return [step for step in tick.steps if step.status in LEARNING]


def lessons(tick: Tick) -> list[tuple[Step, str | None]]:
    """The learning steps with their failure's error class (None when ok); a rate-limited failure is transient trouble, never a lesson."""
    found = [(step, None if step.status == "ok" else classify_error(failure_text(step))) for step in learning_steps(tick)]
    return [(step, error) for step, error in found if error != "rate_limit"]


def votes(appraisals: Mapping[str, Any]) -> dict[str, Vote]:
    """Every appraisal that is a vote (a dict with a numeric "vote"), clamped into range, by plugin."""
    found: dict[str, Vote] = {}
    for plugin, appraisal in appraisals.items():
        if not isinstance(appraisal, dict) or not is_number(appraisal.get("vote")):
            continue
        confidence = appraisal.get("confidence", 1.0)
        confidence = clamp(float(confidence), 0.0, 1.0) if is_number(confidence) else 1.0
        found[plugin] = Vote(plugin, clamp(float(appraisal["vote"]), -1.0, 1.0), confidence, str(appraisal.get("reason", ""))[:200])
    return found


def vote_dict(vote: Vote) -> dict[str, Any]:
    """A vote in the appraisal shape of the contract: vote, confidence, reason."""
    return {"vote": round(vote.value, PLACES), "confidence": round(vote.confidence, PLACES), "reason": vote.note}


def observation(tick: Tick, plugin: str) -> dict[str, Any]:
    """`plugin`'s observation this tick, or {} when it made none (or not a dict)."""
    seen = tick.observations.get(plugin)
    return seen if isinstance(seen, dict) else {}


def goal(tick: Tick) -> dict[str, Any] | None:
    """The soul's current goal this tick, or None."""
    found = observation(tick, "soul").get("goal")
    return found if isinstance(found, dict) else None


def failure_text(step: Step) -> str:
    """The "error" messages in a step's results (the kernel's refusal included), joined; "" when none."""
    errors = [str(result["error"]) for result in step.results.values() if isinstance(result, dict) and result.get("error")]
    return "; ".join(errors)[:500]


def fired(tick: Tick, op: str) -> bool:
    """Whether colony_state reports that oscillator `op` fired."""
    ops = observation(tick, "colony_state").get("fired")
    return isinstance(ops, list) and op in ops


def due(tick: Tick, ops: tuple[str, ...], every: int) -> bool:
    """When colony_state runs, whether one of its oscillators `ops` fired; without it, every `every` ticks (0: never)."""
    if observation(tick, "colony_state"):
        return any(fired(tick, op) for op in ops)
    return every > 0 and tick.number % every == 0


def numbers(value: Any) -> dict[str, float]:
    """The entries of a dict (another plugin's observation) whose values are finite numbers, as floats by string key."""
    return {str(key): float(item) for key, item in value.items() if is_number(item)} if isinstance(value, dict) else {}


def rng(name: str, tick: Tick) -> random.Random:
    """A random source fixed by the system's name and the tick number, so runs replay exactly."""
    return random.Random(f"{name}:{tick.number}")


def rounded(value: Any) -> Any:
    """`value` with every float rounded to 4 places, through dicts, lists and tuples."""
    if isinstance(value, float):
        return round(value, PLACES) if math.isfinite(value) else 0.0
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value


def panel(
    gauges: Mapping[str, Any],
    *,
    series: Mapping[str, list[float]] | None = None,
    table: tuple[list[str], list[list[Any]]] | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """Panel data for the TUI: rounded gauges, and series, a table (columns, rows) and text when given."""
    data: dict[str, Any] = {"gauges": rounded(dict(gauges))}
    if series:
        data["series"] = {name: rounded(list(points)) for name, points in series.items()}
    if table is not None:
        data["table"] = {"columns": table[0], "rows": rounded(table[1])}
    if text:
        data["text"] = text
    return data


