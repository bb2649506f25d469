"""`colony cartridge ...` end to end: scaffold and build here, deploy and run on a real node through its socket."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from colony.core.cli import cli
from colony.testing import RunningNode


@pytest.fixture
def node(running_node: Callable[..., RunningNode]) -> RunningNode:
    return running_node(plugins=["cartridges"])


def colony(node: RunningNode, *args: str) -> Result:
    """Run `colony --home HOME ARGS --socket SOCKET` in-process (--socket only for commands that reach the node)."""
    local = args[0] in ("new", "build")
    tail = [] if local else ["--socket", str(node.socket)]
    return CliRunner().invoke(cli, ["--home", str(node.home), "cartridge", *args, *tail], catch_exceptions=False)


def test_new_build_deploy_call_logs_rollback_remove(node: RunningNode, tmp_path: Path) -> None:
    created = colony(node, "new", "greeter", "--kind", "backend", "--lang", "wat", "--dir", str(tmp_path))
    assert created.exit_code == 0, created.output
    folder = tmp_path / "greeter"
    assert f"created {folder} (backend, wat)" in created.output
    built = colony(node, "build", str(folder))
    assert built.exit_code == 0, built.output
    assert f"built greeter 0.1.0 (backend, wat): {folder / 'build' / 'greeter.wasm'}" in built.output

    deployed = colony(node, "deploy", str(folder))
    assert deployed.exit_code == 0, deployed.output
    assert deployed.output.startswith("deployed greeter 0.1.0: backend, sha256 ")
    listed = colony(node, "list")
    assert listed.output.splitlines()[0].split() == ["SLUG", "KIND", "VERSION", "PREVIOUS", "PRICE", "CALLS", "ERRORS", "FUEL", "TRAPS"]
    assert listed.output.splitlines()[1].split() == ["greeter", "backend", "0.1.0", "-", "-", "0", "0", "0", "0/0/0"]

    called = colony(node, "call", "greeter", "--method", "POST", "--path", "/hi", "--body", "yo")
    assert called.exit_code == 0, called.output
    answer = json.loads(called.stdout.splitlines()[-1])
    assert answer["cartridge"] == "greeter" and answer["request"]["path"] == "/hi" and answer["request"]["body"] == "yo"
    assert "HTTP 200 application/json" in called.stderr

    no_previous = colony(node, "rollback", "greeter")
    assert no_previous.exit_code == 1 and "greeter has no previous version to roll back to" in no_previous.output
    toml = folder / "cartridge.toml"
    toml.write_text(toml.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    again = colony(node, "deploy", str(folder), "--json")
    assert (json.loads(again.output)["version"], json.loads(again.output)["previous"]) == ("0.2.0", "0.1.0")
    rolled = colony(node, "rollback", "greeter")
    assert rolled.exit_code == 0 and "greeter is at 0.1.0 again (previous: 0.2.0)" in rolled.output

    assert colony(node, "logs", "greeter", "--limit", "5").exit_code == 0
    removed = colony(node, "remove", "greeter")
    assert removed.exit_code == 0 and "removed greeter and 0 KV keys" in removed.output
    assert colony(node, "list", "--json").output.strip() == "[]"


def test_cli_errors_are_clear(node: RunningNode, tmp_path: Path) -> None:
    bad_slug = colony(node, "new", "Bad_Slug", "--dir", str(tmp_path))
    assert bad_slug.exit_code == 1 and "slug must be" in bad_slug.output
    colony(node, "new", "twice", "--lang", "wat", "--dir", str(tmp_path))
    twice = colony(node, "new", "twice", "--lang", "wat", "--dir", str(tmp_path))
    assert twice.exit_code == 1
    broken = tmp_path / "broken.wat"
    broken.write_text("(module (func (export \"x402_handle\") (param i32 i32) (i32.bogus)))")
    failed = colony(node, "build", str(broken))
    assert failed.exit_code == 1 and "build failed" in failed.output and "bogus" in failed.output
    not_deployed = colony(node, "deploy", str(broken))
    assert not_deployed.exit_code == 1 and "build failed" in not_deployed.output
    trapping = tmp_path / "trapping.wat"
    trapping.write_text('(module (memory (export "memory") 1) (func (export "x402_handle") (param i32 i32) unreachable))')
    assert colony(node, "deploy", str(trapping)).exit_code == 0
    trapped = colony(node, "call", "trapping")
    assert trapped.exit_code == 1 and "Error: trap: wasm `unreachable` instruction executed" in trapped.output
    logs = colony(node, "logs", "trapping")
    assert "error  trap: wasm `unreachable` instruction executed" in logs.output
    unknown = colony(node, "remove", "nobody")
    assert unknown.exit_code == 1 and "no cartridge 'nobody'" in unknown.output
