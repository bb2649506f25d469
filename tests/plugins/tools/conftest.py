"""Nodes running the tools plugin, and calling tools over the control socket as `tools.call` does."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from colony.core.rpc import INVALID_PARAMS, OPERATION_FAILED, RPCError
from colony.testing import RunningNode

# Tests call tools many times in one tick, some with the same arguments: no budget, a loose guard.
UNMETERED = {"budgets": {"tool_calls": {"per_tick": 0, "per_day": 0}}, "guard": {"repeat_limit": 1000}}
CAPS = {"max_read": 1000, "max_write": 2000, "max_entries": 5, "max_matches": 3, "max_output": 1000, "timeout": 30.0, "file_mib": 1}


def tools_config(**tools: Any) -> dict[str, Any]:
    """Node config: no tool-call budget, and the tools plugin with the test caps and `tools` options."""
    return {**UNMETERED, "plugin": {"tools": {**CAPS, **tools}}}


def call(node: RunningNode, tool: str, /, **arguments: Any) -> Any:
    """Call `tool` through `tools.call`."""
    return node.call("tools.call", name=tool, arguments=arguments)


def call_inside(node: RunningNode, name: str, arguments: Any) -> Any:
    """Call tool `name` through the `tools.call` handler in the node's own trio thread, past the control socket.

    For arguments the socket cannot carry yet: its audit of destructive calls fails on lone surrogates.
    """
    handler = node.kernel.registry.get("rpc", "tools.call").value  # type: ignore[union-attr]
    return node.run(handler, name, arguments)


def refusal(node: RunningNode, tool: str, /, **arguments: Any) -> str:
    """The message of the clear error (bad params or a ToolError) that `tool` answers."""
    with pytest.raises(RPCError) as caught:
        call(node, tool, **arguments)
    assert caught.value.code in (INVALID_PARAMS, OPERATION_FAILED), caught.value
    return caught.value.message


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (exited, or a zombie waiting for its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.fixture(scope="module")
def tools_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    """A node running only the tools plugin, with small caps, shared by a test module."""
    with RunningNode(tmp_path_factory.mktemp("tools"), plugins=["tools"], config=tools_config()) as node:
        yield node


@pytest.fixture
def workspace(tools_node: RunningNode) -> Iterator[Path]:
    """The node's workspace folder, empty at the start of the test."""
    root = tools_node.home / "workspace"
    for path in root.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    yield root
