"""`wallet.pay`: paying colony nodes and the official SDK's server, spend controls, and hostile 402s."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from web3 import Web3

from colony.core.cli import cli
from colony.core.rpc import RPCError
from colony.plugins.gateway.payer import Reply, choose, parse_demand
from colony.plugins.gateway.wire import Offer, encode_header, payment_required
from colony.testing import Anvil

from tests.plugins.gateway.conftest import PRICE, Gate, Pool, decode, sdk_seller, start_node

Answer = tuple[int, dict[str, str], bytes]
BURN = "0x000000000000000000000000000000000000dEaD"
ALLOWANCE_ABI = [{
    "name": "allowance", "type": "function", "stateMutability": "view",
    "inputs": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}],
}]


class Upstream:
    """A loopback HTTP server answering each path from `routes`; it records every request it gets."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[dict[str, str]], Answer]] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                upstream.seen.append((self.command, self.path, headers))
                route = upstream.routes.get(self.path.partition("?")[0], lambda h: (404, {}, b"no such path"))
                status, extra, body = route(headers)
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **extra}.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    # The gateway hangs up on an oversize answer mid-body; that is the point, not an error.
                    with contextlib.suppress(ConnectionError):
                        self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = answer

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        """The paths requested so far."""
        return [path for _, path, _ in self.seen]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@contextlib.contextmanager
def gate_at(home: Path, **gateway: Any) -> Iterator[Gate]:
    """A gateway node at `home` with these gateway options, stopped after the block."""
    gate = Gate(start_node(home, gateway=gateway))
    try:
        yield gate
    finally:
        gate.close()
        gate.node.stop()


def offer_of(gate: Gate, amount: int, **changes: Any) -> Offer:
    """An exact offer in `gate`'s token on its network, paying a burn address, with fields changed."""
    extra = {"name": gate.token_name, "version": gate.token_version}
    fields: dict[str, Any] = {"scheme": "exact", "network": gate.network, "amount": amount, "asset": gate.token, "pay_to": BURN, "max_timeout": 300, "extra": extra}
    return Offer(**{**fields, **changes})


def demanding(body: dict[str, Any]) -> Callable[[dict[str, str]], Answer]:
    """A route answering 402 with `body` in PAYMENT-REQUIRED."""
    return lambda headers: (402, {"PAYMENT-REQUIRED": encode_header(body), "Content-Type": "application/json"}, b"{}")


def refusal(gate: Gate, url: str, **params: Any) -> str:
    """The message of the RPCError that wallet.pay raises for `url`."""
    with pytest.raises(RPCError) as caught:
        gate.node.call("wallet.pay", url=url, **params)
    return caught.value.message


# -- paying a colony node ------------------------------------------------------------------------


def test_pays_another_colony_node_on_the_same_chain(on_anvil: Gate, gate_factory: Callable[..., Gate], anvil_chain: Anvil) -> None:
    contracts = on_anvil.node.call("chain.info")["contracts"]
    buyer = gate_factory(chain={"url": anvil_chain.url, "token": contracts["token"], "identity_registry": contracts["identity"], "reputation_registry": contracts["reputation"]})
    buyer_wallet = buyer.node.call("wallet.info")["address"]
    before = (on_anvil.balance(buyer_wallet), on_anvil.balance(on_anvil.wallet))
    result = buyer.node.call("wallet.pay", url=on_anvil.url + "/paid/joke?key=secret")
    assert result["status"] == 200 and decode(result["headers"]["payment-response"]) == result["payment"]
    assert '"payer":"' + buyer_wallet + '"' in result["body"]
    assert result["payment"]["success"] is True and result["paid"]["amount"] == PRICE
    assert (on_anvil.balance(buyer_wallet), on_anvil.balance(on_anvil.wallet)) == (before[0] - PRICE, before[1] + PRICE)
    receipt = on_anvil.receipt(result["payment"]["transaction"])
    assert receipt is not None and receipt["transfers"] == [{"address": on_anvil.token, "from": buyer_wallet, "to": on_anvil.wallet, "value": PRICE}]
    (event,) = buyer.node.call("events.recent", topics=["wallet.paid"])
    assert event["data"]["url"] == on_anvil.url + "/paid/joke" and event["data"]["success"] is True
    assert event["data"]["amount"] == PRICE and event["data"]["transaction"] == result["payment"]["transaction"]
    assert not {"signature", "payload", "authorization"} & set(event["data"])


