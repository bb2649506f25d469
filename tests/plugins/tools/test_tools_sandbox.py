"""The sandbox's isolation: in namespaces run_shell and search_code cannot reach the node's keys, store, sockets or network."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from colony.plugins.tools.shell import UNSHARE, probe
from colony.testing import RunningNode
from tests.plugins.tools.conftest import call, refusal, tools_config
from tests.plugins.tools.test_tools_shell import PIDNS, alive_in

SECRET = "correct horse battery staple"


@pytest.fixture(scope="module")
def namespaces() -> None:
    """Skip the test when this machine cannot run the sandbox in namespaces (the tools plugin then falls back)."""
    problem = probe(shutil.which(UNSHARE))
    if problem:
        pytest.skip(f"namespace isolation is unavailable here: {problem}")


@pytest.fixture
def isolated(namespaces: None, tools_node: RunningNode, workspace: Path) -> RunningNode:
    """The shared tools node, whose sandbox runs in namespaces; its workspace is empty."""
    namespace = shell(tools_node, "readlink /proc/self/ns/pid")["stdout"].strip()
    assert namespace != os.readlink("/proc/self/ns/pid"), "the sandbox is not isolated: no hostile command may run"
    return tools_node


@pytest.fixture
def server() -> Iterator[socket.socket]:
    """A TCP server listening on loopback (connections wait in its backlog)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener


def shell(node: RunningNode, command: str) -> dict[str, Any]:
    return call(node, "run_shell", command=command)


def connect(node: RunningNode, family: str, address: object) -> str:
    """`connected`, or the error, of a socket connection made from inside the node's sandbox."""
    code = (
        f"import socket\nsock = socket.socket(socket.{family})\nsock.settimeout(10)\n"
        f"try:\n    sock.connect({address!r})\n    print('connected')\nexcept OSError as exc:\n    print(repr(exc))\n"
    )
    ran = shell(node, f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}")
    assert ran["ok"] is True, ran
    return str(ran["stdout"]).strip()


def round_trip(node: RunningNode, workspace: Path) -> None:
    """The shell and the file tools see each other's files in the workspace, and search_code finds text in both."""
    call(node, "write_file", path="sub/from-tools.txt", content="written by write_file\n")
    ran = shell(node, f"cat sub/from-tools.txt; echo 'written by the shell' > from-shell.txt; cat {shlex.quote(str(workspace))}/from-shell.txt")
    assert ran["ok"] is True and ran["stdout"] == "written by write_file\nwritten by the shell\n", ran
    assert call(node, "read_file", path="from-shell.txt")["content"] == "written by the shell\n"
    assert (workspace / "from-shell.txt").read_text() == "written by the shell\n"
    names = {entry["name"] for entry in call(node, "list_dir", path=".")["entries"]}
    assert {"from-shell.txt", "sub"} <= names
    found = call(node, "search_code", pattern="written by")
    assert sorted(match["path"] for match in found["matches"]) == ["from-shell.txt", "sub/from-tools.txt"]


def hidden(node: RunningNode, *paths: Path) -> None:
    """None of `paths` exists for the node's shell, though each does outside it."""
    for path in paths:
        assert path.exists(), path
        ran = shell(node, f"test -e {shlex.quote(str(path))} || echo hidden")
        assert ran["stdout"] == "hidden\n", (path, ran)


# -- in namespaces ---------------------------------------------------------------------------


def test_the_shell_cannot_read_the_keys_or_the_store(isolated: RunningNode, workspace: Path) -> None:
    home = isolated.home
    keys = home / "keys"
    keys.mkdir(exist_ok=True)
    (keys / "passphrase").write_text(SECRET)
    store = home / "state.lmdb"
    before = sorted((path.name, path.stat().st_size) for path in store.iterdir())
    ran = shell(isolated, f"cd {shlex.quote(str(home))} && ls -A; cat keys/passphrase; grep -r horse . ; ls state.lmdb; echo x > state.lmdb/data.mdb")
    assert SECRET not in ran["stdout"] + ran["stderr"]
    assert ran["stdout"].split() == ["workspace"]  # the home holds only the workspace, bound back
    assert "No such file" in ran["stderr"] and ran["ok"] is False
    hidden(isolated, keys / "passphrase", store)
    assert sorted((path.name, path.stat().st_size) for path in store.iterdir()) == before
    assert "Read-only file system" in shell(isolated, f"touch {shlex.quote(str(home))}/planted")["stderr"]


