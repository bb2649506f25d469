"""Prepare tinygrad's environment: a C compiler for the CPU device, the kernel cache, the device."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from pathlib import Path

from colony.core.paths import write_private

_SHIM = """#!/bin/sh
# tinygrad's CPU compiler call rewritten for zig cc (written by colony's models plugin).
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
to_stdout=0
expect_out=0
for arg do
  shift
  if [ "$expect_out" = 1 ]; then
    expect_out=0
    if [ "$arg" = "-" ]; then to_stdout=1; set -- "$@" "$tmp/out.o"; else set -- "$@" "$arg"; fi
    continue
  fi
  case "$arg" in
    -o) expect_out=1; set -- "$@" -o ;;
    --target=*-none-unknown-elf) arch=${arg#--target=}; set -- "$@" -target "${arch%%-*}-freestanding-none" ;;
    *) set -- "$@" "$arg" ;;
  esac
done
"@ZIG@" cc -g0 "$@" || exit $?
if [ "$to_stdout" = 1 ]; then cat "$tmp/out.o"; fi
"""

_device: str | None = None


def cache_dir(home: Path | None) -> Path:
    """Where the compiler shim and tinygrad's kernel cache live."""
    return home / "models" if home is not None else Path.home() / ".cache" / "colony"


def zig_binary() -> Path:
    """Path of the zig compiler shipped in the ziglang wheel."""
    import ziglang

    return Path(ziglang.__file__).parent / "zig"


def write_shim(directory: Path) -> Path:
    """Write the zig cc shim for tinygrad (only when its content changed) and return its path."""
    path = directory / "cc"
    text = _SHIM.replace("@ZIG@", str(zig_binary()))
    if path.exists() and path.read_text() == text:
        return path
    write_private(path, text.encode(), mode=0o755)
    return path


def setup(home: Path | None) -> str:
    """Configure tinygrad (compiler, CACHEDB, device) before first use; return the device in use."""
    global _device
    if _device is not None:
        return _device
    directory = cache_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    if "CC" not in os.environ and shutil.which("clang") is None:
        os.environ["CC"] = str(write_shim(directory))
    cachedb = str(directory / "tinygrad-cache.db")
    os.environ.setdefault("CACHEDB", cachedb)
    if "tinygrad" in sys.modules:  # imported early by someone else: CACHEDB is read lazily, so patch it
        import tinygrad.helpers

        if tinygrad.helpers._db_connection is None:
            tinygrad.helpers.CACHEDB = os.environ["CACHEDB"]
    _device = _pick_device()
    return _device


def _pick_device() -> str:
    """CUDA when tinygrad can compute on it, else the CPU; an explicit DEV in the environment wins."""
    from tinygrad import Device, Tensor
    from tinygrad.helpers import DEV

    if os.environ.get("DEV"):
        return Device.DEFAULT
    for name in ("CUDA", "CPU"):
        try:  # opening is not enough: CUDA also needs a working NVRTC to compile kernels
            if (Tensor([1.0], device=name) + 1).item() != 2.0:
                continue
        except Exception:  # noqa: BLE001 - any failure means the device is unusable here
            continue
        DEV.value = name
        os.environ["DEV"] = name
        return name
    raise RuntimeError("tinygrad found no usable device (neither CUDA nor a CPU compiler)")


def own_cache() -> None:
    """Make tinygrad open its kernel-cache connection anew in the calling thread (sqlite connections belong to one thread)."""
    import tinygrad.helpers

    tinygrad.helpers._db_connection = None


def release_cache() -> None:
    """Close the kernel-cache connection the calling thread opened, so that the next thread using tinygrad opens its own."""
    helpers = sys.modules.get("tinygrad.helpers")
    connection = getattr(helpers, "_db_connection", None)
    if connection is not None:
        try:
            connection.close()
        except sqlite3.ProgrammingError:  # another thread's: this one never got as far as opening one
            return
        helpers._db_connection = None  # type: ignore[union-attr]
