"""colony.testing: what plugin authors (and colony itself) use to test against a real node."""

from .clock import FakeClock
from .conformance import ConformanceError, check_plugin, static_problems
from .node import RunningNode, SyncClient, temporary_plugin

__all__ = [
    "ConformanceError",
    "FakeClock",
    "RunningNode",
    "SyncClient",
    "check_plugin",
    "static_problems",
    "temporary_plugin",
]