def test_the_shell_cannot_undo_its_isolation(isolated: RunningNode, workspace: Path) -> None:
    keys = isolated.home / "keys"
    keys.mkdir(exist_ok=True)
    (keys / "passphrase").write_text(SECRET)
    home = shlex.quote(str(isolated.home))
    ran = shell(isolated, f"umount {home}; umount -l {home}; mount -t tmpfs none {home}; cat {home}/keys/passphrase; id -u; id -g")
    assert SECRET not in ran["stdout"]
    assert ran["stdout"].split() == [str(os.getuid()), str(os.getgid())]  # the node's own user, not root of the namespace
    node_pid = os.getpid()  # the test node runs in this process
    ran = shell(isolated, f"kill -0 {node_pid} || echo cannot; test -e /proc/{node_pid} || echo unseen")
    assert ran["stdout"] == "cannot\nunseen\n", ran


def test_the_shell_cannot_reach_the_control_socket_or_loopback(isolated: RunningNode, server: socket.socket) -> None:
    assert isolated.socket.is_socket()
    assert connect(isolated, "AF_UNIX", str(isolated.socket)) != "connected"
    address = server.getsockname()
    with socket.create_connection(address, timeout=10):
        pass  # reachable from the node's side
    assert connect(isolated, "AF_INET", address) != "connected"
    with socket.socket(socket.AF_UNIX) as abstract:
        name = f"\0colony-sandbox-test-{os.getpid()}"
        abstract.bind(name)
        abstract.listen()
        assert connect(isolated, "AF_UNIX", name) != "connected"
    loopback = "import socket; server = socket.create_server(('127.0.0.1', 0)); socket.create_connection(server.getsockname(), 10); print('ok')"
    assert shell(isolated, f"{shlex.quote(sys.executable)} -c {shlex.quote(loopback)}")["stdout"] == "ok\n"  # its own loopback works


def test_files_round_trip_between_the_shell_and_the_file_tools(isolated: RunningNode, workspace: Path) -> None:
    round_trip(isolated, workspace)


def test_leftover_processes_die_with_the_command(isolated: RunningNode, workspace: Path) -> None:
    ran = shell(isolated, PIDNS + "setsid sleep 1000 & echo started")
    assert ran["ok"] is True and ran["stdout"] == "started\n"
    namespace = (workspace / "pidns.txt").read_text().strip()
    assert namespace != os.readlink("/proc/self/ns/pid")
    assert alive_in(namespace) == []  # even one that left the process group: its pid namespace is gone


def test_the_isolation_is_reported(isolated: RunningNode) -> None:
    tools = {tool["name"]: tool["description"] for tool in isolated.call("tools.list")}
    for name in ("run_shell", "search_code"):
        assert "isolated in namespaces" in tools[name]
    assert isolated.call("plugins.health", name="tools") == {"tools": True}


