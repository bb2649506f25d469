"""The tools other plugins register: their schemas, and running one call time-boxed with every failure caught."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import trio

from colony.core import BudgetError, ToolError, invoke

if TYPE_CHECKING:
    from colony.core import PluginContext, Registration

KEPT = 2000  # characters of a step's result kept in the plan (the seed keeps 8,000 in its context)


def registered(ctx: PluginContext) -> dict[str, Registration]:
    """Every registered tool by name."""
    return {reg.key: reg for reg in ctx.registrations("tool")}


def schemas(ctx: PluginContext) -> dict[str, dict[str, Any]]:
    """Every registered tool's parameters schema by name."""
    return {name: reg.meta["parameters"] for name, reg in registered(ctx).items()}


def declarations(ctx: PluginContext) -> list[dict[str, Any]]:
    """Name, description and parameters of every tool, as the LLM's function declarations want them."""
    return [
        {"name": name, "description": reg.meta["description"], "parameters": reg.meta["parameters"]}
        for name, reg in sorted(registered(ctx).items())
    ]


async def run(reg: Registration, args: Any, timeout: float) -> dict[str, Any]:
    """Call the tool with `args`: `{"ok": True, "output": ...}`, or `{"ok": False, "error": ...}` for any failure."""
    try:
        with trio.fail_after(timeout):
            output = await invoke(reg, args)
        return {"ok": True, "output": json.loads(json.dumps(output, default=str))}
    except trio.TooSlowError:
        return {"ok": False, "error": f"{reg.key} timed out after {timeout:g}s"}
    except (ToolError, BudgetError) as exc:
        return {"ok": False, "error": str(exc)[:KEPT]}
    except Exception as exc:  # a tool's bug must not reach the soul's loop
        return {"ok": False, "error": f"{reg.key} failed: {type(exc).__name__}: {exc}"[:KEPT]}


def kept(result: Any) -> Any:
    """`result` as stored in a plan step: as is when short, else its JSON cut to `KEPT` characters."""
    text = json.dumps(result, default=str)
    if len(text) <= KEPT:
        return result
    if isinstance(result, dict) and "ok" in result:
        return {"ok": result["ok"], "clipped": text[:KEPT]}
    return {"clipped": text[:KEPT]}
