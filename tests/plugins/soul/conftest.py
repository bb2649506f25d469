"""A node with the soul and a drop-in plugin of test tools that also proposes plans."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from colony.testing import FakeClock, RunningNode
from tests.conftest import write_plugin

# Tools the soul can run, and proposals for goals written as "echo WORDS", "fail WORDS" or "loop".
TOOLS = '''
import json
import trio
from colony.core import Manifest, ToolError

PLUGIN = Manifest(name="soultools", version="1.0.0")
OBJECT = {"type": "object", "properties": {}}
calls = []


def colony_register(registrar, ctx):
    def echo(text):
        calls.append(("echo", text))
        (ctx.home / "echoed.txt").open("a").write(text + "\\n")
        return {"text": text}

    def fail(reason):
        calls.append(("fail", reason))
        raise ToolError(f"failed on purpose: {reason}")

    def boom():
        raise RuntimeError("a bug in the tool")

    async def slow(seconds):
        await trio.sleep(seconds)
        return {"slept": seconds}

    text = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    reason = {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]}
    seconds = {"type": "object", "properties": {"seconds": {"type": "number"}}, "required": ["seconds"]}
    registrar.tool("echo", echo, description="Write TEXT to echoed.txt.", parameters=text)
    registrar.tool("fail", fail, description="Always fails.", parameters=reason)
    registrar.tool("boom", boom, description="Raises a bug.", parameters=OBJECT)
    registrar.tool("slow", slow, description="Sleeps.", parameters=seconds)
    registrar.rpc("soultools.calls", lambda: calls)


def colony_propose(tick, goal):
    words = goal["text"].split()
    if words[0] == "echo":
        steps = [{"action": "echo", "params": {"text": word}} for word in words[1:]]
    elif words[0] == "fail":
        steps = [{"action": "fail", "params": {"reason": " ".join(words[1:])}}]
    elif words[0] == "loop":
        steps = [{"action": "echo", "params": {"text": "again"}}] * 4
    elif words[0] == "unknown":
        steps = [{"action": "no_such_tool", "params": {}}]
    else:
        return None
    return {"steps": steps, "confidence": 0.7, "why": "the test tools know this goal"}
'''

CALM = {"autonomous": False, "think_every_idle": 1, "breaker_failures": 100}


@pytest.fixture(autouse=True)
def no_gemini_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run at T0 unless they give a key themselves."""
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)


@pytest.fixture
def soul_node(tmp_path: Path) -> Iterator[Callable[..., RunningNode]]:
    """Start nodes with the soul and the test tools: `soul_node(clock=None, also=(), budgets=None, **soul_config)`.

    `also` names more plugins to run, `budgets` is the node's budgets section; the last home is reused.
    """
    started: list[RunningNode] = []
    home = tmp_path / "home"
    write_plugin_dir(home)

    def start(clock: FakeClock | None = None, *, also: Sequence[str] = (), budgets: dict[str, Any] | None = None, **config: Any) -> RunningNode:
        settings: dict[str, Any] = {"plugin": {"soul": CALM | config}} | ({"budgets": budgets} if budgets else {})
        node = RunningNode(home, plugins=["soul", "soultools", *also], config=settings, clock=clock).start()
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


def write_plugin_dir(home: Path) -> None:
    (home / "plugins").mkdir(parents=True, exist_ok=True)
    write_plugin(home, "soultools", TOOLS)


def ticks(node: RunningNode, count: int) -> list[dict[str, Any]]:
    """Run `count` ticks and return their records."""
    return [node.tick() for _ in range(count)]
