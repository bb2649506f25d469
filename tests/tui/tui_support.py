"""Helpers for driving ColonyApp headless under asyncio (trio_mode runs only `async def` tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from colony.tui.app import ColonyApp

Scenario = Callable[[ColonyApp, Pilot], Awaitable[None]]


def drive(app: ColonyApp, scenario: Scenario, size: tuple[int, int] = (160, 48)) -> None:
    """Run `scenario(app, pilot)` against the app, headless."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(app, pilot)

    asyncio.run(main())


async def wait_for(pilot: Pilot, check: Callable[[], object], what: str = "", timeout: float = 10.0) -> None:
    """Let the app run until `check()` is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await pilot.pause(0.05)


async def wait_until_thread(check: Callable[[], object], pilot: Pilot, timeout: float = 10.0) -> None:
    """Like `wait_for`, but `check` does blocking I/O, so it runs in a thread."""
    await wait_for_async(lambda: asyncio.to_thread(check), pilot, timeout)


async def wait_for_async(check: Callable[[], Awaitable[object]], pilot: Pilot, timeout: float = 10.0) -> None:
    """Let the app run until the awaited `check()` is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        await pilot.pause(0.05)
