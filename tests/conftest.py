"""Shared fixtures: short socket paths and kernels started inside trio tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from colony.core.config import Config
from colony.core.kernel import Kernel


@pytest.fixture
def sockdir() -> Iterator[Path]:
    """A short folder for Unix sockets (pytest's tmp_path can exceed the 107-byte limit)."""
    path = Path(tempfile.mkdtemp(prefix="colony-t-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A node home with an empty drop-in folder."""
    path = tmp_path / "home"
    (path / "plugins").mkdir(parents=True)
    return path


def write_plugin(home: Path, name: str, source: str) -> Path:
    """Write a drop-in plugin file into `home/plugins`."""
    path = home / "plugins" / f"{name}.py"
    path.write_text(source)
    return path


@pytest.fixture
def make_kernel(home: Path, sockdir: Path) -> Callable[..., Kernel]:
    """Build (not start) a kernel: `make_kernel(load=[names] or None for all, **sections)`."""

    def build(load: tuple[str, ...] | list[str] | None = (), clock: Callable[[], float] | None = None, **sections: dict[str, Any]) -> Kernel:
        overrides: dict[str, Any] = {
            "heartbeat": {"enabled": False},
            "control": {"socket": str(sockdir / "node.sock")},
            "plugins": {"load": list(load) if load is not None else None},
        }
        for section, values in sections.items():
            overrides.setdefault(section, {}).update(values)
        kwargs = {"clock": clock} if clock else {}
        return Kernel(Config(environ={}, overrides=overrides), home, **kwargs)

    return build


@asynccontextmanager
async def running(kernel: Kernel) -> AsyncIterator[Kernel]:
    """Run `kernel` for the duration of the block, then stop it cleanly."""
    async with trio.open_nursery() as nursery:
        await nursery.start(kernel.run)
        try:
            yield kernel
        finally:
            kernel.request_stop()


async def until(predicate: Callable[[], object]) -> None:
    """Yield to other tasks until `predicate()` holds (works under trio's MockClock too)."""
    for _ in range(1_000_000):
        if predicate():
            return
        await trio.sleep(0)
    raise AssertionError("condition never held")
