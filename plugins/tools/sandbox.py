"""The sandbox's setup step, run inside fresh namespaces: hide the node's files, then run the command as the node's user.

It imports only the standard library: `unshare --user --map-root-user --mount --net --ipc` runs it as
`python -I -S sandbox.py JOB ARGV...`, root of a new user namespace, in the workspace. JOB is a JSON
object: `workspace` (the resolved folder, its cwd), `hide` (folders and files the command must not
reach), `env` (the command's whole environment), `uid` and `gid` (the node's, which it runs as).

Each hidden folder gets an empty read-only tmpfs over it and each hidden file /dev/null; a workspace
under a hidden folder is bound back at its own path from the cwd. Loopback comes up in the empty
network namespace. A new pid namespace gets its own /proc; its pid 1 runs the command as pid 2 (a
pid 1 ignores signals sent from inside, so `kill $$` would not end the command) in a nested user
namespace, where the command is the node's user without privileges and the mounts above are locked:
it cannot unmount what hides the node's files. This process then ends as the command did: with its
exit code, or killed by its signal.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import struct
import sys
from typing import Any, NoReturn

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
HIDDEN = MS_NOSUID | MS_NODEV | MS_NOEXEC
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
PR_SET_DUMPABLE = 4
SIOCSIFFLAGS, IFF_UP = 0x8914, 0x1
FAILED = 125  # the exit code when the sandbox itself could not be set up, as env(1) and timeout(1) use it

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    """Raise OSError naming `what` when a libc call failed."""
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    """mount(2)."""
    check(libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode()), f"mount {target}")


def write(path: str, text: str) -> None:
    """Write `text` to `path` in one go, as /proc/self/uid_map wants."""
    with open(path, "w") as file:
        file.write(text)


def inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or below it."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def cover(paths: list[str]) -> list[str]:
    """Hide each of `paths` not below one hidden already, outermost first; returns the folders now under a tmpfs."""
    folders: list[str] = []
    for path in sorted(paths, key=len):
        if any(inside(path, folder) for folder in folders) or not os.path.lexists(path):
            continue
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", HIDDEN, "mode=0755")
            folders.append(path)
        else:
            mount("/dev/null", path, "", MS_BIND)
    return folders


def hide(workspace: str, paths: list[str]) -> None:
    """Cover `paths`, keeping the workspace (the cwd) reachable at its own path."""
    folders = cover([path for path in paths if not inside(path, workspace)])
    if any(inside(workspace, folder) for folder in folders):
        os.makedirs(workspace, exist_ok=True)
        mount("/proc/self/cwd", workspace, "", MS_BIND | MS_REC)  # the cwd still reaches the covered folder
        os.chdir(workspace)
    folders += cover([path for path in paths if inside(path, workspace)])  # the bind brought them back
    for folder in folders:
        mount("none", folder, "", MS_REMOUNT | MS_RDONLY | HIDDEN)


def loopback_up() -> None:
    """Bring up `lo` of the new network namespace, so the command can reach its own servers on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", IFF_UP))


def say(message: str) -> None:
    """Tell the command's stderr what went wrong, unbuffered (forked children leave with os._exit)."""
    os.write(2, f"sandbox: {message}\n".encode(errors="replace"))


def command(job: dict[str, Any], argv: list[str]) -> NoReturn:
    """Pid 2: become the node's user in a nested user and mount namespace (which locks the mounts), then run the command."""
    try:
        check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
        write("/proc/self/uid_map", f"{int(job['uid'])} 0 1")
        write("/proc/self/setgroups", "deny")
        write("/proc/self/gid_map", f"{int(job['gid'])} 0 1")
        for number in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores them, and exec would keep that
            signal.signal(number, signal.SIG_DFL)
        os.execvpe(argv[0], argv, job["env"])
    except OSError as exc:
        say(str(exc))
    os._exit(FAILED)


def init(job: dict[str, Any], argv: list[str]) -> int:
    """Pid 1 of the new pid namespace: mount its /proc, run the command as pid 2, reap; the command's exit code, or minus its signal."""
    try:
        mount("proc", "/proc", "proc", HIDDEN)
        check(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl")
    except OSError as exc:
        say(str(exc))
        return FAILED
    child = os.fork()
    if child == 0:
        command(job, argv)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            return os.waitstatus_to_exitcode(status)  # leaving, pid 1 takes the command's leftovers with it


def end(code: int) -> NoReturn:
    """End as the command did: exit with its code, or die of its signal."""
    if code < 0:
        try:
            signal.signal(-code, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL's and SIGSTOP's cannot be set, nor need be
            pass
        os.kill(os.getpid(), -code)
    os._exit(code if code >= 0 else 128 - code)


def main() -> NoReturn:
    """Set up the namespaces, run the command under its pid 1, and end as it did."""
    job, argv = json.loads(sys.argv[1]), sys.argv[2:]
    try:
        hide(str(job["workspace"]), [str(path) for path in job["hide"]])
        loopback_up()
        check(libc.unshare(CLONE_NEWPID), "unshare")
        reader, writer = os.pipe()
    except OSError as exc:
        say(str(exc))
        os._exit(FAILED)
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        os.write(writer, str(init(job, argv)).encode())
        os._exit(0)
    os.close(writer)
    status = os.read(reader, 32)
    os.waitpid(pid, 0)  # pid 1 is gone once every process of its namespace is
    end(int(status) if status else FAILED)


if __name__ == "__main__":
    main()
