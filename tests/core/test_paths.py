"""Atomic private writes: the mode, replacing, and never clobbering without `replace`."""

from __future__ import annotations

import os
from pathlib import Path

from colony.core.paths import write_private


def test_owner_only_by_default_and_a_wider_mode_when_asked(tmp_path: Path) -> None:
    old = os.umask(0o077)  # a strict umask must not narrow an explicit mode
    try:
        write_private(tmp_path / "secret", b"s")
        write_private(tmp_path / "tool", b"#!/bin/sh\n", mode=0o755)
    finally:
        os.umask(old)
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tool").stat().st_mode & 0o777 == 0o755
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_without_replace_the_file_already_there_wins(tmp_path: Path) -> None:
    write_private(tmp_path / "key", b"first")
    write_private(tmp_path / "key", b"second", replace=False)
    assert (tmp_path / "key").read_bytes() == b"first"
    write_private(tmp_path / "key", b"third")
    assert (tmp_path / "key").read_bytes() == b"third"
