"""The seed's tempo-tip20 dialect served by the paywall, over real HTTP on a node with the in-process chain.

The node offers both schemes (`schemes = ["exact", "tempo-tip20"]`). Payers `approve` the
facilitator through a drop-in probe plugin, since the chain lives inside the node.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from x402.http.clients.requests import x402_requests

from colony.plugins.gateway import exact, tip20
from colony.plugins.gateway.wire import Offer, encode_header
from colony.plugins.identity.keys import Signer
from colony.testing import RunningNode

from tests.plugins.conftest import FAST_KEYS
from tests.plugins.gateway.conftest import PAIDTEST, PRICE, Gate, Pool, decode, sdk_client
from tests.plugins.gateway.test_interop import async_get
from tests.plugins.gateway.test_paywall import unchanged

PROBE = '''
"""tip20probe: a payer's `approve`, signed with its key, and allowances, on the node's chain."""
from eth_account import Account
from colony.core import Manifest, Registrar

PLUGIN = Manifest(name="tip20probe", version="0.1.0", requires=("chain",))
STATE: dict = {}


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("tip20probe.approve", approve)
    registrar.rpc("tip20probe.allowance", allowance)


async def colony_start(ctx) -> None:
    STATE["chain"] = ctx.service("chain")


async def approve(key: str, spender: str, amount: int) -> None:
    chain = STATE["chain"]
    await chain.send(Account.from_key(key), chain.contract("token").functions.approve(spender, amount), gas=100_000)


async def allowance(owner: str, spender: str) -> int:
    return int(await STATE["chain"].call("token", "allowance", owner, spender))
'''
PLUGINS = ("chain", "identity", "gateway", "paidtest", "tip20probe")


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory, pool: Pool) -> Iterator[Gate]:
    """A node offering exact and tempo-tip20 on the in-process chain (the pooled node steps aside: one per process)."""
    pool.close()
    home = tmp_path_factory.mktemp("tip20")
    (home / "plugins").mkdir()
    (home / "plugins" / "paidtest.py").write_text(PAIDTEST)
    (home / "plugins" / "tip20probe.py").write_text(PROBE)
    gateway = {"port": 0, "max_body": 64 * 1024, "schemes": ["exact", "tempo-tip20"]}
    node = RunningNode(home, plugins=PLUGINS, config={"plugin": {"identity": dict(FAST_KEYS), "gateway": gateway}}).start()
    gate = Gate(node)
    yield gate
    gate.close()
    node.stop()


# -- helpers -------------------------------------------------------------------------------------


def seed_offer(gate: Gate, path: str = "/paid/joke") -> Offer:
    """The route's tempo-tip20 offer, read from the 402 body as the seed's client reads it."""
    response = gate.http.request("POST" if path == "/paid/echo" else "GET", path)
    assert response.status_code == 402, response.text
    [entry] = [e for e in response.json()["accepts"] if e["scheme"] == tip20.SCHEME]
    return Offer(entry["scheme"], entry["network"], int(entry["amount"]), entry["asset"], entry["payTo"], entry["maxTimeoutSeconds"])


def signed(account: LocalAccount, offer: Offer, **changes: Any) -> dict[str, Any]:
    """A tempo-tip20 payment for `offer` from `account`; `changes` alter the authorization before it is signed."""
    payment = tip20.parse(tip20.sign(Signer(account, "payer"), offer, int(time.time())))
    auth = dataclasses.replace(payment.authorization, **changes)
    return tip20.payment_json(tip20.Tip20Payload(auth, exact.sign_typed(account, tip20.typed_data(auth, int(offer.network.split(":")[1])))))


def header(gate: Gate, account: LocalAccount, path: str = "/paid/joke", **changes: Any) -> str:
    return encode_header(signed(account, seed_offer(gate, path), **changes))


def approve(gate: Gate, account: LocalAccount, amount: int) -> None:
    gate.node.call("tip20probe.approve", key=account.key.hex(), spender=gate.facilitator, amount=amount)


def allowance(gate: Gate, account: LocalAccount) -> int:
    return int(gate.node.call("tip20probe.allowance", owner=account.address, spender=gate.facilitator))


def payer(gate: Gate, amount: int = 10 * PRICE, allowed: int = 10 * PRICE) -> LocalAccount:
    """A funded account that has approved the facilitator for `allowed` units."""
    account = gate.payer(amount)
    if allowed:
        approve(gate, account, allowed)
    return account


def error_of(response: httpx.Response) -> str:
    """The `error` of a refusal, which says the same in the header and the seed-style body."""
    assert response.status_code == 402, (response.status_code, response.text)
    error = str(decode(response.headers["payment-required"]).get("error", ""))
    body = response.json()
    if body:  # a failed settlement withholds the body
        assert body["error"] == error and body["x402Version"] == 1
    return error


# -- the offer -----------------------------------------------------------------------------------


def test_the_402_offers_tempo_tip20_in_the_seed_body_and_both_schemes_in_the_header(seed: Gate) -> None:
    """The body is the seed's PaymentRequiredBody; PAYMENT-REQUIRED still leads with the standard exact offer."""
    response = seed.http.get("/paid/joke")
    assert response.status_code == 402
    assert response.headers["content-type"] == "application/json" and response.headers["cache-control"] == "no-store"
    entry = {
        "scheme": "tempo-tip20", "network": seed.network, "price": "$0.001", "asset": seed.token, "amount": str(PRICE),
        "payTo": seed.wallet, "maxTimeoutSeconds": tip20.MAX_OFFER_TIMEOUT, "description": "A joke", "facilitatorAddress": seed.facilitator,
    }
    assert response.json() == {"x402Version": 1, "accepts": [entry], "description": "A joke"}
    required = decode(response.headers["payment-required"])
    assert required["x402Version"] == 2 and required["resource"]["url"] == seed.url + "/paid/joke"
    standard, dialect = required["accepts"]
    assert standard == {
        "scheme": "exact", "network": seed.network, "amount": str(PRICE), "asset": seed.token, "payTo": seed.wallet,
        "maxTimeoutSeconds": 300, "extra": {"name": seed.token_name, "version": seed.token_version},
    }
    assert dialect == {
        "scheme": "tempo-tip20", "network": seed.network, "amount": str(PRICE), "asset": seed.token, "payTo": seed.wallet,
        "maxTimeoutSeconds": tip20.MAX_OFFER_TIMEOUT, "extra": {"facilitatorAddress": seed.facilitator},
    }
    # The seed's client signs validAfter = now - 60 and validBefore = now + maxTimeoutSeconds: within the seed's cap.
    assert tip20.SIGN_BACKDATE + tip20.MAX_OFFER_TIMEOUT <= tip20.MAX_WINDOW


