"""The hooks a colony plugin may implement; every one is documented in docs/hooks.md.

Implementations are plain functions named `colony_<hook>` in a plugin module (the
`@hookimpl` marker is optional and adds `tryfirst`/`trylast`). Any of them may be
`async def`. Lifecycle hooks are called on one plugin at a time; the others are called on
every active plugin, in pluggy's order, through the kernel's dispatcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .context import PluginContext, Registrar
    from .heartbeat import Outcome, Step, Tick

PROJECT = "colony"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# -- lifecycle (called on one plugin) -------------------------------------------------------


@hookspec
def colony_register(registrar: Registrar, ctx: PluginContext) -> None:
    """Declare what the plugin provides (RPC methods, routes, panels); they go live once it has started."""


@hookspec
async def colony_start(ctx: PluginContext) -> None:
    """Start the plugin: open resources, start background tasks with `ctx.start_task`."""


@hookspec
async def colony_stop(ctx: PluginContext) -> None:
    """Stop the plugin; its tasks are cancelled and its registrations undone afterwards."""


@hookspec
async def colony_health(ctx: PluginContext) -> bool | str | None:
    """Report health: True or None when healthy, False or a reason string when not."""


# -- heartbeat (observe -> recall -> gate -> plan -> [appraise -> act -> verify]* -> reflect) --


@hookspec
def colony_observe(tick: Tick) -> Any:
    """Contribute an observation of the node or the world to this tick."""


@hookspec
def colony_recall(tick: Tick) -> Any:
    """Contribute memories relevant to this tick's observations."""


@hookspec(firstresult=True)
def colony_gate(tick: Tick) -> Any:
    """Decide whether and how to think this tick: False rests, anything else proceeds."""


@hookspec(firstresult=True)
def colony_plan(tick: Tick) -> list[Step] | list[dict[str, Any]] | None:
    """Return the steps to run this tick; the first plugin with a plan wins."""


@hookspec
def colony_propose(tick: Tick, goal: dict[str, Any]) -> dict[str, Any] | None:
    """Offer a candidate plan for the soul's `goal`: `{"steps": [...], "confidence": 0..1, "why": str}`, or None."""


@hookspec
def colony_appraise(tick: Tick, step: Step) -> Any:
    """Score a step before it runs, seeing earlier appraisals in `step.appraisals`; returning False vetoes it."""


@hookspec
def colony_act(tick: Tick, step: Step) -> Any:
    """Carry out a step that this plugin handles; return its result, or None to pass."""


@hookspec
def colony_verify(tick: Tick, step: Step, result: dict[str, Any]) -> bool | None:
    """Check a step's results; returning False marks the step failed."""


@hookspec
def colony_reflect(tick: Tick, outcome: Outcome) -> Any:
    """Learn from the finished tick."""


# -- colony ------------------------------------------------------------------------------


@hookspec
def colony_export_state(peer: str) -> Any:
    """Return the learned state this plugin shares with `peer`."""


@hookspec
def colony_merge_state(peer: str, state: Any, rate: float) -> None:
    """Merge `state` received from `peer`, moving towards it by `rate` (0..1)."""


# -- cognition ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def colony_cognitive(name: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """Answer the cognitive computation `name` in place of its built-in code, or None to let it run."""


# -- economy -----------------------------------------------------------------------------


@hookspec(firstresult=True)
def colony_price(route: str) -> int | None:
    """Price of `route` in atomic units of the payment asset, or None for no opinion."""


@hookspec
def colony_payment_settled(receipt: dict[str, Any]) -> None:
    """A payment to this node settled on chain."""


# -- observability -----------------------------------------------------------------------


@hookspec
def colony_metrics() -> dict[str, float]:
    """Gauges for `/metrics`, `node.metrics` and the TUI."""


LIFECYCLE = ("colony_register", "colony_start", "colony_stop", "colony_health")
