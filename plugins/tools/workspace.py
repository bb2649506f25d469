"""The workspace folder: paths confined to it, and reading, writing and listing files within caps."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import trio

from colony.core import ToolError

MAX_PATH = 4096
THREADS = trio.CapacityLimiter(4)  # the file tools' blocking I/O runs in a few worker threads
# Opening the resolved path without following a final symlink: one swapped in after the check fails.
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class Workspace:
    """A folder the tools may touch; every path is relative to it and must stay inside it."""

    def __init__(self, root: Path, *, max_read: int, max_write: int, max_entries: int) -> None:
        self.root = root.resolve()
        self.max_read = max_read
        self.max_write = max_write
        self.max_entries = max_entries

    def resolve(self, path: str) -> Path:
        """The real path of `path` (symlinks followed), or a ToolError when it is malformed or leads outside."""
        if not path or len(path) > MAX_PATH or "\0" in path:
            raise ToolError(f"a path is 1 to {MAX_PATH} characters without NUL bytes, relative to the workspace")
        try:
            os.fsencode(path)
        except UnicodeEncodeError:
            raise ToolError(f"{path!r} is not a valid file name") from None
        if PurePosixPath(path).is_absolute():
            raise ToolError(f"{path!r} is absolute; give a path relative to the workspace")
        try:
            target = (self.root / path).resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
            raise ToolError(f"{path!r} cannot be resolved: {exc}") from None
        if not target.is_relative_to(self.root):
            raise ToolError(f"{path!r} leads outside the workspace")
        return target

    async def read_file(self, path: str, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """The read_file tool: `read` in a worker thread."""
        return await trio.to_thread.run_sync(self.read, path, offset, limit, limiter=THREADS)

    async def write_file(self, path: str, content: str, append: bool = False) -> dict[str, Any]:
        """The write_file tool: `write` in a worker thread."""
        return await trio.to_thread.run_sync(self.write, path, content, append, limiter=THREADS)

    async def list_dir(self, path: str = ".", recursive: bool = False) -> dict[str, Any]:
        """The list_dir tool: `list` in a worker thread."""
        return await trio.to_thread.run_sync(self.list, path, recursive, limiter=THREADS)

    def relative(self, target: Path) -> str:
        """`target` as the tools show it: relative to the workspace, '.' for the workspace itself."""
        return target.relative_to(self.root).as_posix() or "."

    def read(self, path: str, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """Up to `limit` bytes (at most max_read) of a file from byte `offset`, as text."""
        target = self.resolve(path)
        want = self.max_read if limit is None else min(limit, self.max_read)
        if offset < 0 or want < 1:
            raise ToolError("offset must be 0 or more and limit 1 or more")
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | NOFOLLOW)
        except FileNotFoundError:
            raise ToolError(f"{path!r} does not exist") from None
        except OSError as exc:
            raise ToolError(f"cannot open {path!r}: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise ToolError(f"{path!r} is a folder; list it with list_dir")
            if not stat.S_ISREG(info.st_mode):
                raise ToolError(f"{path!r} is not a regular file")
            data = b""
            while offset + len(data) < info.st_size and len(data) < want and (chunk := os.pread(fd, want - len(data), offset + len(data))):
                data += chunk
        finally:
            os.close(fd)
        return {
            "path": self.relative(target),
            "content": data.decode("utf-8", errors="replace"),
            "size": info.st_size,
            "offset": offset,
            "bytes": len(data),
            "truncated": offset + len(data) < info.st_size,
            "binary": b"\0" in data,
        }

    def write(self, path: str, content: str, append: bool = False) -> dict[str, Any]:
        """Write `content` (UTF-8, at most max_write bytes) to a file, creating folders; atomic unless appending."""
        data = content.encode("utf-8", errors="replace")
        if len(data) > self.max_write:
            raise ToolError(f"the content is {len(data)} bytes, over the {self.max_write}-byte limit of one write")
        target = self.resolve(path)
        if target == self.root or target.is_dir():
            raise ToolError(f"{path!r} is a folder")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if append:
                fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | NOFOLLOW, 0o644)
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        raise ToolError(f"{path!r} is not a regular file")
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            else:
                partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
                try:
                    partial.write_bytes(data)
                    partial.replace(target)
                finally:
                    partial.unlink(missing_ok=True)
            size = target.stat().st_size
        except OSError as exc:
            raise ToolError(f"cannot write {path!r}: {exc.strerror or exc}") from None
        return {"path": self.relative(target), "bytes": len(data), "size": size, "appended": append}

    def list(self, path: str = ".", recursive: bool = False) -> dict[str, Any]:
        """The entries of a folder (every level below it when `recursive`), at most max_entries, sorted."""
        target = self.resolve(path)
        if not target.is_dir():
            raise ToolError(f"{path!r} is not a folder" if target.exists() else f"{path!r} does not exist")
        entries: list[dict[str, Any]] = []
        truncated = False
        try:
            for folder, dirs, files in os.walk(target, onerror=None):
                dirs.sort()
                base = Path(folder)
                for name in sorted(dirs + files):
                    if len(entries) >= self.max_entries:
                        truncated = True
                        break
                    entries.append(self._entry(base / name, target))
                if truncated or not recursive:
                    break
        except OSError as exc:
            raise ToolError(f"cannot list {path!r}: {exc.strerror or exc}") from None
        return {"path": self.relative(target), "entries": entries, "truncated": truncated}

    @staticmethod
    def _entry(item: Path, top: Path) -> dict[str, Any]:
        try:
            info = item.lstat()
        except OSError:
            return {"name": item.relative_to(top).as_posix(), "type": "other", "size": 0}  # gone since it was listed
        mode = info.st_mode
        kind = "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "link" if stat.S_ISLNK(mode) else "other"
        return {"name": item.relative_to(top).as_posix(), "type": kind, "size": info.st_size if kind == "file" else 0}
