"""Real nodes for the gateway tests: chain + identity + gateway + a drop-in plugin with priced routes.

Every node listens on a loopback port picked by the OS; tests talk to it over real HTTP and read
the chain through the drop-in's `paidtest.*` RPC methods (the same chain object the node uses).
"""

from __future__ import annotations

import base64
import json
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from colony.plugins.gateway import exact
from colony.plugins.gateway.wire import parse_offer
from colony.plugins.gateway.wire import Offer, chain_id_of, encode_header
from colony.testing import Anvil, AnvilUnavailable, RunningNode
from tests.plugins.conftest import FAST_KEYS, wait_for

PRICE = 1000

# A drop-in plugin: priced routes that count their runs, and RPC methods that read the chain.
PAIDTEST = '''
"""paidtest: priced routes and chain probes for the gateway tests."""
from web3 import Web3
from colony.core import Manifest, Registrar, Request, Response

PLUGIN = Manifest(name="paidtest", version="0.1.0", requires=("chain",))
RUNS: dict = {}
STATE: dict = {}
SINK = "0x000000000000000000000000000000000000dEaD"
TRANSFER = "0x" + Web3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix("0x")


def colony_register(registrar: Registrar) -> None:
    registrar.route("GET", "/paid/joke", joke, price=1000, description="A joke")
    registrar.route("POST", "/paid/echo", echo, price=1000)
    registrar.route("GET", "/paid/status/{code}", status, price=1000)
    registrar.route("GET", "/paid/boom", boom, price=1000)
    registrar.route("GET", "/paid/drain", drain, price=1000)
    registrar.route("GET", "/paid/first", first, price=1000, settle_first=True)
    registrar.route("GET", "/free", lambda request: {"free": True})
    registrar.route("GET", "/hooked", joke)  # no price here: colony_price sets one
    registrar.rpc("paidtest.runs", runs)
    registrar.rpc("paidtest.balance", balance)
    registrar.rpc("paidtest.txcount", txcount)
    registrar.rpc("paidtest.receipt", receipt)
    registrar.rpc("paidtest.settled", settled)


async def colony_start(ctx) -> None:
    STATE["chain"] = ctx.service("chain")


def colony_price(route: str):
    return 2000 if route == "/hooked" else None


def colony_payment_settled(receipt: dict) -> None:
    STATE.setdefault("settled", []).append(receipt)


async def settled() -> list:
    return STATE.get("settled", [])


def _count(request: Request) -> None:
    RUNS[request.path] = RUNS.get(request.path, 0) + 1


async def joke(request: Request):
    _count(request)
    return {"joke": "why did the agent pay?", "payer": request.payment["payer"]}


async def echo(request: Request):
    _count(request)
    return Response(request.body, 200, {}, "application/octet-stream")


async def status(request: Request):
    _count(request)
    return Response.json({"error": "on purpose"}, int(request.params["code"]))


async def boom(request: Request):
    _count(request)
    raise RuntimeError("the handler blew up")


async def first(request: Request):
    _count(request)
    return {"settled_before_me": request.payment.get("transaction", "")}


async def drain(request: Request):
    """Spend the payer's whole balance (its key comes in a header) after verify, before settle."""
    _count(request)
    from eth_account import Account

    chain = STATE["chain"]
    payer = Account.from_key(request.headers["x-drain-key"])
    amount = await chain.balance(payer.address)
    await chain.send(payer, chain.contract("token").functions.transfer(SINK, amount), gas=100_000)
    return {"drained": amount}


async def runs() -> dict:
    return dict(RUNS)


async def balance(address: str) -> int:
    return await STATE["chain"].balance(address)


async def txcount(address: str) -> int:
    chain = STATE["chain"]
    return int(await chain.run(chain.w3.eth.get_transaction_count, Web3.to_checksum_address(address), "pending"))


async def receipt(tx: str) -> dict:
    """Status and Transfer logs of a mined transaction, as plain JSON (None when not mined)."""
    chain = STATE["chain"]
    found = await chain.receipt(tx, 0)
    if found is None:
        return None
    logs = []
    for log in found["logs"]:
        topics = [bytes(t).rjust(32, b"\\0") for t in log["topics"]]
        if len(topics) == 3 and "0x" + topics[0].hex() == TRANSFER:
            logs.append({
                "address": Web3.to_checksum_address(log["address"]),
                "from": Web3.to_checksum_address(topics[1][12:]),
                "to": Web3.to_checksum_address(topics[2][12:]),
                "value": int.from_bytes(bytes(log["data"]), "big"),
            })
    return {"status": found["status"], "transfers": logs, "logs": len(found["logs"])}
'''


