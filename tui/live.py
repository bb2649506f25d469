"""Screens that fetch their own data: on every poll and on every heartbeat tick, one fetch in flight at a time."""

from __future__ import annotations

from typing import Any

from colony.core import rpc
from colony.core.client import Disconnected, ProtocolError, RPCError

from .base import ColonyScreen


class Missing(Exception):
    """The node does not serve a method (its plugin is not running there)."""


class LiveScreen(ColonyScreen):
    """Refetches when the app polls and when a tick event arrives; a fetch asked for meanwhile runs right after."""

    TOPICS: tuple[str, ...] = ("heartbeat.tick",)  # events (topics, or prefixes ending in a dot) that mean the data changed
    MUTATING: frozenset[str] = frozenset()  # actions that change the node: hidden (and refused) in --readonly mode

    def __init__(self) -> None:
        super().__init__()
        self.cursor = 0
        self.fetching = False
        self.stale = False

    def on_mount(self) -> None:
        """Also watch the event feed ten times a second for ticks."""
        super().on_mount()
        self.set_interval(0.1, self.drain_events)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the actions that change the node in read-only mode."""
        return not (self.colony.readonly and action in self.MUTATING)

    def refresh_data(self) -> None:
        """The app polled: fetch again."""
        self.request()

    def drain_events(self) -> None:
        """Fetch again when a tick (or another watched event) arrived since the last look."""
        feed = self.colony.feed
        fresh, self.cursor = feed.since(self.cursor) if self.is_current else [], feed.received
        if any(str(event.get("topic")).startswith(self.TOPICS) for _, event in fresh):
            self.request()

    def request(self) -> None:
        """Start a fetch, or mark the one in flight stale so another follows it."""
        if self.fetching:
            self.stale = True
            return
        self.fetching = True
        self.run_worker(self.fetch_until_fresh(), group=f"{type(self).__name__}-fetch", exit_on_error=False)

    async def fetch_until_fresh(self) -> None:
        """Fetch until no newer request came in meanwhile; a lost connection waits for the next poll."""
        try:
            while True:
                self.stale = False
                try:
                    await self.fetch()
                except (Disconnected, TimeoutError):
                    return
                except ProtocolError as exc:
                    self.colony.show_error(str(exc))
                    return
                if not self.stale:
                    return
        finally:
            self.fetching = False

    async def fetch(self) -> None:
        """Fetch and redraw."""

    async def call(self, method: str, **params: Any) -> Any:
        """Call the node; `Missing` when it does not serve `method`, `RPCError` for any other refusal."""
        try:
            return await self.colony.connection.call(method, **params)
        except RPCError as exc:
            if exc.code == rpc.METHOD_NOT_FOUND:
                raise Missing(method) from None
            raise
