"""`colony soul`: chat with the soul, nudge it, and list, abandon, approve or reject its goals and plans."""

from __future__ import annotations

import json
from typing import Any

import click

from colony.core.cli import connection, emit_json, rpc_view
from colony.core.client import Client


@click.group("soul")
def soul() -> None:
    """The soul: chat with it, nudge it with goals, and steer its goals and plans."""


def table(rows: list[tuple[str, ...]]) -> None:
    """Print rows as aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def progress(plan: dict[str, Any] | None) -> str:
    """`p3 2/5` for a plan with 2 of 5 steps done, or `-`."""
    if plan is None:
        return "-"
    done = sum(step["status"] == "ok" for step in plan["steps"])
    waiting = " waiting" if plan["status"] == "active" and not plan["approved"] else ""
    return f"{plan['id']} {done}/{len(plan['steps'])}{waiting}"


def show_plan(plan: dict[str, Any]) -> None:
    """A plan's header line, then one line per step."""
    waiting = ", awaiting approval" if plan["status"] == "active" and not plan["approved"] else ""
    click.echo(f"plan {plan['id']} for goal {plan['goal']} ({plan['source']}, {plan['status']}, {plan['replans']} replans{waiting})")
    for number, step in enumerate(plan["steps"], 1):
        params = json.dumps(step["params"], separators=(",", ":"))
        click.echo(f"  {number:>2}. {step['status']:<8} {step['action']} {params[:100]}")


@soul.command("chat")
@click.argument("message")
@rpc_view("soul.chat")
async def soul_chat(client: Client, answer: dict[str, Any], message: str) -> None:
    """Say MESSAGE to the soul and print its answer (and the tools it called)."""
    click.echo(answer["reply"])
    if answer["calls"]:
        click.echo("called: " + ", ".join(f"{call['name']} ({'ok' if call['ok'] else 'failed'})" for call in answer["calls"]))
    click.echo(f"[{answer['tier']}]")


@soul.command("nudge")
@click.argument("text")
@click.option("--priority", type=click.IntRange(1, 10), default=5, show_default=True, help="Priority of the goal, 1-10 (higher first).")
@rpc_view("soul.nudge")
async def soul_nudge(client: Client, goal: dict[str, Any], text: str, priority: int) -> None:
    """Give the soul the goal TEXT; it comes before the soul's own goals."""
    click.echo(f"goal {goal['id']} (priority {goal['priority']}): {goal['text']}")


@soul.command("goals")
@click.option("--all", "show_all", is_flag=True, help="Also list finished goals (done, failed, abandoned).")
@click.option("--abandon", metavar="ID", help="Abandon the active goal ID instead of listing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection
async def soul_goals(client: Client, remote: bool, show_all: bool, abandon: str | None, as_json: bool) -> None:
    """List the soul's active goals in work order, or abandon one."""
    if abandon is not None:
        goal = await client.call("soul.abandon", goal_id=abandon)
        if as_json:
            emit_json(goal)
        else:
            click.echo(f"abandoned goal {goal['id']}: {goal['text']}")
        return
    goals = await client.call("soul.goals", all=show_all)
    if as_json:
        emit_json(goals)
    elif not goals:
        click.echo("no goals" if show_all else "no active goals")
    else:
        rows = [("ID", "PRI", "STATUS", "SOURCE", "PLAN", "GOAL")]
        rows += [(g["id"], str(g["priority"]), g["status"], g["source"], progress(g["plan"]), g["text"][:80]) for g in goals]
        table(rows)


@soul.command("plans")
@click.option("--approve", metavar="ID", help="Approve the waiting plan ID so that it runs.")
@click.option("--reject", metavar="ID", help="Reject plan ID; the soul plans its goal again.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@connection
async def soul_plans(client: Client, remote: bool, approve: str | None, reject: str | None, as_json: bool) -> None:
    """Show the plan of every active goal, or approve or reject one."""
    if approve is not None and reject is not None:
        raise click.UsageError("give --approve or --reject, not both")
    if approve is not None or reject is not None:
        method, plan_id = ("soul.approve", approve) if approve is not None else ("soul.reject", reject)
        plan = await client.call(method, plan_id=plan_id)
        if as_json:
            emit_json(plan)
        else:
            click.echo(f"{'approved' if approve is not None else 'rejected'} plan {plan['id']}")
            show_plan(plan)
        return
    plans = await client.call("soul.plans")
    if as_json:
        emit_json(plans)
        return
    if not plans:
        click.echo("no plans")
    for plan in plans:
        show_plan(plan)
