"""A fake clock that drives both trio's time and the node's wall clock."""

from __future__ import annotations

from trio.testing import MockClock


class FakeClock:
    """trio's MockClock paired with a wall clock that moves with it.

    Run trio with `clock=fake.trio_clock` (RunningNode does) and the heartbeat's sleeps,
    timeouts and tick timestamps all follow `fake.jump(seconds)`; with
    `autojump_threshold=0`, idle time passes instantly.
    """

    def __init__(self, wall_start: float = 1_700_000_000.0, rate: float = 0.0, autojump_threshold: float = float("inf")) -> None:
        self.trio_clock = MockClock(rate=rate, autojump_threshold=autojump_threshold)
        self.wall_start = wall_start

    def jump(self, seconds: float) -> None:
        """Move time forward."""
        self.trio_clock.jump(seconds)

    def monotonic(self) -> float:
        """trio's current time under this clock."""
        return self.trio_clock.current_time()

    def wall(self) -> float:
        """Seconds since the epoch, as the node sees them."""
        return self.wall_start + self.trio_clock.current_time()
