"""Sandboxed processes: a cleared environment, resource limits, a timeout that kills the whole group, capped output."""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from colony.core import ToolError

# How long to keep reading after the command's group is gone: only a process that left the group
# (setsid) can still hold the pipes open, and its output is not waited for.
GRACE = 1.0
CHUNK = 65536


@dataclass(frozen=True)
class Limits:
    """What one sandboxed process (and its children) may use; 0 leaves a resource unlimited."""

    timeout: float
    output: int  # bytes kept of each of stdout and stderr
    cpu_seconds: int
    memory: int  # bytes of address space
    file_size: int  # bytes of the largest file it may write


class Capture:
    """The head and tail of a stream, `limit` bytes in all, and how much was cut between them."""

    def __init__(self, limit: int) -> None:
        self.half = max(1, limit // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        """Take the next bytes of the stream."""
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            del self.tail[: max(0, len(self.tail) - self.half)]

    @property
    def cut(self) -> int:
        """Bytes dropped from the middle."""
        return self.total - len(self.head) - len(self.tail)

    def text(self) -> str:
        """What was kept, as text, with a marker where bytes were cut."""
        marker = f"\n[... {self.cut} bytes cut ...]\n".encode() if self.cut else b""
        return bytes(self.head + marker + self.tail).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Ran:
    """How a sandboxed process ended and what it printed."""

    exit_code: int | None  # None when a signal ended it
    signal: int | None
    stdout: Capture
    stderr: Capture
    timed_out: bool

    def to_dict(self) -> dict[str, Any]:
        """The tool's view: exit code or signal, the kept output, and whether it was cut or timed out."""
        return {
            "ok": self.exit_code == 0 and not self.timed_out,
            "exit_code": self.exit_code,
            "signal": signal_name(self.signal) if self.signal else None,
            "timed_out": self.timed_out,
            "stdout": self.stdout.text(),
            "stderr": self.stderr.text(),
            "truncated": bool(self.stdout.cut or self.stderr.cut),
        }


def signal_name(number: int) -> str:
    """SIGKILL for 9; realtime and unknown signals as `signal N`."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def rlimits(limits: Limits) -> list[tuple[int, tuple[int, int]]]:
    """The (resource, (soft, hard)) pairs to set, never above the hard limits this process already has."""
    wanted = [
        (resource.RLIMIT_CPU, limits.cpu_seconds, 1),  # SIGXCPU at the soft limit, SIGKILL a second later
        (resource.RLIMIT_AS, limits.memory, 0),
        (resource.RLIMIT_FSIZE, limits.file_size, 0),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    pairs = []
    for which, value, slack in wanted:
        if which != resource.RLIMIT_CORE and value <= 0:
            continue
        _, hard = resource.getrlimit(which)
        top = math.inf if hard == resource.RLIM_INFINITY else hard
        pairs.append((which, (int(min(value, top)), int(min(value + slack, top)))))
    return pairs


def _apply(pairs: list[tuple[int, tuple[int, int]]]) -> None:
    """In the child before exec: take the limits (prepared in the parent, so nothing is computed here)."""
    for which, pair in pairs:
        resource.setrlimit(which, pair)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _drain(stream: trio.abc.ReceiveStream | None, sink: Capture) -> None:
    if stream is None:
        return
    with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
        while chunk := await stream.receive_some(CHUNK):
            sink.add(chunk)


async def run(argv: list[str], *, cwd: Path, env: dict[str, str], limits: Limits, timeout: float | None = None) -> Ran:
    """Run `argv` in a new session with no stdin; on timeout, or when it ends, its whole process group is killed."""
    pairs = rlimits(limits)
    try:
        proc = await trio.lowlevel.open_process(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, preexec_fn=lambda: _apply(pairs),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolError(f"cannot start {argv[0]}: {exc}") from None
    out, err = Capture(limits.output), Capture(limits.output)
    timed_out = False
    try:
        async with trio.open_nursery() as nursery:
            readers = trio.Event()

            async def read_both() -> None:
                async with trio.open_nursery() as inner:
                    inner.start_soon(_drain, proc.stdout, out)
                    inner.start_soon(_drain, proc.stderr, err)
                readers.set()

            nursery.start_soon(read_both)
            with trio.move_on_after(limits.timeout if timeout is None else timeout) as deadline:
                await proc.wait()
            timed_out = deadline.cancelled_caught
            _kill_group(proc.pid)  # the command's background children go with it
            await proc.wait()
            with trio.move_on_after(GRACE):
                await readers.wait()
            nursery.cancel_scope.cancel()
    finally:
        _kill_group(proc.pid)
        with trio.CancelScope(shield=True):
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    await stream.aclose()
            await proc.wait()
    code = proc.returncode
    assert code is not None
    return Ran(code if code >= 0 else None, -code if code < 0 else None, out, err, timed_out)


def clean_env(home: Path, path: str) -> dict[str, str]:
    """The only environment a sandboxed process gets: PATH, HOME (the workspace) and LANG."""
    return {"PATH": path, "HOME": str(home), "LANG": "C"}


class Shell:
    """`run_shell`: `/bin/sh -c COMMAND` in the workspace, under the sandbox's limits."""

    def __init__(self, root: Path, limits: Limits, path: str) -> None:
        self.root = root
        self.limits = limits
        self.path = path

    async def run_shell(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        """Run a shell command in the workspace; returns its exit code and (capped) output."""
        if not command.strip() or "\0" in command:
            raise ToolError("the command is empty or holds a NUL byte")
        try:
            command.encode()
        except UnicodeEncodeError:
            raise ToolError("the command is not valid text (a lone surrogate)") from None
        if timeout is not None and not 0 < timeout <= self.limits.timeout:
            raise ToolError(f"timeout must be over 0 and at most {self.limits.timeout:g} seconds")
        ran = await run(["/bin/sh", "-c", command], cwd=self.root, env=clean_env(self.root, self.path), limits=self.limits, timeout=timeout)
        return {"command": command, **ran.to_dict()}