# -- paying ----------------------------------------------------------------------------------------


def test_a_tip20_payment_is_served_settled_and_logged(seed: Gate) -> None:
    """200 with the seed's PAYMENT-RESPONSE; one Transfer(payer -> wallet, price) by transferFrom; the allowance is spent."""
    account = payer(seed)
    before = (seed.balance(account.address), seed.balance(seed.wallet), seed.txcount(), seed.runs("/paid/joke"))
    heard = len(seed.node.call("paidtest.settled"))
    response = seed.pay(header(seed, account))
    assert response.status_code == 200, response.text
    assert response.json()["payer"] == account.address
    settled = decode(response.headers["payment-response"])
    assert settled == {"success": True, "transaction": settled["transaction"], "network": seed.network, "payer": account.address}
    assert re.fullmatch(r"0x[0-9a-f]{64}", settled["transaction"])
    receipt = seed.receipt(settled["transaction"])
    assert receipt is not None and receipt["status"] == 1
    assert receipt["transfers"] == [{"address": seed.token, "from": account.address, "to": seed.wallet, "value": PRICE}]
    assert seed.balance(account.address) == before[0] - PRICE
    assert seed.balance(seed.wallet) == before[1] + PRICE
    assert seed.txcount() == before[2] + 1
    assert seed.runs("/paid/joke") == before[3] + 1
    assert allowance(seed, account) == 9 * PRICE
    [receipt_heard] = seed.node.call("paidtest.settled")[heard:]
    assert receipt_heard["transaction"] == settled["transaction"] and receipt_heard["amount"] == PRICE


