"""`colony wallet` and `colony identity` against a real node's socket."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from colony.core.cli import cli
from colony.testing import RunningNode
from tests.plugins.identity.conftest import published

STRANGER = "0x" + "12" * 20


def colony(node: RunningNode, *args: str) -> Result:
    """Run `colony --home HOME ARGS` in-process."""
    return CliRunner().invoke(cli, ["--home", str(node.home), *args], catch_exceptions=False)


def test_wallet_commands(identity_node: RunningNode) -> None:
    socket = str(identity_node.socket)
    info = identity_node.call("wallet.info")
    shown = colony(identity_node, "wallet", "--socket", socket)
    assert shown.exit_code == 0, shown.output
    assert f"wallet       {info['address']}" in shown.output
    assert f"facilitator  {info['facilitator']}" in shown.output
    assert f"balance      {info['balance'] // 10**6}.000000 CUSD ({info['balance']} units)" in shown.output
    assert json.loads(colony(identity_node, "wallet", "--socket", socket, "--json").output)["address"] == info["address"]

    funded = colony(identity_node, "wallet", "faucet", STRANGER, "5", "--socket", socket, "--json")
    assert funded.exit_code == 0, funded.output
    assert {k: v for k, v in json.loads(funded.output).items() if k != "transaction"} == {"address": STRANGER, "amount": 5, "balance": 5}

    # Options given to the group reach the subcommand.
    sent = colony(identity_node, "wallet", "--socket", socket, "send", STRANGER, "7")
    assert sent.exit_code == 0, sent.output
    assert f"sent 7 units to {STRANGER}" in sent.output
    assert identity_node.call("wallet.info")["balance"] == info["balance"] - 7


def test_wallet_errors_are_clear(identity_node: RunningNode) -> None:
    socket = str(identity_node.socket)
    bad_address = colony(identity_node, "wallet", "send", "0xzz", "1", "--socket", socket)
    assert bad_address.exit_code == 1 and "Error: not an address: '0xzz'" in bad_address.output
    zero = colony(identity_node, "wallet", "send", STRANGER, "0", "--socket", socket)
    assert zero.exit_code == 2 and "0 is not in the range x>=1" in zero.output
    too_much = colony(identity_node, "wallet", "send", STRANGER, str(10**18), "--socket", socket)
    assert too_much.exit_code == 1 and "the wallet holds less than that" in too_much.output
    faucet = colony(identity_node, "wallet", "faucet", "nope", "--socket", socket)
    assert faucet.exit_code == 1 and "not an address: 'nope'" in faucet.output


def test_identity_commands(identity_node: RunningNode) -> None:
    socket = str(identity_node.socket)
    info = published(identity_node)
    shown = colony(identity_node, "identity", "--socket", socket)
    assert shown.exit_code == 0, shown.output
    assert f"agent        {info['agent_id']}\n" in shown.output
    assert f"registry     {info['registry']}\n" in shown.output
    assert "agentURI     data:application/json;base64," in shown.output and "(update pending)" not in shown.output
    assert json.loads(colony(identity_node, "identity", "--json", "--socket", socket).output) == info
    assert colony(identity_node, "identity", "peers", "--socket", socket).output == "no peers found yet\n"
    assert json.loads(colony(identity_node, "identity", "--socket", socket, "--json", "peers").output) == []
