"""The file tools on a real node: confinement to the workspace, caps, search, think, and hostile arguments."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colony.core.rpc import INVALID_PARAMS, OPERATION_FAILED, RPCError
from colony.testing import RunningNode, check_plugin
from tests.plugins.tools.conftest import call, call_inside, refusal


def test_the_plugin_conforms() -> None:
    check_plugin("tools")  # starts healthy, ticks, unloads without leftovers, reloads


def test_files_round_trip(tools_node: RunningNode, workspace: Path) -> None:
    written = call(tools_node, "write_file", path="notes/today.md", content="héllo\n")
    assert written == {"path": "notes/today.md", "bytes": 7, "size": 7, "appended": False}
    assert call(tools_node, "write_file", path="notes/today.md", content="more\n", append=True)["size"] == 12
    assert (workspace / "notes" / "today.md").read_text() == "héllo\nmore\n"
    read = call(tools_node, "read_file", path="./notes/../notes/today.md")
    assert read == {"path": "notes/today.md", "content": "héllo\nmore\n", "size": 12, "offset": 0, "bytes": 12, "truncated": False, "binary": False}
    assert call(tools_node, "read_file", path="notes/today.md", offset=7, limit=2)["content"] == "mo"
    listed = call(tools_node, "list_dir")
    assert listed == {"path": ".", "entries": [{"name": "notes", "type": "dir", "size": 0}], "truncated": False}
    deep = call(tools_node, "list_dir", path=".", recursive=True)["entries"]
    assert deep == [{"name": "notes", "type": "dir", "size": 0}, {"name": "notes/today.md", "type": "file", "size": 12}]
    assert call(tools_node, "think", thought="first read, then write") == {"thought": "first read, then write"}
    assert not [p for p in (workspace / "notes").iterdir() if p.name.endswith(".partial")]  # atomic writes leave nothing behind


def test_paths_leading_outside_the_workspace_are_refused(tools_node: RunningNode, workspace: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the wallet passphrase")
    (workspace / "out").symlink_to(tmp_path, target_is_directory=True)
    (workspace / "leak.txt").symlink_to(secret)
    (workspace / "dangling").symlink_to(tmp_path / "not-yet")
    (workspace / "inside").mkdir()
    (workspace / "alias").symlink_to("inside", target_is_directory=True)
    escapes = ["../secret.txt", "inside/../../secret.txt", "out/secret.txt", "leak.txt", "out", str(secret), "/etc/passwd"]
    for path in escapes:
        for tool, extra in (("read_file", {}), ("write_file", {"content": "x"}), ("list_dir", {}), ("search_code", {"pattern": "wallet"})):
            message = refusal(tools_node, tool, path=path, **extra)
            assert "outside the workspace" in message or "is absolute" in message, (tool, path, message)
    assert "outside the workspace" in refusal(tools_node, "write_file", path="dangling", content="x")
    assert not (tmp_path / "not-yet").exists() and secret.read_text() == "the wallet passphrase"
    assert call(tools_node, "search_code", pattern="wallet")["matches"] == []  # the symlinked file is not searched
    assert call(tools_node, "write_file", path="alias/ok.txt", content="fine")["path"] == "inside/ok.txt"  # a link inside is fine
    assert call(tools_node, "list_dir", path="alias")["entries"] == [{"name": "ok.txt", "type": "file", "size": 4}]


def test_caps_on_reads_writes_listings_and_matches(tools_node: RunningNode, workspace: Path) -> None:
    (workspace / "big.txt").write_text("x" * 2500)
    first = call(tools_node, "read_file", path="big.txt")
    assert (first["bytes"], first["truncated"], first["size"]) == (1000, True, 2500)
    last = call(tools_node, "read_file", path="big.txt", offset=2000, limit=5000)
    assert (last["bytes"], last["truncated"]) == (500, False)
    assert call(tools_node, "read_file", path="big.txt", offset=2**70)["bytes"] == 0
    assert "over the 2000-byte limit" in refusal(tools_node, "write_file", path="huge.txt", content="y" * 2001)
    assert not (workspace / "huge.txt").exists()
    for n in range(7):
        (workspace / f"f{n}.txt").write_text("needle\n" * 2)
    listed = call(tools_node, "list_dir")
    assert len(listed["entries"]) == 5 and listed["truncated"] is True
    found = call(tools_node, "search_code", pattern="needle")
    assert len(found["matches"]) == 3 and found["truncated"] is True
    assert "offset must be 0 or more" in refusal(tools_node, "read_file", path="big.txt", offset=-1)
    assert "at most 8000 characters" in refusal(tools_node, "think", thought="t" * 8001)


def test_search_finds_substrings_and_regexes_and_skips_binaries(tools_node: RunningNode, workspace: Path) -> None:
    (workspace / "src").mkdir()
    (workspace / "src" / "main.c").write_text("int main(void) {\n  return add(1, 2);\n}\n")
    (workspace / "src" / "blob.bin").write_bytes(b"add(\0\1\2")
    (workspace / "src" / ".git").mkdir()
    (workspace / "src" / ".git" / "HEAD").write_text("add(\n")
    found = call(tools_node, "search_code", pattern="add(", path="src")
    assert found == {
        "pattern": "add(", "path": "src", "matches": [{"path": "src/main.c", "line": 2, "text": "  return add(1, 2);"}],
        "files": 1, "truncated": False, "timed_out": False,
    }
    assert [m["line"] for m in call(tools_node, "search_code", pattern=r"^\w+ main\(", regex=True)["matches"]] == [1]
    assert call(tools_node, "search_code", pattern="main", path="src/main.c")["files"] == 1
    assert "bad regular expression" in refusal(tools_node, "search_code", pattern="add(", regex=True)
    assert "does not exist" in refusal(tools_node, "search_code", pattern="x", path="nowhere")


def test_a_runaway_regex_is_stopped(tmp_path: Path) -> None:
    config = {"budgets": {"tool_calls": {"per_tick": 0}}, "plugin": {"tools": {"timeout": 1.0}}}
    with RunningNode(tmp_path / "home", plugins=["tools"], config=config) as node:
        (node.home / "workspace" / "evil.txt").write_text("a" * 64 + "!")
        found = call(node, "search_code", pattern="(a+)+$", regex=True)
        assert found["timed_out"] is True and found["truncated"] is True and found["matches"] == []


def test_odd_files_are_refused_not_hung_on(tools_node: RunningNode, workspace: Path) -> None:
    os.mkfifo(workspace / "pipe")
    assert "not a regular file" in refusal(tools_node, "read_file", path="pipe")
    assert "cannot write" in refusal(tools_node, "write_file", path="pipe", content="x", append=True)
    (workspace / "dir").mkdir()
    assert "is a folder" in refusal(tools_node, "read_file", path="dir")
    assert "is a folder" in refusal(tools_node, "write_file", path="dir", content="x")
    assert "is a folder" in refusal(tools_node, "write_file", path=".", content="x")
    assert "does not exist" in refusal(tools_node, "read_file", path="missing.txt")
    assert "not a folder" in refusal(tools_node, "list_dir", path="pipe")
    (workspace / "loop").symlink_to("loop")
    assert "loop" in refusal(tools_node, "read_file", path="loop")
    (workspace / "bytes.bin").write_bytes(bytes(range(256)))
    read = call(tools_node, "read_file", path="bytes.bin")
    assert read["binary"] is True and read["bytes"] == 256


def test_unknown_tools_and_bad_arguments_are_clear_errors(tools_node: RunningNode) -> None:
    with pytest.raises(RPCError) as caught:
        call(tools_node, "format_disk")
    assert caught.value.code == INVALID_PARAMS and "no tool 'format_disk'" in caught.value.message
    assert "missing required argument: path" in refusal(tools_node, "read_file")
    assert "unknown argument: mode" in refusal(tools_node, "read_file", path="x", mode="w")
    assert "'offset' must be integer" in refusal(tools_node, "read_file", path="x", offset="3")
    with pytest.raises(RPCError) as caught:
        tools_node.call("tools.call", name="think", arguments=["x"])
    assert "'arguments' must be" in caught.value.message
    names = {tool["name"]: tool for tool in tools_node.call("tools.list")}
    assert set(names) == {"read_file", "write_file", "list_dir", "search_code", "think", "run_shell"}
    assert all(tool["owner"] == "tools" and tool["description"] and tool["parameters"]["type"] == "object" for tool in names.values())


# -- hostile arguments ---------------------------------------------------------------------------

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)  # lone surrogates included
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
PATHS = st.one_of(
    TEXT,
    st.sampled_from(["", ".", "..", "/", "//", "~", "a/../../..", "\0", "a\0b", "\ud800", "x" * 5000, "../" * 50, "con", "-rf", "*"]),
    st.lists(st.sampled_from(["..", ".", "a", "", "\n", "\ud800", "~"]), max_size=6).map("/".join),
)
HOSTILE = {
    "read_file": st.fixed_dictionaries({"path": PATHS}, optional={"offset": JSON | st.integers(), "limit": JSON | st.integers()}),
    "write_file": st.fixed_dictionaries({"path": PATHS, "content": TEXT | JSON}, optional={"append": JSON}),
    "list_dir": st.fixed_dictionaries({}, optional={"path": PATHS, "recursive": JSON}),
    "search_code": st.fixed_dictionaries({"pattern": TEXT | st.sampled_from(["(", "[", "\\", "(?P<", "a{99999999999}", "\0"]) | JSON}, optional={"path": PATHS, "regex": JSON}),
    "think": st.fixed_dictionaries({}, optional={"thought": JSON}),
    # Commands from a fixed list: random text would run as shell code.
    "run_shell": st.fixed_dictionaries(
        {"command": st.sampled_from(["true", "", "  ", "echo \0", "\ud800", "exit 300", "printf '\\377\\000'", "kill -9 $$", "kill -40 $$", "x" * 100_000]) | st.integers() | st.none()},
        optional={"timeout": JSON | st.floats(min_value=0.001, max_value=1)},
    ),
}


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_arguments_never_crash_a_tool(tools_node: RunningNode, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(HOSTILE)))
    arguments = data.draw(HOSTILE[name] | st.dictionaries(st.text(max_size=10), JSON, max_size=3))
    try:
        result = call_inside(tools_node, name, arguments)
    except RPCError as exc:
        assert exc.code in (INVALID_PARAMS, OPERATION_FAILED), (name, arguments, exc)
    else:
        assert isinstance(result, dict)
    assert tools_node.call("plugins.health", name="tools") == {"tools": True}