def test_exact_payments_work_beside_it(seed: Gate) -> None:
    """Official clients are unaffected: the exact offer still comes first and pays as before."""
    account = seed.payer()
    response = seed.pay(seed.header(account))
    assert response.status_code == 200, response.text
    assert decode(response.headers["payment-response"])["success"] is True
    assert seed.balance(account.address) == 9 * PRICE


def test_the_official_sdk_clients_ignore_the_tip20_offer_and_pay_exact(seed: Gate) -> None:
    """The v2 header's second, unknown-scheme offer neither breaks the SDK's parsing nor gets chosen."""
    for sync in (False, True):
        account = seed.payer()
        if sync:
            with x402_requests(sdk_client(seed, account, sync=True)) as session:
                status = session.get(seed.url + "/paid/joke", timeout=120).status_code
        else:
            status = async_get(sdk_client(seed, account), seed.url + "/paid/joke")[0].status_code
        assert status == 200
        assert seed.balance(account.address) == 9 * PRICE


def test_settle_first_and_post_routes_take_tip20(seed: Gate) -> None:
    """A settle-first route runs its handler after the transfer mined; a POST body reaches a paid handler."""
    account = payer(seed)
    first = seed.pay(header(seed, account, "/paid/first"), "/paid/first")
    assert first.status_code == 200, first.text
    assert first.json()["settled_before_me"] == decode(first.headers["payment-response"])["transaction"]
    echoed = seed.pay(header(seed, account, "/paid/echo"), "/paid/echo", method="POST", content=b"hello seed")
    assert echoed.status_code == 200 and echoed.content == b"hello seed"
    assert seed.balance(account.address) == 8 * PRICE


def test_overpaying_is_accepted_and_charges_the_signed_value(seed: Gate) -> None:
    """The seed accepts value >= amount and transfers what the payer signed."""
    account = payer(seed)
    response = seed.pay(header(seed, account, value=PRICE + 1))
    assert response.status_code == 200, response.text
    assert seed.balance(account.address) == 9 * PRICE - 1


# -- allowance and balance -------------------------------------------------------------------------


@pytest.mark.parametrize(("funds", "allowed", "reason"), [
    (10 * PRICE, 0, "insufficient_allowance"),
    (10 * PRICE, PRICE - 1, "insufficient_allowance"),
    (PRICE - 1, 10 * PRICE, "insufficient_funds"),
])
def test_a_payer_that_cannot_pay_gets_a_clear_402_and_nothing_moves(seed: Gate, funds: int, allowed: int, reason: str) -> None:
    """No (or too little) allowance for the facilitator, or too little money: 402 with the reason, no run, no transaction."""
    account = payer(seed, funds, allowed)
    runs = seed.runs("/paid/joke")
    value = header(seed, account)
    assert error_of(unchanged(seed, account, lambda: seed.pay(value))) == reason
    assert seed.runs("/paid/joke") == runs
    # Nothing was claimed: once the payer approves, the same signed payment pays.
    approve(seed, account, 10 * PRICE)
    seed.node.call("chain.faucet", address=account.address, amount=PRICE)
    assert seed.pay(value).status_code == 200


# -- replay and concurrency --------------------------------------------------------------------------


