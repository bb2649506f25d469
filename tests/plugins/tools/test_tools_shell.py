"""run_shell on a real node: timeouts kill whole process groups, output is capped, the environment is cleared, limits hold."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from colony.core.rpc import INVALID_PARAMS, OPERATION_FAILED, RPCError
from colony.testing import RunningNode
from tests.plugins.conftest import wait_for
from tests.plugins.tools.conftest import call, call_inside, gone, refusal, tools_config


# A command prefix that records the command's pid namespace, for `wait_ended`.
PIDNS = "readlink /proc/self/ns/pid > pidns.txt; "


def pids(workspace: Path, *names: str) -> list[int]:
    """The process ids a command wrote into files of the workspace."""
    return [int(pid) for name in names for pid in (workspace / name).read_text().split()]


def alive_in(namespace: str) -> list[int]:
    """The processes of pid namespace `namespace` (as /proc/PID/ns/pid names it) that have not ended."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):  # gone meanwhile, or another user's
            if os.readlink(f"/proc/{entry}/ns/pid") == namespace and not gone(int(entry)):
                found.append(int(entry))
    return found


def wait_ended(workspace: Path, *names: str) -> None:
    """Wait until every process whose id a command (run with PIDNS) wrote into the files `names` has ended.

    A command isolated in its own pid namespace wrote ids of that namespace: then every process of the
    namespace must end.
    """
    assert pids(workspace, *names)
    namespace = (workspace / "pidns.txt").read_text().strip()
    if namespace != os.readlink("/proc/self/ns/pid"):
        wait_for(lambda: not alive_in(namespace), f"every process of {namespace} to be killed")
        return
    for pid in pids(workspace, *names):
        wait_for(lambda: gone(pid), f"process {pid} to be killed")


def test_a_command_runs_in_the_workspace(tools_node: RunningNode, workspace: Path) -> None:
    ran = call(tools_node, "run_shell", command="pwd; echo out; echo err >&2; touch made.txt; exit 3")
    assert ran == {
        "command": "pwd; echo out; echo err >&2; touch made.txt; exit 3", "ok": False, "exit_code": 3, "signal": None,
        "timed_out": False, "stdout": f"{workspace.resolve()}\nout\n", "stderr": "err\n", "truncated": False,
    }
    assert (workspace / "made.txt").is_file()
    assert call(tools_node, "run_shell", command="true")["ok"] is True
    assert call(tools_node, "run_shell", command="kill -40 $$")["signal"] == "signal 40"  # a realtime signal has no name
    assert call(tools_node, "run_shell", command="cat")["stdout"] == ""  # no stdin: cat ends at once


def test_the_timeout_kills_the_command_and_its_children(tools_node: RunningNode, workspace: Path) -> None:
    command = PIDNS + "sleep 1000 & echo $! > bg.pid; (sleep 1000 & echo $! > grandchild.pid; wait) & echo $$ > sh.pid; sleep 1000"
    ran = call(tools_node, "run_shell", command=command, timeout=1)
    assert (ran["timed_out"], ran["ok"], ran["exit_code"], ran["signal"]) == (True, False, None, "SIGKILL")
    wait_ended(workspace, "sh.pid", "bg.pid", "grandchild.pid")


def test_background_jobs_end_with_the_command(tools_node: RunningNode, workspace: Path) -> None:
    ran = call(tools_node, "run_shell", command=PIDNS + "for i in 1 2 3 4 5 6 7 8; do sleep 1000 & echo $! >> jobs.pid; done; echo started")
    assert ran["ok"] is True and ran["stdout"] == "started\n" and ran["timed_out"] is False
    assert len(pids(workspace, "jobs.pid")) == 8
    wait_ended(workspace, "jobs.pid")


