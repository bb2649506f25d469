"""The events a node streamed to us, kept in a bounded history that screens render from."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

HISTORY = 5000


@dataclass
class Feed:
    """Bounded event history numbered by arrival, with rate and loss accounting."""

    history: deque[tuple[int, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    received: int = 0
    client_dropped: int = 0
    node_dropped: int = 0
    _rate_mark: tuple[float, int] = (0.0, 0)
    rate: float = 0.0

    def push(self, event: dict[str, Any]) -> None:
        """Add one event (called for every notification; must stay cheap)."""
        self.received += 1
        self.history.append((self.received, event))

    def since(self, after: int) -> list[tuple[int, dict[str, Any]]]:
        """Events numbered above `after`, oldest first (as many as the history still holds)."""
        if not self.history or self.history[-1][0] <= after:
            return []
        start = max(0, len(self.history) - (self.received - after))
        return [self.history[i] for i in range(start, len(self.history))]

    def lost_before(self, after: int) -> int:
        """How many events after `after` fell out of the history before anyone rendered them."""
        oldest = self.history[0][0] if self.history else self.received + 1
        return max(0, oldest - after - 1)

    def update_rate(self, now: float | None = None) -> float:
        """Recompute events per second since the last call."""
        now = time.monotonic() if now is None else now
        then, count = self._rate_mark
        if then and now > then:
            self.rate = (self.received - count) / (now - then)
        self._rate_mark = (now, self.received)
        return self.rate