def test_sequential_replay_is_refused_and_the_handler_does_not_run(seed: Gate) -> None:
    """The same tip20 header again, on any priced route: 402 nonce used, no run, no transaction."""
    account = payer(seed)
    value = header(seed, account)
    assert seed.pay(value).status_code == 200
    runs = seed.runs("/paid/joke")
    for name in ("PAYMENT-SIGNATURE", "payment-signature"):
        response = unchanged(seed, account, lambda: seed.pay(value, name=name))
        assert error_of(response) == tip20.NONCE_USED
        assert "payment-response" not in response.headers
    assert error_of(unchanged(seed, account, lambda: seed.pay(value, "/paid/first"))) == tip20.NONCE_USED
    assert seed.runs("/paid/joke") == runs
    assert seed.balance(account.address) == 9 * PRICE


def test_twenty_concurrent_copies_of_one_payment_pay_once(seed: Gate) -> None:
    """20 identical tip20 payments at once: one 200, one handler run, one transferFrom, one charge."""
    account = payer(seed)
    value = header(seed, account)
    runs, sent, wallet = seed.runs("/paid/joke"), seed.txcount(), seed.balance(seed.wallet)
    barrier = threading.Barrier(20)

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=seed.url, timeout=120) as client:
            barrier.wait()  # all 20 connections are open before any payment goes out
            return client.get("/paid/joke", headers={"PAYMENT-SIGNATURE": value})

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    assert sorted(r.status_code for r in results) == [200] + [402] * 19
    assert all(error_of(r) == tip20.NONCE_USED for r in results if r.status_code == 402)
    assert seed.runs("/paid/joke") == runs + 1
    assert seed.txcount() == sent + 1
    assert seed.balance(account.address) == 9 * PRICE
    assert seed.balance(seed.wallet) == wallet + PRICE


# -- failures ------------------------------------------------------------------------------------------


def test_a_failed_transfer_from_never_frees_the_nonce(seed: Gate) -> None:
    """The payer empties its balance between verify and settle: the transfer reverts, no content, and that signed
    payment can never pay again, even funded; there is never a second transferFrom for it."""
    account = payer(seed, PRICE)
    wallet, sent = seed.balance(seed.wallet), seed.txcount()
    value = header(seed, account, "/paid/drain")
    response = seed.pay(value, "/paid/drain", headers={"x-drain-key": account.key.hex()})
    assert response.status_code == 402 and response.json() == {}
    settled = decode(response.headers["payment-response"])
    assert settled["success"] is False and settled["errorReason"] == "transaction_failed" and settled["payer"] == account.address
    receipt = seed.receipt(settled["transaction"])
    assert receipt is not None and receipt["status"] == 0 and receipt["transfers"] == []
    assert seed.txcount() == sent + 1
    seed.node.call("chain.faucet", address=account.address, amount=PRICE)
    for path in ("/paid/drain", "/paid/joke", "/paid/first"):
        assert error_of(unchanged(seed, account, lambda: seed.pay(value, path))) == tip20.NONCE_USED
    assert seed.balance(seed.wallet) == wallet and seed.balance(account.address) == PRICE


@pytest.mark.parametrize("path", ["/paid/status/400", "/paid/status/500", "/paid/boom"])
def test_a_failing_handler_charges_nothing(seed: Gate, path: str) -> None:
    """A handler answering >= 400 (or raising): its status goes out, nothing is settled or claimed."""
    account = payer(seed)
    value = header(seed, account, path)
    response = unchanged(seed, account, lambda: seed.pay(value, path))
    assert response.status_code == (500 if path == "/paid/boom" else int(path.rsplit("/", 1)[1]))
    assert "payment-response" not in response.headers
    assert seed.pay(value).status_code == 200  # never claimed, so it still pays for a working route
    assert seed.balance(account.address) == 9 * PRICE


# -- signed terms, chain and domain ------------------------------------------------------------------------


