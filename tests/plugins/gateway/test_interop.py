"""Interop with the official x402 Python SDK (2.25): its clients pay our gateway, its resource server uses our facilitator.

Checklist: 3 (httpx + requests clients, in-process chain and anvil), 18 first half (official resource
server + HTTPFacilitatorClient -> our /facilitator), 19 (Transfer log), 22 (v1 mode on base-sepolia).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from x402 import x402Client, x402ResourceServer
from x402.http import FacilitatorConfig, HTTPFacilitatorClient, x402HTTPClient
from x402.http.clients.httpx import x402_httpx_transport
from x402.http.clients.requests import x402_requests
from x402.mechanisms.evm import EthAccountSigner
from x402.mechanisms.evm.exact import register_exact_evm_client, register_exact_evm_server
from x402.schemas import PaymentRequiredV1

from tests.plugins.gateway.conftest import PRICE, Gate, decode, sdk_client, serving, weather_app

TX_HASH = re.compile(r"0x[0-9a-f]{64}")


def before_paying(gate: Gate, payer: LocalAccount, pay_to: str | None = None) -> tuple[int, int, int]:
    """What check_paid compares against: the payer's and payee's balances and the facilitator's tx count."""
    return gate.balance(payer.address), gate.balance(pay_to or gate.wallet), gate.txcount()


def async_get(client: Any, url: str, transport: httpx.AsyncHTTPTransport | None = None) -> tuple[httpx.Response, Any]:
    """GET `url` through the SDK's async httpx transport; the response and the SDK's reading of PAYMENT-RESPONSE."""

    async def get() -> tuple[httpx.Response, Any]:
        async with httpx.AsyncClient(transport=x402_httpx_transport(client, transport), timeout=120) as http:
            response = await http.get(url)
            await response.aread()
            return response, x402HTTPClient(client).get_payment_settle_response(response.headers.get)

    return asyncio.run(get())


def sync_client_pays(gate: Gate) -> tuple[requests.Response, LocalAccount]:
    """A fresh payer buys /paid/joke with x402ClientSync + x402_requests; checked as paid, returned with its payer."""
    payer = gate.payer()
    before = before_paying(gate, payer)
    with x402_requests(sdk_client(gate, payer, sync=True)) as session:
        response = session.get(gate.url + "/paid/joke", timeout=120)
    settle = x402HTTPClient(x402Client()).get_payment_settle_response(response.headers.get)
    check_paid(gate, response.status_code, response.text, settle, payer, before)
    return response, payer


def check_paid(gate: Gate, response_status: int, body: Any, settle: Any, payer: Any, before: tuple[int, int, int], pay_to: str | None = None) -> None:
    """200, PAYMENT-RESPONSE success with a 32-byte hash, one Transfer(payer -> payTo, PRICE) from the token, exact balances."""
    pay_to = pay_to or gate.wallet
    assert response_status == 200, body
    assert settle.success is True
    assert TX_HASH.fullmatch(settle.transaction)
    assert settle.network == gate.network
    assert settle.payer == payer.address
    receipt = gate.receipt(settle.transaction)
    assert receipt is not None and receipt["status"] == 1
    assert receipt["transfers"] == [{"address": gate.token, "from": payer.address, "to": pay_to, "value": PRICE}]
    assert gate.balance(payer.address) == before[0] - PRICE
    assert gate.balance(pay_to) == before[1] + PRICE
    assert gate.txcount() == before[2] + 1