# -- paying the official SDK's server ------------------------------------------------------------


@pytest.fixture
def sdk_server(on_anvil: Gate, anvil_chain: Anvil) -> Iterator[tuple[str, str]]:
    """The x402 SDK's FastAPI middleware with an embedded SDK facilitator on anvil: (url of /weather, payTo)."""
    with sdk_seller(on_anvil.node, anvil_chain.url, 1500, on_anvil.token, on_anvil.token_name, on_anvil.token_version) as seller:
        yield seller


def test_pays_the_official_sdk_fastapi_middleware(on_anvil: Gate, sdk_server: tuple[str, str]) -> None:
    url, pay_to = sdk_server
    payer_before = on_anvil.balance(on_anvil.wallet)
    result = on_anvil.node.call("wallet.pay", url=url)
    assert result["status"] == 200 and result["body"] == '{"weather":"sunny"}', result
    assert result["payment"]["success"] is True and result["paid"]["pay_to"] == pay_to
    assert on_anvil.balance(pay_to) == 1500
    assert on_anvil.balance(on_anvil.wallet) == payer_before - 1500


def test_the_pay_command(inproc: Gate) -> None:
    sock = ["--socket", str(inproc.node.socket)]
    runner = CliRunner()
    done = runner.invoke(cli, ["pay", inproc.url + "/paid/echo", "--method", "POST", "--data", "hello", *sock])
    assert done.exit_code == 0 and "paid 1000 units to " + inproc.wallet in done.output and "HTTP 200" in done.output, done.output
    assert done.output.rstrip().endswith("hello")
    as_json = json.loads(runner.invoke(cli, ["pay", inproc.url + "/paid/joke", "--json", *sock]).output)
    assert as_json["status"] == 200 and as_json["payment"]["success"] is True
    capped = runner.invoke(cli, ["pay", inproc.url + "/paid/joke", "--max", "10", *sock])
    assert capped.exit_code == 1 and "over the limit of 10 for one payment" in capped.output
    free = runner.invoke(cli, ["pay", inproc.url + "/free", *sock])
    assert free.exit_code == 0 and "paid" not in free.output.splitlines()[0] and '{"free":true}' in free.output


# -- hostile servers -----------------------------------------------------------------------------


def test_hostile_402s_get_clear_refusals(inproc: Gate, upstream: Upstream) -> None:
    url = upstream.url
    huge = offer_of(inproc, 1).to_v2() | {"amount": "9" * 100}
    routes = {
        "/garbage": (lambda h: (402, {"PAYMENT-REQUIRED": "%%% not base64"}, b"")),
        "/text": (lambda h: (402, {}, b"pay me")),
        "/v3": (lambda h: (402, {"Content-Type": "application/json"}, b'{"x402Version": 3, "accepts": []}')),
        "/huge": demanding({"x402Version": 2, "accepts": [huge]}),
        "/expensive": demanding(payment_required(url, [offer_of(inproc, 10**30)])),
        "/mainnet": demanding(payment_required(url, [offer_of(inproc, 1, network="eip155:1")])),
        "/other-token": demanding(payment_required(url, [offer_of(inproc, 1, asset="0x" + "12" * 20)])),
        "/no-domain": demanding(payment_required(url, [offer_of(inproc, 1, extra={})])),
        "/forever": demanding({"x402Version": 2, "accepts": [offer_of(inproc, 1).to_v2() | {"maxTimeoutSeconds": 10**80}]}),
        "/not-a-list": demanding({"x402Version": 2, "accepts": "everything"}),
    }
    upstream.routes.update(routes)
    expected = {
        "/garbage": "unreadable 402",
        "/text": "unreadable 402",
        "/v3": "unreadable 402",
        "/not-a-list": "unreadable 402",
        "/huge": "none usable",
        "/forever": "none usable",
        "/expensive": "over the limit of 1000000",
        "/mainnet": "offered: exact on eip155:1",
        "/other-token": "allowed asset",
        "/no-domain": "allowed asset",
    }
    for path, message in expected.items():
        assert message in refusal(inproc, url + path), path
    assert refusal(inproc, "file:///etc/passwd").startswith("not an http(s) URL")
    assert "failed: ConnectError" in refusal(inproc, "http://127.0.0.1:1/")
    assert not any("payment-signature" in headers for _, _, headers in upstream.seen)
    assert inproc.node.call("wallet.info")["address"] == inproc.wallet


