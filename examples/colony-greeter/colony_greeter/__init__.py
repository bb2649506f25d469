"""greeter: an example third-party colony plugin that greets by name and counts its greetings."""

from __future__ import annotations

from typing import Any

from colony.core import Manifest, Option, PluginContext, Registrar, RPCError, Step, Tick
from colony.core.rpc import INVALID_PARAMS, OPERATION_FAILED

PLUGIN = Manifest(
    name="greeter",
    version="0.1.0",
    description="Greets by name: a 'greeter.greet' action and RPC method, with a count kept in the store.",
    config={
        "name": Option("world", "Who to greet when a step or a call names nobody."),
        "plan_every": Option(0, "Plan a 'greeter.greet' step every N ticks; 0 never plans."),
    },
)

ACTION = "greeter.greet"
COUNT = "greetings"  # store key of the persistent count
MAX_NAME = 64


class Greeter:
    """The running plugin; the count lives in the store, so a reload or restart carries on from it."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.since_start = 0

    @property
    def count(self) -> int:
        """Greetings this node has ever made (read from the store)."""
        return int(self.ctx.store.get(COUNT, 0))

    async def greet(self, name: str | None = None) -> dict[str, Any]:
        """Greet `name` (default: the configured name), count it durably, and announce it."""
        who = self.ctx.config["name"] if name is None else check_name(name)
        # Atomic in the store, so even an old and a new version mid-swap cannot lose a greeting.
        count = await self.ctx.store.update(COUNT, lambda n: n + 1, default=0)
        self.since_start += 1
        self.ctx.publish("greeter.greeted", {"name": who, "count": count})
        return {"greeting": f"Hello, {who}!", "count": count}

    def metrics(self) -> dict[str, float]:
        """Gauges for `node.metrics` and the TUI."""
        return {"greetings": self.count, "greetings_since_start": self.since_start}


_state: dict[str, Greeter] = {}  # this version's running instance, set by colony_start


def check_name(name: str) -> str:
    """A usable name, stripped; raises ValueError otherwise."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME:
        raise ValueError(f"name must be 1 to {MAX_NAME} characters, not blank")
    return cleaned


# -- lifecycle ------------------------------------------------------------------------------


def colony_register(registrar: Registrar) -> None:
    """Add the greeter.greet RPC method and a TUI panel."""
    registrar.rpc("greeter.greet", greet)
    registrar.panel("greeter", stats, title="Greeter")


async def colony_start(ctx: PluginContext) -> None:
    """Create this version's state; the count is already in the store."""
    _state["greeter"] = Greeter(ctx)
    ctx.log.info("greeter started; %d greetings so far", _state["greeter"].count)


async def colony_stop(ctx: PluginContext) -> None:
    """Drop this version's state (nothing to flush: every greeting is already stored)."""
    _state.pop("greeter", None)


async def colony_health(ctx: PluginContext) -> bool | str:
    """Healthy once started and the stored count is readable."""
    if "greeter" not in _state:
        return "not started"
    return True if isinstance(ctx.store.get(COUNT, 0), int) else "the stored count is not an integer"


# -- heartbeat ------------------------------------------------------------------------------


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    """Report the greeting count and whom we greet by default."""
    greeter = _state.get("greeter")
    if greeter is None:
        return None
    return {"greetings": greeter.count, "name": greeter.ctx.config["name"]}


def colony_plan(tick: Tick) -> list[Step] | None:
    """Plan one greeting every `plan_every` ticks; by default no opinion, so other planners decide."""
    greeter = _state.get("greeter")
    if greeter is None:
        return None
    every: int = greeter.ctx.config["plan_every"]
    if every <= 0 or tick.number % every:
        return None
    return [Step(ACTION, {"name": greeter.ctx.config["name"]})]


async def colony_act(tick: Tick, step: Step) -> dict[str, Any] | None:
    """Carry out 'greeter.greet' steps (params: optional "name"); other actions are not ours."""
    greeter = _state.get("greeter")
    if step.action != ACTION or greeter is None:
        return None
    name = step.params.get("name")
    return await greeter.greet(name if isinstance(name, str) else None)


# -- observability and RPC ------------------------------------------------------------------


def colony_metrics() -> dict[str, float]:
    """Total greetings (persistent) and greetings since this version started."""
    greeter = _state.get("greeter")
    return greeter.metrics() if greeter else {}


def stats() -> dict[str, float]:
    """The greeter's gauges, for its TUI panel."""
    return colony_metrics()


async def greet(name: str | None = None) -> dict[str, Any]:
    """Greet `name` (default: the configured name); returns the greeting and the new count."""
    greeter = _state.get("greeter")
    if greeter is None:
        raise RPCError(OPERATION_FAILED, "greeter is not running")
    try:
        return await greeter.greet(name)
    except ValueError as exc:
        raise RPCError(INVALID_PARAMS, f"invalid params for greeter.greet: {exc}") from None