def test_output_floods_are_cut_keeping_head_and_tail(tools_node: RunningNode) -> None:
    ran = call(tools_node, "run_shell", command="echo START; yes | head -c 5000000; echo END; yes err | head -c 300000 >&2")
    assert ran["ok"] is True and ran["truncated"] is True
    assert ran["stdout"].startswith("START\ny\n") and ran["stdout"].endswith("y\nEND\n")
    assert "bytes cut ...]" in ran["stdout"] and "bytes cut ...]" in ran["stderr"]
    assert len(ran["stdout"].encode()) < 1100 and len(ran["stderr"].encode()) < 1100  # max_output is 1000 per stream
    binary = call(tools_node, "run_shell", command="head -c 600 /dev/urandom; printf '\\000\\377\\376'")
    assert binary["ok"] is True and isinstance(binary["stdout"], str)


def test_the_environment_is_cleared(tools_node: RunningNode, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLONY_TOOLS_TEST_SECRET", "hunter2")
    assert os.environ["COLONY_TOOLS_TEST_SECRET"] == "hunter2"  # the node's own process has it
    ran = call(tools_node, "run_shell", command="env")
    variables = dict(line.split("=", 1) for line in ran["stdout"].splitlines())
    assert "hunter2" not in ran["stdout"]
    assert variables.pop("PWD") == str(workspace.resolve())  # the shell sets PWD itself
    assert variables == {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workspace.resolve()), "LANG": "C"}


def test_resource_limits_apply(tools_node: RunningNode, workspace: Path) -> None:
    limits = call(tools_node, "run_shell", command="ulimit -t; ulimit -v; ulimit -f; ulimit -c")["stdout"].split()
    assert limits == ["60", str(2048 * 1024), str(1024 * 1024 // 512), "0"]  # dash reports -v in KiB and -f in 512-byte blocks
    big = call(tools_node, "run_shell", command="head -c 3000000 /dev/zero > big.bin")
    assert big["ok"] is False
    assert (workspace / "big.bin").stat().st_size <= 1 << 20  # file_mib is 1


def test_bad_commands_and_timeouts_are_clear_errors(tools_node: RunningNode) -> None:
    assert "empty or holds a NUL byte" in refusal(tools_node, "run_shell", command="  ")
    assert "empty or holds a NUL byte" in refusal(tools_node, "run_shell", command="echo \0")
    with pytest.raises(RPCError, match="not valid text"):
        call_inside(tools_node, "run_shell", {"command": "echo \ud800"})
    for timeout in (0, -1, 31, 1e300):
        assert "timeout must be over 0 and at most 30" in refusal(tools_node, "run_shell", command="true", timeout=timeout)
    assert "must be number" in refusal(tools_node, "run_shell", command="true", timeout="soon")


def test_the_shell_can_be_switched_off(tmp_path: Path) -> None:
    with RunningNode(tmp_path / "home", plugins=["tools"], config=tools_config(shell=False)) as node:
        assert "run_shell" not in {tool["name"] for tool in node.call("tools.list")}
        with pytest.raises(RPCError) as caught:
            call(node, "run_shell", command="echo hi")
        assert caught.value.code == INVALID_PARAMS and "no tool 'run_shell'" in caught.value.message
        assert call(node, "think", thought="still here") == {"thought": "still here"}


def test_tool_calls_go_through_the_budget_and_the_repeat_guard(tmp_path: Path) -> None:
    config = {"budgets": {"tool_calls": {"per_tick": 4}}, "guard": {"repeat_limit": 2}}
    with RunningNode(tmp_path / "home", plugins=["tools"], config=config) as node:
        call(node, "think", thought="a")
        call(node, "think", thought="a")
        with pytest.raises(RPCError) as repeated:
            call(node, "think", thought="a")
        assert repeated.value.code == OPERATION_FAILED and "repeated action 'think'" in repeated.value.message
        call(node, "think", thought="b")
        call(node, "think", thought="c")
        with pytest.raises(RPCError) as spent:
            call(node, "think", thought="d")
        assert "tool_calls budget per tick exceeded" in spent.value.message
        assert node.call("node.budgets")["kinds"]["tool_calls"]["tick_used"] == 4
