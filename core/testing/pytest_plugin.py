"""pytest fixtures for plugin authors, registered through the `pytest11` entry point."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from .anvil import Anvil, AnvilUnavailable
from .clock import FakeClock
from .node import RunningNode


@pytest.fixture
def colony_home(tmp_path: Path) -> Path:
    """An empty node home folder."""
    home = tmp_path / "colony-home"
    home.mkdir()
    return home


@pytest.fixture
def fake_clock() -> FakeClock:
    """A FakeClock whose idle time passes instantly."""
    return FakeClock(autojump_threshold=0)


@pytest.fixture
def colony_node(colony_home: Path) -> Iterator[RunningNode]:
    """A running node with no plugins and a manual heartbeat (`node.tick()`)."""
    with RunningNode(colony_home) as node:
        yield node


@pytest.fixture
def running_node(tmp_path: Path) -> Iterator[Callable[..., RunningNode]]:
    """A factory: `running_node(plugins=[...], config={...})` starts a node, stopped after the test."""
    nodes: list[RunningNode] = []

    def start(plugins: Sequence[str] | None = (), config: dict[str, Any] | None = None, home: Path | None = None) -> RunningNode:
        node = RunningNode(home or tmp_path / f"node{len(nodes)}", plugins=plugins, config=config).start()
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture(scope="session")
def anvil_chain() -> Iterator[Anvil]:
    """A real anvil chain (chain id 31337) shared by the session; installed from npm on first use."""
    try:
        chain = Anvil().start()
    except AnvilUnavailable as exc:
        pytest.fail(str(exc))
    yield chain
    chain.stop()
