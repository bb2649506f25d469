"""`colony tui --watch PATH`: swap a drop-in plugin into the node every time its file is saved."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio


def signature(path: Path) -> tuple[int, int] | None:
    """What changes when a file is saved: its mtime and size (None while it is missing)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


async def watch(path: Path, on_save: Callable[[Path], Awaitable[None]], interval: float = 0.25) -> None:
    """Call `on_save(path)` after each save, once the file has stopped changing for one interval."""
    seen = signature(path)
    while True:
        await anyio.sleep(interval)
        current = signature(path)
        if current is None or current == seen:
            continue
        # Editors often write in several steps; wait until two looks agree.
        while (settled := signature(path)) != current:
            current = settled
            await anyio.sleep(interval)
        seen = current
        await on_save(path)
