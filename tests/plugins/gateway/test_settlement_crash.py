"""Crash safety: a node SIGKILLed while its settlement waits in anvil's mempool pays exactly once after restart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from colony.testing import Anvil, SyncClient
from colony.testing.anvil import free_port
from tests.plugins.conftest import wait_for
from tests.plugins.gateway.conftest import PAIDTEST, PRICE, Gate, decode

COLONY = Path(sys.executable).with_name("colony")


class ServedNode:
    """`colony serve` as a real subprocess with its own home; `call` speaks to its control socket."""

    def __init__(self, home: Path, socket: Path, port: int) -> None:
        self.home, self.socket, self.port = home, socket, port
        self.process: subprocess.Popen[bytes] | None = None
        self.client: SyncClient | None = None

    def start(self) -> ServedNode:
        log = open(self.home / "serve.log", "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [str(COLONY), "--home", str(self.home), "serve", "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "COLONY_HOME": str(self.home)},
        )
        log.close()

        def healthy() -> bool:
            assert self.process is not None and self.process.poll() is None, (self.home / "serve.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, "the served node's gateway")
        self.client = SyncClient(self.socket)
        return self

    def call(self, method: str, /, **params: Any) -> Any:
        assert self.client is not None
        return self.client.call(method, **params)

    def _disconnect(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def kill(self) -> None:
        """SIGKILL: no stop hooks, no clean shutdown."""
        self._disconnect()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        self._disconnect()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def served(tmp_path: Path, anvil_chain: Anvil) -> Iterator[ServedNode]:
    home = tmp_path / "home"
    (home / "plugins").mkdir(parents=True)
    (home / "plugins" / "paidtest.py").write_text(PAIDTEST)
    sockdir = Path(tempfile.mkdtemp(prefix="colony-crash-", dir="/tmp"))
    port = free_port()
    (home / "colony.toml").write_text(
        f"""
[heartbeat]
enabled = false

[control]
socket = "{sockdir / 'node.sock'}"

[plugins]
load = ["chain", "identity", "gateway", "paidtest"]

[plugin.chain]
url = "{anvil_chain.url}"

[plugin.identity]
kdf = "pbkdf2"
kdf_iterations = 1000

[plugin.gateway]
port = {port}
"""
    )
    node = ServedNode(home, sockdir / "node.sock", port)
    yield node
    node.stop()
    shutil.rmtree(sockdir, ignore_errors=True)


def test_sigkill_while_the_settlement_is_in_the_mempool(served: ServedNode, anvil_chain: Anvil) -> None:
    gate = Gate(served.start())  # type: ignore[arg-type]
    payer = gate.payer()
    header = gate.header(payer)
    before = (gate.balance(payer.address), gate.balance(gate.wallet), gate.txcount())
    outcome: list[Any] = []

    def pay() -> None:
        try:
            outcome.append(httpx.get(gate.url + "/paid/joke", headers={"PAYMENT-SIGNATURE": header}, timeout=120))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    anvil_chain.rpc("evm_setAutomine", False)
    try:
        thread = threading.Thread(target=pay)
        thread.start()
        # The facilitator's transaction sits in anvil's txpool, waiting for a block that never comes.
        wait_for(lambda: gate.txcount() == before[2] + 1, "the settlement to be broadcast")
        pool = anvil_chain.rpc("txpool_content")
        queued = {addr.lower(): txs for addr, txs in pool["pending"].items()}  # type: ignore[index]
        assert gate.facilitator.lower() in queued
        served.kill()
        thread.join(60)
        assert outcome and isinstance(outcome[0], httpx.HTTPError), outcome  # no answer: the node died mid-request
        gate.close()
    finally:
        anvil_chain.rpc("evm_setAutomine", True)
    anvil_chain.rpc("evm_mine")

    gate = Gate(served.start())  # type: ignore[arg-type]
    response = gate.pay(header)
    assert response.status_code == 200, (response.status_code, response.text, response.headers)
    assert response.json() == {"joke": "why did the agent pay?", "payer": payer.address}
    settled = decode(response.headers["payment-response"])
    assert settled["success"] is True and settled["payer"] == payer.address
    receipt = gate.receipt(settled["transaction"])
    assert receipt["status"] == 1
    assert receipt["transfers"] == [{"address": gate.token, "from": payer.address, "to": gate.wallet, "value": PRICE}]
    assert gate.balance(payer.address) == before[0] - PRICE
    assert gate.balance(gate.wallet) == before[1] + PRICE
    assert gate.txcount() == before[2] + 1
    # Delivered now: the same header again buys nothing and sends nothing.
    again = gate.pay(header)
    assert again.status_code == 402 and decode(again.headers["payment-required"])["error"] == "invalid_exact_evm_nonce_already_used"
    assert gate.txcount() == before[2] + 1
    gate.close()
