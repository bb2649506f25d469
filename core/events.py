"""Typed events and the bus: bounded per-subscriber channels that drop the oldest, never block."""

from __future__ import annotations

import fnmatch
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import trio


@dataclass(frozen=True)
class Event:
    """Base class of typed events; subclasses set `topic` and add fields."""

    topic: ClassVar[str] = "event"

    def payload(self) -> dict[str, Any]:
        """The event's fields as plain data."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "topic"}


@dataclass(frozen=True)
class Notice(Event):
    """An event whose topic is chosen at run time."""

    topic: str  # type: ignore[misc]
    data: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return dict(self.data)


@dataclass(frozen=True)
class PluginStateChanged(Event):
    """A plugin moved to a new lifecycle state."""

    topic: ClassVar[str] = "plugin.state"
    plugin: str
    state: str
    reason: str = ""


@dataclass(frozen=True)
class PluginFailed(Event):
    """A plugin's hook implementation, task or RPC method raised."""

    topic: ClassVar[str] = "plugin.error"
    plugin: str
    where: str
    error: str
    traceback: str = ""


@dataclass(frozen=True)
class SwapStage(Event):
    """One stage of a blue/green swap: staging, validated, started, healthy, switched, rolled-back."""

    topic: ClassVar[str] = "plugin.swap"
    plugin: str
    stage: str
    detail: str = ""


@dataclass(frozen=True)
class TickCompleted(Event):
    """A heartbeat tick finished."""

    topic: ClassVar[str] = "heartbeat.tick"
    number: int
    duration_ms: float
    steps: int
    errors: int


@dataclass(frozen=True)
class BudgetHit(Event):
    """A budget refused spending: `used + amount` would pass `limit` for the tick or the day."""

    topic: ClassVar[str] = "budget.exceeded"
    kind: str
    scope: str
    used: int
    amount: int
    limit: int


@dataclass(frozen=True)
class GuardTripped(Event):
    """The repeat guard refused the `count`-th call in a row of `action` with the same params."""

    topic: ClassVar[str] = "guard.tripped"
    action: str
    params: str
    count: int
    limit: int


@dataclass(frozen=True)
class NodeLifecycle(Event):
    """The node started or is stopping."""

    topic: ClassVar[str] = "node.lifecycle"
    state: str
    node_id: str


@dataclass(frozen=True)
class Envelope:
    """An event as delivered: numbered, timestamped and attributed."""

    seq: int
    ts: float
    topic: str
    source: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The envelope as plain data (the wire form)."""
        return asdict(self)


def topic_matches(topic: str, patterns: Iterable[str]) -> bool:
    """Whether `topic` matches any glob in `patterns` (`plugin.*`, `*`)."""
    return any(fnmatch.fnmatchcase(topic, pattern) for pattern in patterns)


class Subscription:
    """One subscriber's bounded buffer; when full, the oldest event goes and `dropped` grows."""

    def __init__(self, bus: Bus, patterns: tuple[str, ...], size: int) -> None:
        self.bus = bus
        self.patterns = patterns
        self.dropped = 0
        self._buffer: deque[Envelope] = deque(maxlen=size)
        self._wakeup = trio.Event()
        self._closed = False

    def wants(self, topic: str) -> bool:
        """Whether this subscription takes events of `topic`."""
        return not self.patterns or topic_matches(topic, self.patterns)

    def deliver(self, envelope: Envelope) -> None:
        """Buffer an event without ever blocking."""
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
            self.bus.dropped += 1
        self._buffer.append(envelope)
        self._wakeup.set()

    async def receive(self) -> Envelope:
        """The next event; raises `trio.EndOfChannel` once closed and drained."""
        while not self._buffer:
            if self._closed:
                raise trio.EndOfChannel
            self._wakeup = trio.Event()
            await self._wakeup.wait()
        return self._buffer.popleft()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Envelope:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Stop receiving; a waiting reader ends after the buffer drains."""
        self._closed = True
        self.bus.unsubscribe(self)
        self._wakeup.set()


class Bus:
    """Publish/subscribe on topics, with a ring of recent events and an optional audit sink."""

    def __init__(self, channel_size: int = 1024, recent: int = 1000, clock: Callable[[], float] = time.time) -> None:
        self.channel_size = channel_size
        self.clock = clock
        self.published = 0
        self.dropped = 0
        self.recent: deque[Envelope] = deque(maxlen=recent)
        self.sinks: list[Callable[[Envelope], None]] = []
        self._subs: list[Subscription] = []

    def publish(self, event: Event, source: str = "kernel") -> Envelope:
        """Deliver `event` to every matching subscriber; never blocks."""
        self.published += 1
        envelope = Envelope(self.published, self.clock(), event.topic, source, event.payload())
        self.recent.append(envelope)
        for sink in self.sinks:
            sink(envelope)
        for sub in tuple(self._subs):
            if sub.wants(envelope.topic):
                sub.deliver(envelope)
        return envelope

    def subscribe(self, patterns: Iterable[str] = (), size: int | None = None) -> Subscription:
        """A new subscription to topics matching `patterns` (all topics when empty)."""
        sub = Subscription(self, tuple(patterns), size or self.channel_size)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscription; unknown ones are ignored."""
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open."""
        return len(self._subs)