def _domain_forged(account: LocalAccount, offer: Offer, **domain: Any) -> dict[str, Any]:
    """A payment signed over a different EIP-712 domain (name, version, chainId or verifyingContract)."""
    auth = tip20.parse(signed(account, offer)).authorization
    message = tip20.typed_data(auth, int(offer.network.split(":")[1]))
    message["domain"].update(domain)
    return tip20.payment_json(tip20.Tip20Payload(auth, exact.sign_typed(account, message)))


def _claimed_by(account: LocalAccount, payment: dict[str, Any]) -> dict[str, Any]:
    """Another signer's payment with `from` rewritten to `account`."""
    payment["payload"]["from"] = account.address
    return payment


@pytest.mark.parametrize("case", [
    "chain_id", "domain_name", "domain_version", "verifying_contract", "other_signer", "other_token",
    "other_recipient", "underpaid", "zero_value", "self_payment", "expired", "not_yet_valid", "window_too_wide",
])
def test_wrong_terms_chain_or_domain_are_refused_with_their_reason(seed: Gate, case: str) -> None:
    """Each of the seed's verify rules, on a funded and approved payer: 402 with the reason, nothing moves."""
    account = payer(seed)
    offer = seed_offer(seed)
    now = int(time.time())
    other = Account.create()
    cases: dict[str, tuple[Any, str]] = {
        "chain_id": (lambda: _domain_forged(account, offer, chainId=42431), "invalid_tip20_signature"),
        "domain_name": (lambda: _domain_forged(account, offer, name=seed.token_name), "invalid_tip20_signature"),
        "domain_version": (lambda: _domain_forged(account, offer, version="2"), "invalid_tip20_signature"),
        "verifying_contract": (lambda: _domain_forged(account, offer, verifyingContract=other.address), "invalid_tip20_signature"),
        "other_signer": (lambda: _claimed_by(account, signed(other, offer)), "invalid_tip20_signature"),
        "other_token": (lambda: signed(account, offer, token=other.address), "invalid_tip20_token_mismatch"),
        "other_recipient": (lambda: signed(account, offer, receiver=other.address), "invalid_tip20_recipient_mismatch"),
        "underpaid": (lambda: signed(account, offer, value=PRICE - 1), "invalid_tip20_value"),
        "zero_value": (lambda: signed(account, offer, value=0), "invalid_tip20_value"),
        "self_payment": (lambda: signed(account, offer, receiver=account.address), "invalid_tip20_self_payment"),
        "expired": (lambda: signed(account, offer, valid_after=now - 100, valid_before=now - 1), "invalid_tip20_valid_before"),
        "not_yet_valid": (lambda: signed(account, offer, valid_after=now + 60, valid_before=now + 120), "invalid_tip20_valid_after"),
        # TS-style clients backdate by 600 s: over the seed's 300 s window cap.
        "window_too_wide": (lambda: signed(account, offer, valid_after=now - 600), "invalid_tip20_window"),
    }
    build, reason = cases[case]
    runs = seed.runs("/paid/joke")
    assert error_of(unchanged(seed, account, lambda: seed.pay(encode_header(build())))) == reason
    assert seed.runs("/paid/joke") == runs


def test_an_exact_payment_naming_the_tip20_offer_matches_nothing(seed: Gate) -> None:
    """A v2 exact payment whose `accepted` copies the tempo-tip20 offer is refused before any facilitator work."""
    account = payer(seed)
    copied = seed.payment(account)
    copied["accepted"] = decode(seed.http.get("/paid/joke").headers["payment-required"])["accepts"][1]
    assert error_of(unchanged(seed, account, lambda: seed.pay(encode_header(copied)))) == "No matching payment requirements"


# -- malformed headers ------------------------------------------------------------------------------------------