def sign_typed(account: LocalAccount, message: dict[str, Any]) -> bytes:
    """The 65-byte r||s||v signature (v 27/28) of a full EIP-712 message, straight from eth_account."""
    return bytes(account.sign_message(encode_typed_data(full_message=message)).signature)


def sign_payment(account: LocalAccount, offer: Offer, now: int, valid_after: int = 0, nonce: bytes | None = None) -> dict[str, Any]:
    """A v2 exact/EIP-3009 PaymentPayload for `offer`, built as the Python SDK builds it."""
    auth = exact.Authorization(
        sender=account.address, receiver=offer.pay_to, value=offer.amount, valid_after=valid_after,
        valid_before=now + offer.max_timeout, nonce=secrets.token_bytes(32) if nonce is None else nonce,
    )
    message = exact.typed_data(auth, chain_id_of(offer.network), offer.asset, offer.extra["name"], offer.extra["version"])
    return {
        "x402Version": 2,
        "accepted": offer.to_v2(),
        "payload": {"signature": "0x" + sign_typed(account, message).hex(), "authorization": exact.authorization_json(auth)},
    }


def decode(value: str) -> dict[str, Any]:
    """A header value decoded strictly: standard padded base64 of a JSON object."""
    raw = base64.b64decode(value, validate=True)
    assert base64.b64encode(raw).decode() == value, "not canonical standard base64"
    obj = json.loads(raw)
    assert isinstance(obj, dict)
    return obj


class Gate:
    """A running node's gateway, seen from outside: HTTP, offers, signed payments, chain probes."""

    def __init__(self, node: RunningNode) -> None:
        self.node = node
        info = node.call("gateway.info")
        self.url: str = info["listening"][0]
        self.facilitator: str = info["facilitator"]
        self.wallet: str = node.call("wallet.info")["address"]
        chain = node.call("chain.info")
        self.network: str = chain["network"]
        self.chain_id: int = chain["chain_id"]
        self.token: str = chain["contracts"]["token"]
        self.token_name: str = chain["token"]["name"]
        self.token_version: str = chain["token"]["version"]
        self.http = httpx.Client(base_url=self.url, timeout=120)

    def close(self) -> None:
        self.http.close()

    # -- the chain, through the node --------------------------------------------------

    def balance(self, address: str) -> int:
        return int(self.node.call("paidtest.balance", address=address))

    def txcount(self, address: str | None = None) -> int:
        """Transactions sent by `address` (the facilitator by default), pending ones included."""
        return int(self.node.call("paidtest.txcount", address=address or self.facilitator))

    def receipt(self, tx: str) -> dict[str, Any] | None:
        return self.node.call("paidtest.receipt", tx=tx)  # type: ignore[no-any-return]

    def runs(self, path: str) -> int:
        return int(self.node.call("paidtest.runs").get(path, 0))

    def payer(self, amount: int = 10 * PRICE) -> LocalAccount:
        """A fresh account holding `amount` token units and some gas (none at all when amount is 0)."""
        account = Account.create()
        if amount:
            self.node.call("chain.faucet", address=account.address, amount=amount)
        return account

    # -- x402 -------------------------------------------------------------------------

    def required(self, path: str = "/paid/joke") -> dict[str, Any]:
        response = self.http.request("POST" if path == "/paid/echo" else "GET", path)
        assert response.status_code == 402, response.text
        return decode(response.headers["payment-required"])

    def offer(self, path: str = "/paid/joke") -> Offer:
        return parse_offer(self.required(path)["accepts"][0], 2)

    def payment(self, account: LocalAccount, path: str = "/paid/joke", **kwargs: Any) -> dict[str, Any]:
        """A v2 PaymentPayload signed by `account` for the route's offer (kwargs go to sign_payment)."""
        return sign_payment(account, self.offer(path), int(time.time()), **kwargs)

    def header(self, account: LocalAccount, path: str = "/paid/joke", **kwargs: Any) -> str:
        return encode_header(self.payment(account, path, **kwargs))

    def pay(self, header: str, path: str = "/paid/joke", method: str = "GET", name: str = "PAYMENT-SIGNATURE", **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers={name: header, **kwargs.pop("headers", {})}, **kwargs)


