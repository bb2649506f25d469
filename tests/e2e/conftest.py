"""Real processes: `colony serve`, the `colony` CLI, and an OpenSSH server on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from colony.testing import RunningNode
from colony.testing.anvil import free_port

COLONY = [sys.executable, "-m", "colony.core.cli"]
# The nine cognitive systems and colony_state, as plugin names.
COGNITION = ("brain", "cortex", "genesis", "hivemind", "synthesis", "autonomy", "evaluation", "feedback", "free_energy", "colony_state")


def healthy(node: RunningNode) -> bool:
    """Whether every plugin the node was told to load is running and no hook has failed (others installed stay disabled)."""
    status = node.call("node.status")
    return set(status["plugins"]) <= {"running", "disabled"} and status["errors"] == 0


class Served:
    """A `colony serve` subprocess and the banner it printed."""

    def __init__(self, proc: subprocess.Popen[str], banner: str, socket_path: Path) -> None:
        self.proc, self.banner, self.socket = proc, banner, socket_path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `colony ARGS --socket <this node>`."""
        result = subprocess.run([*COLONY, *args, "--socket", str(self.socket)], capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"colony {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        """Signal the node and return its exit code and the rest of its stdout."""
        self.proc.send_signal(signum)
        out, _ = self.proc.communicate(timeout=15)
        return self.proc.returncode, out


@pytest.fixture
def serve(home: Path, sockdir: Path) -> Iterator[Callable[..., Served]]:
    """Start `colony serve` on `home` with the given plugin allowlist."""
    started: list[Served] = []

    def start(plugins: str = "pulse", **env: str) -> Served:
        sock = sockdir / "node.sock"
        full_env = {**os.environ, "COLONY_HOME": str(home), "COLONY_CONTROL__SOCKET": str(sock), "COLONY_LOAD_PLUGINS": plugins, **env}
        proc = subprocess.Popen([*COLONY, "serve"], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        banner = ""
        deadline = time.monotonic() + 30
        while "Press Ctrl-C" not in banner and time.monotonic() < deadline and proc.poll() is None:
            banner += proc.stdout.readline()  # type: ignore[union-attr]
        if "Press Ctrl-C" not in banner:
            proc.kill()
            raise AssertionError(f"colony serve did not start:\n{banner}\n{proc.stderr.read()}")  # type: ignore[union-attr]
        served = Served(proc, banner, sock)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()


@pytest.fixture(scope="session")
def sshd() -> Iterator[dict[str, str]]:
    """OpenSSH's sshd on loopback with a throwaway key; yields env vars that make `--host colonytest` reach it."""
    binary = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(binary).exists():
        pytest.skip("OpenSSH server not installed (.ci/run installs Debian's openssh-server)")
    if os.getuid() != 0:
        pytest.skip("sshd on loopback needs root here (it runs as the CI user root)")
    work = Path(tempfile.mkdtemp(prefix="colony-ssh-", dir="/tmp"))
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / name)], check=True)
    (work / "authorized_keys").write_text((work / "client_key.pub").read_text())
    Path("/run/sshd").mkdir(exist_ok=True)
    port = free_port()
    (work / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work / 'host_key'}\nAuthorizedKeysFile {work / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nPidFile none\nLogLevel ERROR\n"
    )
    (work / "ssh_config").write_text(
        f"Host colonytest\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {work / 'client_key'}\n"
        "  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n"
    )
    proc = subprocess.Popen([binary, "-D", "-e", "-f", str(work / "sshd_config")], stderr=subprocess.PIPE, text=True)
    env = {"COLONY_SSH": f"ssh -F {work / 'ssh_config'}", "COLONY_REMOTE": f"{sys.executable} -m colony.core.cli"}
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = subprocess.run(["ssh", "-F", str(work / "ssh_config"), "colonytest", "true"], capture_output=True, text=True)
            if probe.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"sshd did not come up: {probe.stderr}")
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