def test_redirects_are_never_followed_with_or_without_a_payment(inproc: Gate, upstream: Upstream) -> None:
    upstream.routes["/moved"] = lambda h: (302, {"Location": "/landing"}, b"")
    offer = payment_required(upstream.url + "/sly", [offer_of(inproc, 7)])
    upstream.routes["/sly"] = lambda h: (302, {"Location": "/landing"}, b"") if "payment-signature" in h else demanding(offer)(h)
    unpaid = inproc.node.call("wallet.pay", url=upstream.url + "/moved")
    assert (unpaid["status"], unpaid["paid"], unpaid["headers"]["location"]) == (302, None, "/landing")
    paid = inproc.node.call("wallet.pay", url=upstream.url + "/sly")
    assert paid["status"] == 302 and paid["paid"]["amount"] == 7 and paid["payment"] is None
    assert upstream.paths() == ["/moved", "/sly", "/sly"]


def test_a_v1_body_is_read_with_its_legacy_network() -> None:
    entry = {"scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "5", "resource": "https://x/y", "payTo": "0x" + "ab" * 20}
    entry |= {"maxTimeoutSeconds": 60, "asset": "0x" + "cd" * 20, "extra": {"name": "USDC", "version": "2"}}
    body = json.dumps({"x402Version": 1, "error": "", "accepts": [entry]}).encode()
    demand = parse_demand(Reply(402, httpx.Headers(), body, False))
    assert demand.version == 1 and [(o.network, o.amount, o.pay_to) for o in demand.offers] == [("eip155:84532", 5, "0x" + "ab" * 20)]


# -- tempo-tip20 -----------------------------------------------------------------------------------


def test_pays_a_tempo_tip20_only_node_approving_each_amount(pool: Pool, gate_factory: Callable[..., Gate], anvil_chain: Anvil) -> None:
    """A node offering only the seed's dialect: the buyer approves the seller's facilitator for the price, signs, is served."""
    seller = pool.get("anvil-tip20", chain={"url": anvil_chain.url}, gateway={"schemes": ["tempo-tip20"]})
    contracts = seller.node.call("chain.info")["contracts"]
    buyer = gate_factory(chain={"url": anvil_chain.url, "token": contracts["token"], "identity_registry": contracts["identity"], "reputation_registry": contracts["reputation"]})
    buyer_wallet = buyer.node.call("wallet.info")["address"]
    token = Web3(Web3.HTTPProvider(anvil_chain.url)).eth.contract(address=seller.token, abi=ALLOWANCE_ABI)
    before = (seller.balance(buyer_wallet), seller.balance(seller.wallet))
    for n in (1, 2):
        result = buyer.node.call("wallet.pay", url=seller.url + "/paid/joke")
        assert result["status"] == 200, result
        assert result["paid"]["scheme"] == "tempo-tip20" and re.fullmatch(r"0x[0-9a-f]{64}", result["paid"]["approval"])
        assert result["payment"]["success"] is True and result["payment"]["payer"] == buyer_wallet
        receipt = seller.receipt(result["payment"]["transaction"])
        assert receipt is not None and receipt["transfers"] == [{"address": seller.token, "from": buyer_wallet, "to": seller.wallet, "value": PRICE}]
        # transferFrom spent exactly what was approved: nothing is left for the facilitator to take unsigned.
        assert token.functions.allowance(buyer_wallet, seller.facilitator).call() == 0
        assert (seller.balance(buyer_wallet), seller.balance(seller.wallet)) == (before[0] - n * PRICE, before[1] + n * PRICE)
    (_, event) = buyer.node.call("events.recent", topics=["wallet.paid"])
    assert event["data"]["scheme"] == "tempo-tip20" and event["data"]["success"] is True


def test_a_seed_body_is_read_and_exact_is_preferred() -> None:
    """The seed's 402 (no header, v1 body with price and facilitatorAddress) gives a tempo-tip20 offer; exact wins when both come."""
    asset, pay_to, spender = "0x" + "cd" * 20, "0x" + "ab" * 20, "0x" + "ee" * 20
    entry = {"scheme": "tempo-tip20", "network": "eip155:42431", "price": "$0.001", "asset": asset, "amount": "1000", "payTo": pay_to, "maxTimeoutSeconds": 30}
    body = {"x402Version": 1, "accepts": [entry | {"facilitatorAddress": spender}, entry | {"amount": "1"}]}
    demand = parse_demand(Reply(402, httpx.Headers(), json.dumps(body).encode(), False))
    assert [(o.scheme, o.network, o.amount, o.pay_to, o.extra) for o in demand.offers] == [
        ("tempo-tip20", "eip155:42431", 1000, pay_to, {"facilitatorAddress": Web3.to_checksum_address(spender)}),
        ("tempo-tip20", "eip155:42431", 1, pay_to, {}),
    ]
    # The cheaper offer names no facilitator to approve: it cannot be paid.
    assert choose(demand, "eip155:42431", {asset}, 10**6) == demand.offers[0]
    standard = Offer("exact", "eip155:42431", 5000, asset, pay_to, 60, {"name": "USD", "version": "1"})
    both = dataclasses.replace(demand, offers=[*demand.offers, standard])
    assert choose(both, "eip155:42431", {asset}, 10**6) == standard
    assert choose(both, "eip155:42431", {asset}, 4999) == demand.offers[0]  # exact is over the limit
    with pytest.raises(RPCError, match="facilitatorAddress for tempo-tip20"):
        choose(dataclasses.replace(demand, offers=demand.offers[1:]), "eip155:42431", {asset}, 10**6)


# -- spend controls ------------------------------------------------------------------------------
# Last in the file: stopping a node clears the plugin state that every node in this process shares.


def test_caps_and_the_daily_budget_refuse_and_survive_a_restart(tmp_path: Path, upstream: Upstream) -> None:
    caps = {"pay_max": PRICE, "pay_daily": 2 * PRICE + PRICE // 2}
    with gate_at(tmp_path / "node", **caps) as gate:
        assert [gate.node.call("wallet.pay", url=gate.url + "/paid/joke")["paid"]["spent_today"] for _ in range(2)] == [PRICE, 2 * PRICE]
        upstream.routes["/dear"] = demanding(payment_required(upstream.url + "/dear", [offer_of(gate, PRICE + 1)]))
        assert "over the limit of 1000 for one payment" in refusal(gate, upstream.url + "/dear")
        assert "over the limit of 500 for one payment" in refusal(gate, gate.url + "/paid/joke", max_amount=500)
        assert "exceed the daily budget: 2000 of 2500 spent today" in refusal(gate, gate.url + "/paid/joke")
        assert gate.node.call("gateway.info")["metrics"]["paid"] == 2
        assert not any("payment-signature" in headers for _, _, headers in upstream.seen)
    with gate_at(tmp_path / "node", **caps) as gate:
        assert "exceed the daily budget: 2000 of 2500 spent today" in refusal(gate, gate.url + "/paid/joke")
        assert gate.node.call("gateway.info")["metrics"]["paid"] == 0
