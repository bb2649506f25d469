"""colony.testing: what plugin authors (and colony itself) use to test against a real node."""

from .anvil import Anvil, AnvilUnavailable, anvil_path
from .clock import FakeClock
from .conformance import ConformanceError, check_plugin, static_problems
from .gemini import FakeGemini, ScriptedAgent
from .node import RunningNode, SyncClient, temporary_plugin

__all__ = [
    "Anvil",
    "AnvilUnavailable",
    "ConformanceError",
    "FakeClock",
    "FakeGemini",
    "RunningNode",
    "ScriptedAgent",
    "SyncClient",
    "check_plugin",
    "static_problems",
    "anvil_path",
    "temporary_plugin",
]