def start_node(home: Path, chain: dict[str, Any] | None = None, gateway: dict[str, Any] | None = None) -> RunningNode:
    """A node with chain, identity, gateway and the paidtest drop-in, its gateway on a free port."""
    (home / "plugins").mkdir(parents=True, exist_ok=True)
    (home / "plugins" / "paidtest.py").write_text(PAIDTEST)
    config = {
        "plugin": {
            "identity": dict(FAST_KEYS),
            "gateway": {"port": 0, "max_body": 64 * 1024, **(gateway or {})},
            "chain": dict(chain or {}),
        }
    }
    node = RunningNode(home, plugins=("chain", "identity", "gateway", "paidtest"), config=config).start()
    states = {p["name"]: (p["state"], p["reason"]) for p in node.call("plugins.list")}
    if any(states.get(name, ("", ""))[0] != "running" for name in ("chain", "identity", "gateway", "paidtest")):
        node.stop()
        raise RuntimeError(f"the test node did not start: {states}")
    return node


class Pool:
    """At most one live test node per process, started on demand and reused while tests ask for the same kind.

    Two nodes in one process share the built-in plugins' module state (`_state` of chain, gateway...),
    so a second node would redirect the first one's RPC methods to its own chain.
    """

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self.tmp = tmp
        self.key: str = ""
        self.gate: Gate | None = None

    def get(self, key: str, chain: dict[str, Any] | None = None, gateway: dict[str, Any] | None = None) -> Gate:
        if self.gate is not None and self.key == key:
            return self.gate
        self.close()
        self.gate, self.key = Gate(start_node(self.tmp.mktemp("gw"), chain, gateway)), key
        return self.gate

    def close(self) -> None:
        if self.gate is not None:
            self.gate.close()
            self.gate.node.stop()
            self.gate, self.key = None, ""


@pytest.fixture(scope="session")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    nodes = Pool(tmp_path_factory)
    yield nodes
    nodes.close()


@pytest.fixture(scope="module")
def gate_factory(tmp_path_factory: pytest.TempPathFactory, pool: Pool) -> Iterator[Callable[..., Gate]]:
    """Start extra gateway nodes for one module: `gate_factory(chain={...}, gateway={...})`; all stop after it.

    Beware: nodes alive together in one process share the built-in plugins' module state (see Pool),
    so prefer the pooled fixtures (`inproc`, `on_anvil`, ...) unless a test needs two nodes at once.
    """
    started: list[Gate] = []

    def start(chain: dict[str, Any] | None = None, gateway: dict[str, Any] | None = None) -> Gate:
        gate = Gate(start_node(tmp_path_factory.mktemp("gw"), chain, gateway))
        started.append(gate)
        return gate

    yield start
    for gate in started:
        gate.close()
        gate.node.stop()
    # A stopped node clears the module state it shares with the pooled node: start that one afresh.
    pool.close()


@pytest.fixture
def inproc(pool: Pool) -> Gate:
    """A gateway node on the in-process (eth-tester) chain, reused by consecutive tests."""
    return pool.get("inproc")