@pytest.fixture
def colony_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A data folder with another node's keys, and a runtime folder with another node's control socket, for new nodes."""
    data, runtime = tmp_path / "data", tmp_path / "run"
    (data / "colony" / "other" / "keys").mkdir(parents=True)
    (data / "colony" / "other" / "keys" / "passphrase").write_text(SECRET)
    (runtime / "colony").mkdir(parents=True)
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return {"data": data / "colony", "runtime": runtime / "colony"}


def test_other_nodes_keys_and_sockets_are_hidden(namespaces: None, colony_dirs: dict[str, Path], tmp_path: Path) -> None:
    other = colony_dirs["runtime"] / "other.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(other))
        listener.listen()
        with RunningNode(colony_dirs["data"] / "mine", plugins=["tools"], config=tools_config()) as node:
            hidden(node, colony_dirs["data"] / "other" / "keys" / "passphrase", other)
            assert connect(node, "AF_UNIX", str(other)) != "connected"
            round_trip(node, node.home / "workspace")


@pytest.mark.parametrize("where", ["outside the home", "around the home"])
def test_a_workspace_elsewhere(namespaces: None, colony_dirs: dict[str, Path], tmp_path: Path, where: str) -> None:
    workspace = tmp_path / "outside wörk space" if where == "outside the home" else tmp_path
    home = tmp_path / "home"
    with RunningNode(home, plugins=["tools"], config=tools_config(workspace=str(workspace))) as node:
        (home / "keys").mkdir()
        (home / "keys" / "passphrase").write_text(SECRET)
        round_trip(node, workspace)
        hidden(node, home / "keys" / "passphrase", home / "state.lmdb", colony_dirs["data"] / "other")
        if where == "around the home":
            assert shell(node, "ls -A home")["stdout"] == ""  # under the workspace, and hidden still


# -- wherever ------------------------------------------------------------------------------


def no_unshare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make the unshare command unfindable for nodes started from now on, as on a machine without util-linux."""
    empty = tmp_path / "no-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_required_namespaces_refuse_clearly_when_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_unshare(monkeypatch, tmp_path)
    with RunningNode(tmp_path / "home", plugins=["tools"], config=tools_config(shell_isolation="namespace")) as node:
        expected = "plugin.tools.shell_isolation requires namespaces, and they cannot be used here (no unshare command (util-linux) on the PATH)"
        assert expected in refusal(node, "run_shell", command="echo hi")
        assert expected in refusal(node, "search_code", pattern="hi")
        assert expected in node.call("plugins.health", name="tools")["tools"]
        assert not (node.home / "workspace" / "hi").exists()
        tools = {tool["name"]: tool["description"] for tool in node.call("tools.list")}
        assert "refused" in tools["run_shell"] and "refused" in tools["search_code"]
        assert call(node, "write_file", path="hi", content="x")["bytes"] == 1  # the file tools do not need the sandbox


def test_auto_falls_back_to_processes_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    no_unshare(monkeypatch, tmp_path)
    with caplog.at_level(logging.WARNING, logger="colony.plugin.tools"):
        with RunningNode(tmp_path / "home", plugins=["tools"], config=tools_config()) as node:
            assert shell(node, "echo hi")["stdout"] == "hi\n"
            assert call(node, "search_code", pattern="x")["matches"] == []
            tools = {tool["name"]: tool["description"] for tool in node.call("tools.list")}
            assert "not isolated from the node's files and network, as namespaces cannot be used here" in tools["run_shell"]
            assert node.call("plugins.health", name="tools") == {"tools": True}
    warnings = [record.getMessage() for record in caplog.records if record.name == "colony.plugin.tools"]
    assert len(warnings) == 1 and "no unshare command" in warnings[0]


def test_none_runs_plain_processes(tmp_path: Path, server: socket.socket) -> None:
    with RunningNode(tmp_path / "home", plugins=["tools"], config=tools_config(shell_isolation="none")) as node:
        tools = {tool["name"]: tool["description"] for tool in node.call("tools.list")}
        assert "plugin.tools.shell_isolation is none" in tools["run_shell"]
        assert shell(node, f"test -d {shlex.quote(str(node.home))}/state.lmdb && echo seen")["stdout"] == "seen\n"
        assert connect(node, "AF_INET", server.getsockname()) == "connected"  # and so `connect` itself works


def test_a_workspace_that_is_the_home_cannot_be_isolated(tmp_path: Path) -> None:
    config = tools_config(workspace=".", shell_isolation="namespace")
    with RunningNode(tmp_path / "home", plugins=["tools"], config=config) as node:
        assert "is itself a folder the sandbox hides" in refusal(node, "run_shell", command="ls keys")


def test_a_bad_setting_stops_the_plugin_with_a_clear_reason(tmp_path: Path) -> None:
    with RunningNode(tmp_path / "home", plugins=["tools"], config=tools_config(shell_isolation="sometimes")) as node:
        (row,) = [row for row in node.call("plugins.list") if row["name"] == "tools"]
        assert row["state"] == "failed"
        assert "plugin.tools.shell_isolation must be one of auto, namespace, none, not 'sometimes'" in row["reason"]
