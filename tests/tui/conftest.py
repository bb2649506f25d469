"""Fixtures for the TUI tests: no user keymap, short socket folders."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def no_user_keymap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own ~/.config/colony/tui.toml out of the tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short folder for sockets."""
    path = Path(tempfile.mkdtemp(prefix="colony-tui-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
