"""call_paid_endpoint on anvil: it pays the official x402 SDK's server the exact price, within max_amount and the money budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from colony.testing import Anvil, RunningNode
from tests.plugins.conftest import FAST_KEYS
from tests.plugins.gateway.conftest import PAIDTEST, Gate, sdk_seller
from tests.plugins.tools.conftest import call, refusal

PRICE = 1500
BUDGET = 2000  # money per day: room for one payment, not two


@pytest.fixture(scope="module")
def buyer(tmp_path_factory: pytest.TempPathFactory, anvil_chain: Anvil) -> Iterator[Gate]:
    """A node on anvil with the gateway (its wallet pays), the tools plugin, and a money budget of BUDGET a day."""
    home = tmp_path_factory.mktemp("buyer")
    (home / "plugins").mkdir()
    (home / "plugins" / "paidtest.py").write_text(PAIDTEST)
    config = {
        "budgets": {"tool_calls": {"per_tick": 0}, "money": {"per_day": BUDGET}},
        "guard": {"repeat_limit": 100},
        "plugin": {"identity": dict(FAST_KEYS), "gateway": {"port": 0}, "chain": {"url": anvil_chain.url}},
    }
    node = RunningNode(home, plugins=("chain", "identity", "gateway", "tools", "paidtest"), config=config).start()
    gate = Gate(node)
    yield gate
    gate.close()
    node.stop()


@pytest.fixture(scope="module")
def seller(buyer: Gate, anvil_chain: Anvil) -> Iterator[tuple[str, str]]:
    """The x402 SDK's FastAPI middleware with its own SDK facilitator on anvil, charging PRICE: (url, payTo)."""
    with sdk_seller(buyer.node, anvil_chain.url, PRICE, buyer.token, buyer.token_name, buyer.token_version) as found:
        yield found


def money_used(node: RunningNode) -> int:
    return int(node.call("node.budgets")["kinds"]["money"]["day_used"])


def test_pays_the_exact_price_within_max_amount_and_the_money_budget(buyer: Gate, seller: tuple[str, str]) -> None:
    url, pay_to = seller
    node = buyer.node
    wallet = buyer.balance(buyer.wallet)

    # Over max_amount: refused before anything is signed.
    assert f"the server asks {PRICE} units, over the limit of {PRICE - 1}" in refusal(node, "call_paid_endpoint", url=url, max_amount=PRICE - 1)
    assert (buyer.balance(pay_to), money_used(node)) == (0, 0)

    # Within both: the exact price moves and the money budget records it.
    answer = call(node, "call_paid_endpoint", url=url, max_amount=PRICE * 10)
    assert answer["status"] == 200 and answer["body"] == '{"weather":"sunny"}'
    assert answer["paid"]["amount"] == PRICE and answer["payment"]["success"] is True
    assert buyer.balance(pay_to) == PRICE and buyer.balance(buyer.wallet) == wallet - PRICE
    assert money_used(node) == PRICE

    # The budget has BUDGET - PRICE left, less than the price: refused, nothing paid, nothing recorded.
    message = refusal(node, "call_paid_endpoint", url=url, max_amount=PRICE * 10)
    assert f"over the limit of {BUDGET - PRICE}" in message and f"the money budget has {BUDGET - PRICE} units left" in message
    assert (buyer.balance(pay_to), money_used(node)) == (PRICE, PRICE)
    assert len(node.call("events.recent", topics=["wallet.paid"])) == 1

    # A free endpoint needs no money: it is still called.
    free = call(node, "call_paid_endpoint", url=buyer.url + "/free", max_amount=0)
    assert free["status"] == 200 and free["paid"] is None and money_used(node) == PRICE


def test_hostile_calls_are_refused_clearly(buyer: Gate) -> None:
    node = buyer.node
    assert "not an http(s) URL" in refusal(node, "call_paid_endpoint", url="file:///etc/passwd", max_amount=1)
    assert "not an http(s) URL" in refusal(node, "call_paid_endpoint", url="nonsense", max_amount=1)
    assert "bad url or body" in refusal(node, "call_paid_endpoint", url="http://[::1/", max_amount=1)
    assert "max_amount must be 0 or more" in refusal(node, "call_paid_endpoint", url=buyer.url, max_amount=-1)
    assert "must be one of" in refusal(node, "call_paid_endpoint", url=buyer.url, max_amount=1, method="TRACE")
    assert "failed: ConnectError" in refusal(node, "call_paid_endpoint", url="http://127.0.0.1:1/", max_amount=1)
