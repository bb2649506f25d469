"""search_code's worker, a small grep: run as a script in a sandboxed process (so a runaway regex can be killed), it prints matches as JSON lines.

It imports only the standard library: it runs as `python -I -S -u grep.py JOB`, where JOB is a JSON
object with the workspace `root`, the resolved `start`, the `pattern`, `regex`, `limit` (matches)
and `max_file` (bytes; larger files are skipped). Each match prints `{"path", "line", "text"}`; the
last line is `{"files": n, "limited": bool}`, or `{"error": message}` for a bad pattern.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator

TEXT = 300  # characters of a matching line that are shown
SNIFF = 8192  # a NUL byte in this many leading bytes marks a binary file, which is skipped
SKIP = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "zig-cache", ".zig-cache"}


def files(start: str) -> Iterator[str]:
    """Regular files under `start` (or `start` itself), in sorted order; symlinks to folders are not followed."""
    if not os.path.isdir(start):
        yield start
        return
    for folder, dirs, names in os.walk(start):
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        for name in sorted(names):
            yield os.path.join(folder, name)


def matcher(pattern: str, regex: bool) -> Callable[[str], bool]:
    """A line test: the compiled regex's search, or plain substring containment."""
    if regex:
        return re.compile(pattern).search  # type: ignore[return-value]
    return lambda line: pattern in line


def search(job: dict[str, object]) -> None:
    """Print each match of the job, then the summary line."""
    root, start, limit, max_file = str(job["root"]), str(job["start"]), int(job["limit"]), int(job["max_file"])  # type: ignore[call-overload]
    try:
        test = matcher(str(job["pattern"]), bool(job["regex"]))
    except (re.error, OverflowError, RecursionError) as exc:
        print(json.dumps({"error": f"bad regular expression: {exc}"}))
        return
    found = scanned = 0
    for path in files(start):
        real = os.path.realpath(path)
        if not real.startswith(root + os.sep):
            continue  # a symlink out of the workspace
        try:
            info = os.stat(real)
            if not stat.S_ISREG(info.st_mode) or info.st_size > max_file:
                continue
            with open(real, "rb") as file:
                data = file.read(max_file)
        except OSError:
            continue
        if b"\0" in data[:SNIFF]:
            continue
        scanned += 1
        shown = os.path.relpath(path, root)
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if test(line):
                print(json.dumps({"path": shown, "line": number, "text": line[:TEXT]}))
                found += 1
                if found >= limit:
                    print(json.dumps({"files": scanned, "limited": True}))
                    return
    print(json.dumps({"files": scanned, "limited": False}))


if __name__ == "__main__":
    search(json.loads(sys.argv[1]))