@pytest.fixture(params=["inproc", "on_anvil"])
def gate(request: pytest.FixtureRequest) -> Gate:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def test_official_async_httpx_client_pays(gate: Gate) -> None:
    """3: x402Client + x402_httpx_transport pays end to end."""
    payer = gate.payer()
    before = before_paying(gate, payer)
    client = sdk_client(gate, payer)
    sent: list[httpx.Request] = []

    class Recording(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return await super().handle_async_request(request)

    response, settle = async_get(client, gate.url + "/paid/joke", Recording())
    check_paid(gate, response.status_code, response.text, settle, payer, before)
    assert response.json()["payer"] == payer.address
    # The client's second request carried PAYMENT-SIGNATURE; replaying it is refused (10, via the SDK's own header).
    header = sent[-1].headers["payment-signature"]
    runs = gate.runs("/paid/joke")
    replay = gate.pay(header)
    assert replay.status_code == 402
    assert decode(replay.headers["payment-required"])["error"] == "invalid_exact_evm_nonce_already_used"
    assert gate.runs("/paid/joke") == runs


def test_official_sync_requests_client_pays(gate: Gate) -> None:
    """3: x402ClientSync + x402_requests pays end to end."""
    response, payer = sync_client_pays(gate)
    assert response.json()["payer"] == payer.address


def test_official_client_refuses_our_token_without_the_opt_in(inproc: Gate) -> None:
    """4.3: without the spend-controls opt-in the stock client pays nothing (and nothing moves)."""
    payer = inproc.payer()
    runs, sent = inproc.runs("/paid/joke"), inproc.txcount()
    client = x402Client()
    register_exact_evm_client(client, EthAccountSigner(payer))

    async def pay() -> int:
        async with httpx.AsyncClient(transport=x402_httpx_transport(client)) as http:
            try:
                return (await http.get(inproc.url + "/paid/joke")).status_code
            except Exception:
                return -1

    assert asyncio.run(pay()) in (402, -1)  # the SDK may refuse by raising or by handing back the 402
    assert inproc.balance(payer.address) == 10 * PRICE
    assert inproc.runs("/paid/joke") == runs and inproc.txcount() == sent


# -- 18: the official resource server, settling through our facilitator over HTTP ----------------------


@pytest.fixture
def sdk_server(inproc: Gate) -> Iterator[tuple[str, str]]:
    """A FastAPI app with the SDK's payment middleware whose facilitator is our node; (url, payTo)."""
    pay_to = Account.create().address
    server = x402ResourceServer(HTTPFacilitatorClient(FacilitatorConfig(url=inproc.url + "/facilitator")))
    register_exact_evm_server(server)
    routes = {
        "GET /weather": {
            "accepts": {
                "scheme": "exact",
                "network": inproc.network,
                "payTo": pay_to,
                "price": {"amount": str(PRICE), "asset": inproc.token, "extra": {"name": inproc.token_name, "version": inproc.token_version}},
            },
            "description": "weather",
        }
    }
    with serving(weather_app(routes, server)) as url:
        yield url, pay_to


def test_official_resource_server_settles_through_our_facilitator(inproc: Gate, sdk_server: tuple[str, str]) -> None:
    """18 (first half), 16: the SDK server loads our /supported, verifies and settles through our node."""
    url, pay_to = sdk_server
    unpaid = httpx.get(url + "/weather")
    assert unpaid.status_code == 402 and decode(unpaid.headers["payment-required"])["accepts"][0]["payTo"] == pay_to
    payer = inproc.payer()
    before = before_paying(inproc, payer, pay_to)
    response, settle = async_get(sdk_client(inproc, payer), url + "/weather")
    check_paid(inproc, response.status_code, response.text, settle, payer, before, pay_to=pay_to)
    assert response.json() == {"weather": "sunny"}


# -- 22: v1 mode on a chain with a v1 name ---------------------------------------------------------------


def test_v1_body_on_a_chain_with_a_v1_name(v1_gate: Gate) -> None:
    """22: the 402 body is a v1 PaymentRequirementsResponse; the header stays v2."""
    response = v1_gate.http.get("/paid/joke")
    assert response.status_code == 402
    body = response.json()
    assert body["x402Version"] == 1 and isinstance(body["error"], str)
    [req] = body["accepts"]
    assert req["network"] == "base-sepolia"
    assert req["maxAmountRequired"] == str(PRICE)
    assert req["resource"] == v1_gate.url + "/paid/joke"
    assert req["description"] == "A joke"
    assert req["asset"] == v1_gate.token and req["payTo"] == v1_gate.wallet
    assert req["extra"] == {"name": v1_gate.token_name, "version": v1_gate.token_version}
    PaymentRequiredV1.model_validate(body)  # the SDK's own model accepts it
    header = decode(response.headers["payment-required"])
    assert header["x402Version"] == 2 and header["accepts"][0]["network"] == "eip155:84532"


def test_v1_payment_by_the_official_client_with_x_payment(v1_gate: Gate) -> None:
    """22: the SDK's v1 scheme signs from the v1 body; X-PAYMENT pays; X-PAYMENT-RESPONSE comes back."""
    payer = v1_gate.payer()
    before = before_paying(v1_gate, payer)
    client = sdk_client(v1_gate, payer)
    client.set_spend_controls({"allowed_assets": [{"network": "base-sepolia", "asset": v1_gate.token}, {"network": v1_gate.network, "asset": v1_gate.token}]})
    http_client = x402HTTPClient(client)
    body = v1_gate.http.get("/paid/joke").json()
    required = http_client.get_payment_required_response(lambda name: None, body)
    assert required.x402_version == 1
    payload = asyncio.run(client.create_payment_payload(required))
    headers = http_client.encode_payment_signature_header(payload)
    assert set(headers) == {"X-PAYMENT"}
    runs = v1_gate.runs("/paid/joke")
    response = v1_gate.http.get("/paid/joke", headers=headers)
    assert response.status_code == 200, response.text
    assert "payment-response" not in response.headers
    settle = decode(response.headers["x-payment-response"])
    assert settle["success"] is True and TX_HASH.fullmatch(settle["transaction"]) and settle["payer"] == payer.address
    sdk_settle = http_client.get_payment_settle_response(response.headers.get)
    assert sdk_settle.success and sdk_settle.transaction == settle["transaction"]
    receipt = v1_gate.receipt(settle["transaction"])
    assert receipt["transfers"] == [{"address": v1_gate.token, "from": payer.address, "to": v1_gate.wallet, "value": PRICE}]
    assert v1_gate.balance(payer.address) == before[0] - PRICE
    assert v1_gate.balance(v1_gate.wallet) == before[1] + PRICE
    assert v1_gate.txcount() == before[2] + 1
    assert v1_gate.runs("/paid/joke") == runs + 1
    # Replayed over X-PAYMENT: a 402 with the v1 body, no run.
    replay = v1_gate.http.get("/paid/joke", headers=headers)
    assert replay.status_code == 402 and replay.json()["x402Version"] == 1
    assert v1_gate.runs("/paid/joke") == runs + 1


def test_v2_clients_still_pay_on_a_v1_chain(v1_gate: Gate) -> None:
    """22/3: the official client reads the v2 header first and pays with PAYMENT-SIGNATURE."""
    response, payer = sync_client_pays(v1_gate)
    assert response.json()["payer"] == payer.address
    assert "x-payment-response" not in response.headers
