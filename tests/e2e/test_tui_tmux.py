"""`colony serve` and `colony tui` as real processes in tmux: a plugin swapped with keystrokes, read back with capture-pane."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import write_plugin

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (Debian: apt-get install tmux)")

PROBE = '''
from colony.core import Manifest
PLUGIN = Manifest(name="probe", version="{version}")

def colony_register(registrar):
    registrar.rpc("probe.version", lambda: "{version}")
'''


class Tmux:
    """One private tmux server (its own -L socket) running one command in a 160x48 pane."""

    def __init__(self, workdir: Path) -> None:
        self.name = f"colony-{uuid.uuid4().hex[:12]}"
        self.conf = workdir / "tmux.conf"
        # remain-on-exit keeps a crashed TUI's traceback on the screen for the failure message.
        self.conf.write_text('set -g default-terminal "xterm-256color"\nset -g remain-on-exit on\nset -g history-limit 0\n')
        self.env = {**os.environ, "TERM": "xterm-256color", "XDG_CONFIG_HOME": str(workdir / "config")}
        self.env.pop("TMUX", None)

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TMUX, "-L", self.name, "-f", str(self.conf), *args], env=self.env, capture_output=True, text=True, timeout=10, check=check)  # type: ignore[list-item]

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "tui", "-x", "160", "-y", "48", command)

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "tui", *(["-l"] if literal else []), *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "tui", check=False).stdout

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        """Poll the pane until `check(screen)` holds; fail with the last screen."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; the screen:\n{text}")
            time.sleep(0.1)

    def kill(self) -> None:
        self.tmux("kill-server", check=False)


def table_names(screen: str) -> list[str]:
    """The first column of the plugins table, top to bottom (the rows under the header, up to a blank line)."""
    lines = screen.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["name", "source"])
    names = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        names.append(line.split()[0])
    return names


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux(tmp_path)
    try:
        yield session
    finally:
        session.kill()


def test_swap_a_plugin_with_keystrokes(serve, home, tmp_path, tmux):
    write_plugin(home, "probe", PROBE.format(version="1.0.0"))
    v2 = tmp_path / "probe_v2.py"
    v2.write_text(PROBE.format(version="2.0.0"))
    node = serve("pulse,probe")
    node_id = json.loads(node.cli("status", "--json").stdout)["node"]

    # `colony tui` as the core CLI mounts it, through the "colony.cli" entry point.
    tmux.start(f"{sys.executable} -m colony.core.cli tui --socket {node.socket}")
    tmux.wait(lambda s: "connected" in s and node_id[:20] in s and "running" in s, "the dashboard to show the node")

    tmux.keys("p")
    screen = tmux.wait(lambda s: "probe" in s and "pulse" in s and "1.0.0" in s, "the plugins table")
    # Move the cursor to the drop-in plugin: its position among the table's rows.
    names = table_names(screen)
    assert "probe" in names, screen
    for _ in range(names.index("probe")):
        tmux.keys("Down")

    tmux.keys("s")
    tmux.wait(lambda s: "Swap probe for the plugin file" in s, "the swap prompt")
    tmux.keys(str(v2), literal=True)
    tmux.keys("Enter")
    tmux.wait(lambda s: "Blue/green swap probe for" in s, "the confirmation")
    tmux.keys("y")
    screen = tmux.wait(lambda s: "switched" in s, "the swap outcome")
    assert "rolled-back" not in screen, screen
    tmux.wait(lambda s: "swap probe: running 2.0.0" in s, "the swap call's own outcome line")

    assert json.loads(node.cli("rpc", "probe.version").stdout) == "2.0.0"
    rows = {r["name"]: r for r in json.loads(node.cli("plugins", "list", "--json").stdout)}
    assert rows["probe"]["version"] == "2.0.0" and rows["probe"]["state"] == "running"

    tmux.keys("q")
    tmux.wait(lambda s: "Pane is dead" in s or not s.strip(), "the TUI to quit", timeout=10)