@pytest.fixture
def on_anvil(pool: Pool, anvil_chain: Anvil) -> Gate:
    """A gateway node on the session's anvil chain (id 31337)."""
    return pool.get("anvil", chain={"url": anvil_chain.url})


@pytest.fixture
def v1_gate(pool: Pool, base_sepolia: Anvil) -> Gate:
    """A gateway node on an anvil chain with Base Sepolia's id (84532), which has a v1 name."""
    return pool.get("base-sepolia", chain={"url": base_sepolia.url})


@pytest.fixture
def slow_receipts(pool: Pool, anvil_chain: Anvil) -> Gate:
    """A node on the session anvil whose receipt wait gives up after one second."""
    return pool.get("anvil-slow", chain={"url": anvil_chain.url, "receipt_timeout": 1.0})


@pytest.fixture(scope="session")
def base_sepolia() -> Iterator[Anvil]:
    """An anvil chain with Base Sepolia's chain id (84532), the one chain here that has a v1 name."""
    try:
        chain = Anvil(chain_id=84532).start()
    except AnvilUnavailable as exc:
        pytest.fail(str(exc))
    yield chain
    chain.stop()


# -- the official x402 SDK's side ---------------------------------------------------------------


def sdk_client(gate: Gate, account: Any, sync: bool = False) -> Any:
    """The official client with the one opt-in it needs for a token outside its default table."""
    from x402 import x402Client, x402ClientSync
    from x402.mechanisms.evm import EthAccountSigner
    from x402.mechanisms.evm.exact import register_exact_evm_client

    client = x402ClientSync() if sync else x402Client()
    register_exact_evm_client(client, EthAccountSigner(account))
    client.set_spend_controls({"allowed_assets": [{"network": gate.network, "asset": gate.token}]})
    return client


def weather_app(routes: dict[str, Any], server: Any) -> Any:
    """A FastAPI app behind the SDK's `payment_middleware` with one route, GET /weather -> {"weather": "sunny"}."""
    from fastapi import FastAPI, Request
    from x402.http.middleware.fastapi import payment_middleware

    app = FastAPI()
    middleware = payment_middleware(routes, server)

    @app.middleware("http")
    async def x402(request: Request, call_next: Any) -> Any:
        return await middleware(request, call_next)

    @app.get("/weather")
    async def weather() -> dict[str, str]:
        return {"weather": "sunny"}

    return app


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """`app` under uvicorn in a thread, on a loopback port the OS picks while binding; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), "uvicorn to start")
    assert server.started, "uvicorn exited before serving"
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextlib.contextmanager
def sdk_seller(node: RunningNode, rpc_url: str, price: int, token: str, name: str, version: str) -> Iterator[tuple[str, str]]:
    """The x402 SDK's FastAPI middleware and SDK facilitator on `rpc_url`, charging `price` of `token` for GET /weather: (URL, payTo)."""
    from x402 import x402Facilitator, x402ResourceServer
    from x402.mechanisms.evm import FacilitatorWeb3Signer
    from x402.mechanisms.evm.exact import register_exact_evm_facilitator, register_exact_evm_server

    key = Account.create()
    node.call("chain.faucet", address=key.address, amount=1)  # gas for the facilitator's settlements
    facilitator = x402Facilitator()
    register_exact_evm_facilitator(facilitator, FacilitatorWeb3Signer("0x" + key.key.hex(), rpc_url), networks="eip155:31337")
    server = register_exact_evm_server(x402ResourceServer(facilitator), "eip155:31337")
    pay_to = Account.create().address
    accepts = {"scheme": "exact", "network": "eip155:31337", "payTo": pay_to,
               "price": {"amount": str(price), "asset": token, "extra": {"name": name, "version": version}}}
    with serving(weather_app({"GET /weather": {"accepts": accepts, "description": "Weather"}}, server)) as url:
        yield url + "/weather", pay_to