def _b64(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def _malformed(good: dict[str, Any]) -> dict[str, Any]:
    """Broken variants of a good tip20 payment, by name."""
    payload = good["payload"]
    cases: dict[str, Any] = {
        "version_2": {**good, "x402Version": 2},
        "version_true": {**good, "x402Version": True},
        "no_payload": {"x402Version": 1},
        "payload_list": {"x402Version": 1, "payload": [payload]},
        "payload_string": {"x402Version": 1, "payload": "x"},
        "value_number": {**good, "payload": {**payload, "value": int(payload["value"])}},
        "valid_after_string": {**good, "payload": {**payload, "validAfter": str(payload["validAfter"])}},
    }
    for key in FIELDS:
        cases[f"missing_{key}"] = {**good, "payload": {k: v for k, v in payload.items() if k != key}}
        cases[f"null_{key}"] = {**good, "payload": {**payload, key: None}}
    for name, (key, value) in BROKEN.items():
        cases[name] = {**good, "payload": {**payload, key: value}}
    return cases


FIELDS = ["from", "to", "value", "token", "validAfter", "validBefore", "nonce", "signature"]
BROKEN: dict[str, tuple[str, Any]] = {
    "value_negative": ("value", "-1"),
    "value_over_uint256": ("value", str(2**256)),
    "value_exponent": ("value", "1e3"),
    "value_padded": ("value", " 1000"),
    "valid_after_negative": ("validAfter", -1),
    "valid_before_over_u64": ("validBefore", 2**64),
    "valid_before_float": ("validBefore", 1.5),
    "nonce_short": ("nonce", "0x00"),
    "nonce_long": ("nonce", "0x" + "ab" * 33),
    "nonce_unprefixed": ("nonce", "ab" * 32),
    "signature_short": ("signature", "0x1234"),
    "signature_long": ("signature", "0x" + "ab" * 200),
    "signature_zero": ("signature", "0x" + "00" * 65),
    "from_not_address": ("from", "not an address"),
    "from_number": ("from", 12),
    "to_zero": ("to", "0x" + "00" * 20),
    "token_short": ("token", "0x" + "11" * 19),
}
MALFORMED = [
    "version_2", "version_true", "no_payload", "payload_list", "payload_string", "value_number", "valid_after_string",
    *(f"{kind}_{key}" for kind in ("missing", "null") for key in FIELDS), *BROKEN,
]
UNFUNDED: dict[str, Any] = {}


@pytest.fixture
def good_payment(seed: Gate) -> dict[str, Any]:
    """A well-formed tip20 payment from an account with no money and no allowance."""
    if seed.url not in UNFUNDED:
        UNFUNDED[seed.url] = signed(Account.create(), seed_offer(seed))
    return copy.deepcopy(UNFUNDED[seed.url])


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_tip20_headers_get_a_402_never_a_500(seed: Gate, good_payment: dict[str, Any], case: str) -> None:
    """Every kind of broken tip20 payload: 402 with PAYMENT-REQUIRED and the seed body, no run, no transaction."""
    runs, sent = seed.runs("/paid/joke"), seed.txcount()
    response = seed.pay(_b64(_malformed(good_payment)[case]))
    assert response.status_code == 402, (case, response.status_code, response.text)
    assert decode(response.headers["payment-required"])["error"]
    assert response.json()["accepts"][0]["scheme"] == "tempo-tip20"
    assert seed.runs("/paid/joke") == runs and seed.txcount() == sent


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from([*FIELDS, "extra"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(KEYS, JSON, min_size=1, max_size=3), top=st.dictionaries(st.sampled_from(["payload", "extensions", "resource"]), JSON, max_size=1))
def test_arbitrary_tip20_payloads_get_a_402(seed: Gate, good_payment: dict[str, Any], changes: dict[str, Any], top: dict[str, Any]) -> None:
    """A real (unfunded) tip20 payment with any fields replaced by any JSON: always a 402 with PAYMENT-REQUIRED."""
    payment = copy.deepcopy(good_payment)  # hypothesis runs every example on one fixture value
    payment["payload"].update(changes)
    payment.update(top)
    response = seed.pay(_b64(payment))
    assert response.status_code == 402, response.text
    assert "payment-required" in response.headers
