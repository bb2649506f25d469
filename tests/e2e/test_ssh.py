"""`--host` through a real OpenSSH hop on loopback, with `colony bridge --stdio` on the far side."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import colony.plugins.pulse as pulse
from tests.e2e.conftest import COLONY


def test_cli_reaches_a_node_through_ssh(serve, sshd, tmp_path):
    node = serve("pulse")
    env = {**os.environ, **sshd}

    def remote(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*COLONY, *args, "--host", "colonytest", "--socket", str(node.socket)], env=env, capture_output=True, text=True, timeout=60
        )

    status = remote("status", "--json")
    assert status.returncode == 0, status.stderr
    local = json.loads(node.cli("status", "--json").stdout)
    assert json.loads(status.stdout)["node"] == local["node"]
    assert "pulse" in remote("plugins", "list").stdout

    # A swap over SSH sends the local file's text, so the file need not exist on the node's machine.
    new = tmp_path / "pulse_next.py"
    new.write_text(Path(pulse.__file__).read_text().replace('version="1.0.0"', 'version="1.0.1"'))
    swapped = remote("plugins", "swap", "pulse", "--from", str(new))
    assert swapped.returncode == 0 and "pulse 1.0.1: running" in swapped.stdout, swapped.stderr
    assert "audit log intact" in remote("audit", "verify").stdout


def test_bridge_reports_a_missing_node(sockdir):
    result = subprocess.run([*COLONY, "bridge", "--stdio", "--socket", str(sockdir / "gone.sock")], input="", capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "cannot reach the node" in result.stderr
