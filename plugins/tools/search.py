"""`search_code`: a substring or regex search of the workspace's text files, run by the grep worker in the sandbox."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import trio

from colony.core import ToolError

from . import grep
from .shell import Sandbox
from .workspace import THREADS, Workspace

MAX_PATTERN = 1000
# Room for one match as the worker prints it: its path, line number and TEXT characters of the line.
MATCH_BYTES = 2 * grep.TEXT + 1024


class Search:
    """Runs the grep worker over a workspace path, in the sandbox, with a cap on matches."""

    def __init__(self, workspace: Workspace, sandbox: Sandbox, max_matches: int, max_file: int) -> None:
        self.workspace = workspace
        self.sandbox = sandbox
        self.output = max_matches * MATCH_BYTES + 4096
        self.max_matches = max_matches
        self.max_file = max_file

    async def search_code(self, pattern: str, path: str = ".", regex: bool = False) -> dict[str, Any]:
        """Lines of the text files at `path` that contain `pattern` (or match it, as a Python regex)."""
        if not pattern or len(pattern) > MAX_PATTERN:
            raise ToolError(f"the pattern is 1 to {MAX_PATTERN} characters")
        start = await trio.to_thread.run_sync(self._start, path, limiter=THREADS)
        job = {"root": str(self.workspace.root), "start": str(start), "pattern": pattern, "regex": regex, "limit": self.max_matches, "max_file": self.max_file}
        argv = [sys.executable, "-I", "-S", "-u", str(Path(grep.__file__)), json.dumps(job)]
        ran = await self.sandbox.run(argv, output=self.output)
        matches: list[dict[str, Any]] = []
        summary: dict[str, Any] = {}
        for line in ran.stdout.text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a line cut by the output cap
            if "error" in item:
                raise ToolError(str(item["error"]))
            if "path" in item:
                matches.append(item)
            else:
                summary = item
        if not summary and not ran.timed_out:
            raise ToolError(f"the search failed: {ran.stderr.text().strip()[-500:] or 'no summary'}")
        return {
            "pattern": pattern,
            "path": self.workspace.relative(start),
            "matches": matches,
            "files": summary.get("files"),
            "truncated": bool(summary.get("limited")) or ran.timed_out,
            "timed_out": ran.timed_out,
        }

    def _start(self, path: str) -> Path:
        """The resolved file or folder to search (file-system calls, so off the trio thread)."""
        start = self.workspace.resolve(path)
        if not start.exists():
            raise ToolError(f"{path!r} does not exist")
        return start
