"""The audit log keeps every destructive call, whatever its parameters hold."""

from __future__ import annotations

from pathlib import Path

from colony.testing import RunningNode, temporary_plugin


def test_destructive_calls_with_huge_integers_are_audited_and_the_node_lives_on(tmp_path: Path) -> None:
    source = tmp_path / "bigint.py"
    source.write_text(
        "from colony.core import Manifest\n"
        "PLUGIN = Manifest(name='bigint')\n"
        "def colony_register(registrar):\n"
        "    registrar.rpc('bigint.take', lambda amount: amount, destructive=True)\n"
    )
    with RunningNode(tmp_path / "home") as node, temporary_plugin(node, source):
        assert node.call("bigint.take", amount=2**200) == 2**200
        assert node.call("audit.verify")["ok"] is True
        assert node.call("node.status")["node"]
