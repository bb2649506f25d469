"""Sandboxed processes: a cleared environment, resource limits, a timeout that kills the whole group, capped output,
and on Linux namespaces that hide the node's files, sockets and network from them."""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import trio

from colony.core import ConfigError, ToolError
from colony.core.paths import data_home, runtime_dir

from . import sandbox

# How long to keep reading after the command's group is gone: only a process that left the group
# (setsid) can still hold the pipes open, and its output is not waited for.
GRACE = 1.0
CHUNK = 65536
ISOLATIONS = ("auto", "namespace", "none")
UNSHARE = "unshare"  # util-linux's, looked up on the node's PATH
NAMESPACES = ("--user", "--map-root-user", "--mount", "--net", "--ipc")
PROBE_TIMEOUT = 5.0  # well within plugins.start_timeout; the probe takes a fraction of a second


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


def protected(home: Path) -> tuple[str, ...]:
    """The folders hidden from sandboxed processes: the node's home, the colony data folder of node homes, and the runtime folder of control sockets."""
    return tuple(sorted({os.path.realpath(folder) for folder in (home, data_home() / "colony", runtime_dir())}))


def listening_sockets() -> set[str]:
    """The paths of the unix sockets this process holds open, its control socket among them."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # an fd closed meanwhile
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:["):
                mine.add(link[len("socket:[") : -1])
    paths = set()
    with open("/proc/self/net/unix") as table:
        next(table)
        for line in table:
            fields = line.rstrip("\n").split(maxsplit=7)
            if len(fields) == 8 and fields[6] in mine and fields[7].startswith("/"):  # "@name" is abstract
                paths.add(os.path.realpath(fields[7]))
    return paths


def confine(unshare: str, argv: list[str], workspace: Path, hide: Iterable[str], env: dict[str, str]) -> list[str]:
    """`argv` run by the sandbox script in new namespaces, with `hide` out of its sight."""
    job = {"workspace": str(workspace), "hide": sorted(set(hide)), "env": env, "uid": os.getuid(), "gid": os.getgid()}
    return [unshare, *NAMESPACES, "--", sys.executable, "-I", "-S", sandbox.__file__, json.dumps(job), *argv]


def probe(unshare: str | None) -> str:
    """Why sandboxed processes cannot run in namespaces here, or "" when they can: one real sandboxed run."""
    if unshare is None:
        return f"no {UNSHARE} command (util-linux) on the PATH"
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(os.path.realpath(folder), "workspace")
        workspace.mkdir()
        env = clean_env(workspace, os.defpath)
        argv = confine(unshare, ["/bin/sh", "-c", "exit 0"], workspace, [str(workspace.parent)], env)
        try:
            done = subprocess.run(argv, cwd=workspace, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{unshare} failed: {exc}"
    if done.returncode == 0:
        return ""
    said = done.stderr.decode(errors="replace").strip().splitlines()
    return f"{unshare} failed: {said[-1][:300] if said else f'exit status {done.returncode}'}"


@dataclass(frozen=True)
class Isolation:
    """How sandboxed processes are kept from the node: in namespaces made by `unshare`, or as plain processes, and why."""

    setting: str  # plugin.tools.shell_isolation
    unshare: str | None = None  # the unshare command, when namespaces are in use
    hide: tuple[str, ...] = ()
    problem: str = ""  # why namespaces are not in use, when the setting wanted them

    @property
    def summary(self) -> str:
        """How sandboxed processes run, in a phrase for the tools' descriptions and the log."""
        if self.unshare:
            return "isolated in namespaces (no network; the node's home, keys and sockets hidden)"
        if self.setting == "none":
            return "not isolated from the node's files and network (plugin.tools.shell_isolation is none)"
        if self.setting == "namespace":
            return f"refused: plugin.tools.shell_isolation requires namespaces, and they cannot be used here ({self.problem})"
        return f"not isolated from the node's files and network, as namespaces cannot be used here ({self.problem})"

    @property
    def refusal(self) -> str:
        """Why nothing may run ("" when processes run): namespaces are required and unavailable."""
        return "" if self.unshare or self.setting != "namespace" else self.summary


async def isolation(setting: str, workspace: Path, home: Path) -> Isolation:
    """The isolation `setting` gets on this machine, for the plugin's run: namespaces are probed unless it is `none`."""
    if setting not in ISOLATIONS:
        raise ConfigError(f"plugin.tools.shell_isolation must be one of {', '.join(ISOLATIONS)}, not {setting!r}")
    if setting == "none":
        return Isolation(setting)
    hide = protected(home)
    if str(workspace) in hide:
        return Isolation(setting, problem=f"the workspace {workspace} is itself a folder the sandbox hides")
    unshare = shutil.which(UNSHARE)
    problem = await trio.to_thread.run_sync(probe, unshare)
    return Isolation(setting, None if problem else unshare, hide, problem)


class Sandbox:
    """Runs processes in the workspace with a cleared environment, the limits, and the isolation."""

    def __init__(self, root: Path, limits: Limits, path: str, isolation: Isolation) -> None:
        self.root = root
        self.limits = limits
        self.path = path
        self.isolation = isolation

    async def run(self, argv: list[str], *, output: int | None = None, timeout: float | None = None) -> Ran:
        """Run `argv` sandboxed; `output` overrides the bytes kept of each stream. A ToolError when isolation is required and unavailable."""
        if self.isolation.refusal:
            raise ToolError(self.isolation.refusal)
        env = clean_env(self.root, self.path)
        if self.isolation.unshare:
            hide = [*self.isolation.hide, *await trio.to_thread.run_sync(listening_sockets)]
            argv = confine(self.isolation.unshare, argv, self.root, hide, env)
        limits = self.limits if output is None else replace(self.limits, output=output)
        return await run(argv, cwd=self.root, env=env, limits=limits, timeout=timeout)


class Shell:
    """`run_shell`: `/bin/sh -c COMMAND` in the workspace, in the sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def run_shell(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        """Run a shell command in the workspace; returns its exit code and (capped) output."""
        if not command.strip() or "\0" in command:
            raise ToolError("the command is empty or holds a NUL byte")
        try:
            command.encode()
        except UnicodeEncodeError:
            raise ToolError("the command is not valid text (a lone surrogate)") from None
        longest = self.sandbox.limits.timeout
        if timeout is not None and not 0 < timeout <= longest:
            raise ToolError(f"timeout must be over 0 and at most {longest:g} seconds")
        ran = await self.sandbox.run(["/bin/sh", "-c", command], timeout=timeout)
        return {"command": command, **ran.to_dict()}
