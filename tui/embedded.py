"""A node inside the TUI process: the trio kernel runs in guest mode on the asyncio loop Textual uses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import trio

from colony.core.config import Config


class _Started:
    """`task_status` for `Kernel.run` that resolves an asyncio future (guest tasks run on the loop's thread)."""

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future

    def started(self, value: object = None) -> None:
        self.future.set_result(None)


class EmbeddedNode:
    """Start with `await node.start()` from a running asyncio loop; `await node.stop()` ends it cleanly."""

    def __init__(self, config: Config, home: Path) -> None:
        self.config = config
        self.home = home
        self.socket: Path | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: Any = None
        self._started: asyncio.Future[None] | None = None
        self._finished: asyncio.Future[None] | None = None

    async def start(self) -> Path:
        """Run the kernel as a trio guest of this asyncio loop; returns its control socket."""
        # The kernel is imported here so that a TUI that only attaches never loads it.
        from colony.core.kernel import Kernel

        loop = asyncio.get_running_loop()
        self._started, self._finished = loop.create_future(), loop.create_future()
        kernel = Kernel(self.config, self.home)
        self._stop = kernel.request_stop
        self.socket = kernel.socket_path
        trio.lowlevel.start_guest_run(
            self._main,
            kernel,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=self._done,
            host_uses_signal_set_wakeup_fd=True,
        )
        await asyncio.shield(self._started)
        assert self.socket is not None
        return self.socket

    async def _main(self, kernel: Any) -> None:
        self._token = trio.lowlevel.current_trio_token()
        assert self._started is not None
        # No nursery here, so a failure to start reaches the caller as itself, not in a group.
        await kernel.run(task_status=_Started(self._started))

    def _done(self, outcome: Any) -> None:
        error: BaseException | None = None
        try:
            outcome.unwrap()
        except BaseException as exc:  # the kernel failed to start, or crashed
            error = exc
        # The error goes to whoever waits: start() if the node never started, else stop().
        waiting = self._started if self._started is not None and not self._started.done() else self._finished
        for future in (self._started, self._finished):
            if future is not None and not future.done():
                if error is not None and future is waiting:
                    future.set_exception(error)
                else:
                    future.set_result(None)

    async def stop(self) -> None:
        """Stop the kernel (plugins' colony_stop included) and wait until the guest run ends."""
        if self._token is not None and self._finished is not None and not self._finished.done():
            self._token.run_sync_soon(self._stop)
            await self._finished
