"""The paywall over real HTTP on a real node (in-process chain; anvil where mining must be steered).

Checklist numbers (digest section 8) are in the test docstrings.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
import secrets
import threading
import time
from typing import Any

import httpx
import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colony.plugins.gateway import exact
from colony.plugins.gateway.wire import encode_header
from colony.testing import Anvil

from tests.plugins.conftest import wait_for
from tests.plugins.gateway.conftest import PRICE, Gate, decode, sign_payment, sign_typed

STANDARD_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def error_of(response: httpx.Response) -> str:
    """The `error` of a refusal's PAYMENT-REQUIRED header (which every refusal must carry)."""
    assert response.status_code == 402, (response.status_code, response.text)
    return str(decode(response.headers["payment-required"]).get("error", ""))


def settle_of(response: httpx.Response, name: str = "payment-response") -> dict[str, Any]:
    return decode(response.headers[name])


def unchanged(gate: Gate, account: Any, fn: Any) -> Any:
    """Run `fn` and check it moved no money and sent no facilitator transaction."""
    before = (gate.balance(account.address), gate.balance(gate.wallet), gate.txcount())
    result = fn()
    assert (gate.balance(account.address), gate.balance(gate.wallet), gate.txcount()) == before
    return result


# -- 1, 2: the offer -----------------------------------------------------------------------------


def test_unpaid_request_gets_a_402_with_the_offer_in_header_and_body(inproc: Gate) -> None:
    """1, 2: 402, PAYMENT-REQUIRED (standard base64), JSON, no-store, resource.url; the accepts fields."""
    response = inproc.http.get("/paid/joke")
    assert response.status_code == 402
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    header = response.headers["payment-required"]
    assert STANDARD_B64.match(header)
    required = decode(header)
    assert required["x402Version"] == 2
    assert required["resource"]["url"] == inproc.url + "/paid/joke"
    assert required["resource"]["description"] == "A joke"
    # The body duplicates the header on a chain with no v1 name.
    assert response.json() == required
    [offer] = required["accepts"]
    assert offer["scheme"] == "exact"
    assert offer["network"] == inproc.network == f"eip155:{inproc.chain_id}"
    assert offer["amount"] == str(PRICE)
    assert offer["asset"] == inproc.token
    assert offer["payTo"] == inproc.wallet
    assert type(offer["maxTimeoutSeconds"]) is int and offer["maxTimeoutSeconds"] >= 60
    # extra carries the token's on-chain EIP-712 name() and version().
    assert offer["extra"] == {"name": inproc.token_name, "version": inproc.token_version}
    assert inproc.token_name == "Colony Dollar" and inproc.token_version == "1"


def test_free_routes_health_and_unknown_paths(inproc: Gate) -> None:
    assert inproc.http.get("/free").json() == {"free": True}
    assert inproc.http.get("/health").json()["status"] == "ok"
    assert inproc.http.get("/no/such/path").status_code == 404
    assert inproc.http.delete("/paid/joke").status_code == 405
    head = inproc.http.head("/paid/joke")
    assert head.status_code == 402 and head.content == b"" and "payment-required" in head.headers


# -- the happy path with our own signer, and 19 ----------------------------------------------------


def test_a_signed_payment_is_served_settled_and_logged(inproc: Gate) -> None:
    """3 (own signer), 19: 200, PAYMENT-RESPONSE, one Transfer(payer -> wallet, amount) from the token."""
    payer = inproc.payer()
    before = (inproc.balance(payer.address), inproc.balance(inproc.wallet), inproc.txcount(), inproc.runs("/paid/joke"))
    response = inproc.pay(inproc.header(payer))
    assert response.status_code == 200, response.text
    assert response.json()["payer"] == payer.address
    settled = settle_of(response)
    assert settled["success"] is True and settled["payer"] == payer.address and settled["network"] == inproc.network
    assert re.fullmatch(r"0x[0-9a-f]{64}", settled["transaction"])
    receipt = inproc.receipt(settled["transaction"])
    assert receipt is not None and receipt["status"] == 1
    assert receipt["transfers"] == [{"address": inproc.token, "from": payer.address, "to": inproc.wallet, "value": PRICE}]
    assert inproc.balance(payer.address) == before[0] - PRICE
    assert inproc.balance(inproc.wallet) == before[1] + PRICE
    assert inproc.txcount() == before[2] + 1
    assert inproc.runs("/paid/joke") == before[3] + 1


def test_colony_price_prices_a_route_and_payment_settled_hears_of_the_payment(inproc: Gate) -> None:
    """A route registered without a price is paywalled by a plugin's colony_price; settling calls colony_payment_settled."""
    assert inproc.http.get("/free").status_code == 200  # colony_price has no opinion on it
    assert inproc.offer("/hooked").amount == 2000
    payer = inproc.payer()
    heard = len(inproc.node.call("paidtest.settled"))
    response = inproc.pay(inproc.header(payer, "/hooked"), "/hooked")
    assert response.status_code == 200, response.text
    receipts = inproc.node.call("paidtest.settled")[heard:]
    assert receipts == [{
        "payer": payer.address, "pay_to": inproc.wallet, "amount": 2000, "network": inproc.network,
        "transaction": settle_of(response)["transaction"], "route": inproc.url + "/hooked",
    }]


def test_lower_case_header_name_works(inproc: Gate) -> None:
    """21: header names are case-insensitive."""
    payer = inproc.payer()
    response = inproc.pay(inproc.header(payer), name="payment-signature")
    assert response.status_code == 200
    value = response.headers["payment-response"]
    assert STANDARD_B64.match(value) and settle_of(response)["success"] is True


def test_settle_first_route_settles_before_the_handler(inproc: Gate) -> None:
    payer = inproc.payer()
    response = inproc.pay(inproc.header(payer, "/paid/first"), "/paid/first")
    assert response.status_code == 200
    assert response.json()["settled_before_me"] == settle_of(response)["transaction"]


def test_post_body_reaches_a_paid_handler(inproc: Gate) -> None:
    payer = inproc.payer()
    body = secrets.token_bytes(5000)
    response = inproc.pay(inproc.header(payer, "/paid/echo"), "/paid/echo", method="POST", content=body)
    assert response.status_code == 200 and response.content == body


# -- 5: tampered terms --------------------------------------------------------------------------


TAMPER = {
    "amount": str(PRICE - 1),
    "asset": "0x" + "11" * 20,
    "payTo": "0x" + "22" * 20,
    "network": "eip155:1",
    "scheme": "upto",
    "maxTimeoutSeconds": 3600,
}


@pytest.mark.parametrize("field", sorted(TAMPER))
def test_tampered_accepted_terms_are_refused_before_any_facilitator_work(inproc: Gate, field: str) -> None:
    """5: `accepted` differing from the offer in any term: 402 'No matching', nothing verified or sent."""
    payer = inproc.payer()
    offer = inproc.offer()
    payment = sign_payment(payer, offer, int(time.time()))
    payment["accepted"][field] = TAMPER[field]
    if field == "amount":  # a self-consistent cheaper payment, properly signed
        payment = sign_payment(payer, dataclasses.replace(offer, amount=PRICE - 1), int(time.time()))
    runs = inproc.runs("/paid/joke")
    response = unchanged(inproc, payer, lambda: inproc.pay(encode_header(payment)))
    assert error_of(response) == "No matching payment requirements"
    assert inproc.runs("/paid/joke") == runs


def test_extra_must_hold_the_offered_domain(inproc: Gate) -> None:
    """5: a different extra.name is no match either (an extra superset is fine: the SDK rule)."""
    payer = inproc.payer()
    payment = inproc.payment(payer)
    payment["accepted"]["extra"] = {"name": "USD Coin", "version": "1"}
    assert error_of(inproc.pay(encode_header(payment))) == "No matching payment requirements"
    superset = inproc.payment(payer)
    superset["accepted"]["extra"]["assetTransferMethod"] = "eip3009"
    assert inproc.pay(encode_header(superset)).status_code == 200


# -- 6, 7, 8: the authorization -------------------------------------------------------------------


def signed(gate: Gate, payer: Any, *, sign_as: Any = None, domain: dict[str, Any] | None = None, **auth: Any) -> str:
    """A header whose accepted matches the offer but whose authorization (or its signature) is altered."""
    offer = gate.offer()
    now = int(time.time())
    fields = {
        "sender": payer.address, "receiver": offer.pay_to, "value": offer.amount,
        "valid_after": 0, "valid_before": now + offer.max_timeout, "nonce": secrets.token_bytes(32),
    }
    fields.update(auth)
    authorization = exact.Authorization(**fields)
    message = exact.typed_data(authorization, gate.chain_id, gate.token, gate.token_name, gate.token_version)
    message["domain"].update(domain or {})
    signature = sign_typed(sign_as or payer, message)
    return encode_header({
        "x402Version": 2,
        "accepted": offer.to_v2(),
        "payload": {"signature": "0x" + signature.hex(), "authorization": exact.authorization_json(authorization)},
    })


REFUSED = {
    "recipient": ({"receiver": "0x" + "33" * 20}, "invalid_exact_evm_payload_recipient_mismatch"),
    "value_higher": ({"value": PRICE + 1}, "invalid_exact_evm_payload_authorization_value_mismatch"),
    "value_lower": ({"value": PRICE - 1}, "invalid_exact_evm_payload_authorization_value_mismatch"),
    # Time windows are offsets from the clock when the test signs (see WINDOWS).
    "expired": ({}, "invalid_exact_evm_payload_authorization_valid_before"),
    "expires_within_6s": ({}, "invalid_exact_evm_payload_authorization_valid_before"),
    "not_yet_valid": ({}, "invalid_exact_evm_payload_authorization_valid_after"),
    "domain_name": ({"domain": {"name": "USD Coin"}}, "invalid_exact_evm_payload_signature"),
    "domain_version": ({"domain": {"version": "2"}}, "invalid_exact_evm_payload_signature"),
    "domain_chain": ({"domain": {"chainId": 1}}, "invalid_exact_evm_payload_signature"),
    "domain_contract": ({"domain": {"verifyingContract": "0x" + "44" * 20}}, "invalid_exact_evm_payload_signature"),
    "other_signer": ({"sign_as": Account.create()}, "invalid_exact_evm_payload_signature"),
}


WINDOWS = {"expired": ("valid_before", -10), "expires_within_6s": ("valid_before", 3), "not_yet_valid": ("valid_after", 120)}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_authorizations_are_refused_with_their_reason(inproc: Gate, case: str) -> None:
    """6, 7, 8: recipient, value (higher/lower), time window, EIP-712 domain, signer."""
    changes, reason = REFUSED[case]
    if case in WINDOWS:
        key, offset = WINDOWS[case]
        changes = {key: int(time.time()) + offset}
    payer = inproc.payer()
    runs = inproc.runs("/paid/joke")
    response = unchanged(inproc, payer, lambda: inproc.pay(signed(inproc, payer, **changes)))
    assert error_of(response) == reason
    assert inproc.runs("/paid/joke") == runs


@pytest.mark.parametrize("valid_after", ["zero", "ten_minutes_ago"])
def test_valid_after_in_the_past_is_accepted(inproc: Gate, valid_after: str) -> None:
    """7: validAfter 0 (Python SDK) and now-600 (TS SDK, Python v1) both pay."""
    payer = inproc.payer()
    after = 0 if valid_after == "zero" else int(time.time()) - 600
    response = inproc.pay(signed(inproc, payer, valid_after=after))
    assert response.status_code == 200, response.headers.get("payment-required")
    assert inproc.balance(payer.address) == 9 * PRICE


@pytest.mark.parametrize("v", [27, 28, 0, 1])
def test_signature_v_as_27_28_or_0_1_pays(inproc: Gate, v: int) -> None:
    """8: a 65-byte signature with v 27/28 or the same one with v 0/1 both settle."""
    payer = inproc.payer()
    offer = inproc.offer()
    while True:  # find a nonce whose signature has the wanted recovery id
        payment = sign_payment(payer, offer, int(time.time()))
        signature = bytes.fromhex(payment["payload"]["signature"][2:])
        if signature[64] - 27 == v % 27:
            break
    payment["payload"]["signature"] = "0x" + (signature[:64] + bytes([v])).hex()
    response = inproc.pay(encode_header(payment))
    assert response.status_code == 200, response.headers.get("payment-required")
    assert inproc.balance(payer.address) == 9 * PRICE


def test_high_s_twin_signature_is_refused(inproc: Gate) -> None:
    """8: the malleable (r, n-s) twin recovers to the payer in plain ECDSA but the token refuses it."""
    payer = inproc.payer()
    payment = inproc.payment(payer)
    sig = bytes.fromhex(payment["payload"]["signature"][2:])
    s = exact.SECP256K1_N - int.from_bytes(sig[32:64], "big")
    payment["payload"]["signature"] = "0x" + (sig[:32] + s.to_bytes(32, "big") + bytes([55 - sig[64]])).hex()
    response = unchanged(inproc, payer, lambda: inproc.pay(encode_header(payment)))
    assert error_of(response) == "invalid_exact_evm_payload_signature"


# -- 9, 10, 11: balance, replay, concurrency --------------------------------------------------------


def test_insufficient_balance_is_refused_without_a_transaction(inproc: Gate) -> None:
    """9: a payer without the tokens: 402 insufficient_funds, nothing broadcast, handler not run."""
    poor = inproc.payer(PRICE - 1)
    runs = inproc.runs("/paid/joke")
    response = unchanged(inproc, poor, lambda: inproc.pay(inproc.header(poor)))
    assert error_of(response) == "insufficient_funds"
    empty = inproc.payer(0)
    assert error_of(unchanged(inproc, empty, lambda: inproc.pay(inproc.header(empty)))) == "insufficient_funds"
    assert inproc.runs("/paid/joke") == runs


def test_sequential_replay_is_refused_and_the_handler_does_not_run(inproc: Gate) -> None:
    """10: the same header again (any casing, any priced route): 402 nonce used, no run, no transaction."""
    payer = inproc.payer()
    header = inproc.header(payer)
    assert inproc.pay(header).status_code == 200
    runs = inproc.runs("/paid/joke")
    for name in ("PAYMENT-SIGNATURE", "payment-signature"):
        response = unchanged(inproc, payer, lambda: inproc.pay(header, name=name))
        assert error_of(response) == "invalid_exact_evm_nonce_already_used"
        assert "payment-response" not in response.headers
    assert error_of(unchanged(inproc, payer, lambda: inproc.pay(header, "/paid/first"))) == "invalid_exact_evm_nonce_already_used"
    assert inproc.runs("/paid/joke") == runs
    assert inproc.balance(payer.address) == 9 * PRICE


def test_twenty_concurrent_copies_of_one_payment_pay_once(inproc: Gate) -> None:
    """11: 20 identical payments at once: one 200, one handler run, one transaction, one charge."""
    payer = inproc.payer()
    header = inproc.header(payer)
    runs, sent, wallet = inproc.runs("/paid/joke"), inproc.txcount(), inproc.balance(inproc.wallet)
    barrier = threading.Barrier(20)
    results: list[httpx.Response] = []

    def one() -> None:
        with httpx.Client(base_url=inproc.url, timeout=120) as client:
            barrier.wait()
            results.append(client.get("/paid/joke", headers={"PAYMENT-SIGNATURE": header}))

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [402] * 19
    assert all(error_of(r) == "invalid_exact_evm_nonce_already_used" for r in results if r.status_code == 402)
    assert inproc.runs("/paid/joke") == runs + 1
    assert inproc.txcount() == sent + 1
    assert inproc.balance(payer.address) == 9 * PRICE
    assert inproc.balance(inproc.wallet) == wallet + PRICE


# -- 12: malformed headers ---------------------------------------------------------------------------


def _b64(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def _malformed(gate: Gate) -> dict[str, str]:
    payer = Account.create()
    good = gate.payment(payer)
    v3 = {**good, "x402Version": 3}
    scheme = copy.deepcopy(good)
    scheme["accepted"]["scheme"] = "upto"
    network = copy.deepcopy(good)
    network["accepted"]["network"] = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
    no_payload = {k: v for k, v in good.items() if k != "payload"}
    bad_sig = copy.deepcopy(good)
    bad_sig["payload"]["signature"] = "0x1234"
    long_sig = copy.deepcopy(good)
    long_sig["payload"]["signature"] = "0x" + "ab" * 200
    nonce = copy.deepcopy(good)
    nonce["payload"]["authorization"]["nonce"] = "0x00"
    number = copy.deepcopy(good)
    number["payload"]["authorization"]["value"] = 1000
    huge = copy.deepcopy(good)
    huge["payload"]["authorization"]["value"] = str(2**256)
    negative = copy.deepcopy(good)
    negative["payload"]["authorization"]["validBefore"] = "-5"
    address = copy.deepcopy(good)
    address["payload"]["authorization"]["from"] = "not an address"
    bool_version = {**good, "x402Version": True}
    return {
        "empty": "",
        "not_base64": "%%%not base64%%%",
        "urlsafe_base64": base64.urlsafe_b64encode(json.dumps(good).encode() + b"\xfb\xff").decode(),
        "unpadded": _b64(good).rstrip("="),
        "not_json": base64.b64encode(b"this is not json").decode(),
        "not_utf8": base64.b64encode(b"\xff\xfe\xfd").decode(),
        "json_list": _b64([good]),
        "json_string": _b64("payment"),
        "json_null": _b64(None),
        "nan": base64.b64encode(b'{"x402Version": NaN}').decode(),
        "duplicate_keys": base64.b64encode(b'{"x402Version": 2, "x402Version": 2}').decode(),
        "deep_nesting": base64.b64encode(b"[" * 5000 + b"]" * 5000).decode(),
        "deep_object": base64.b64encode(b'{"a":' * 3000 + b"1" + b"}" * 3000).decode(),
        "too_long": _b64({"x402Version": 2, "pad": "x" * 20000}),
        "version_3": _b64(v3),
        "version_bool": _b64(bool_version),
        "version_missing": _b64({k: v for k, v in good.items() if k != "x402Version"}),
        "v1_on_v2_chain": _b64({"x402Version": 1, "scheme": "exact", "network": "base-sepolia", "payload": good["payload"]}),
        "unsupported_scheme": _b64(scheme),
        "unsupported_network": _b64(network),
        "no_payload": _b64(no_payload),
        "empty_object": _b64({}),
        "short_signature": _b64(bad_sig),
        "long_signature": _b64(long_sig),
        "short_nonce": _b64(nonce),
        "numeric_value": _b64(number),
        "value_over_uint256": _b64(huge),
        "negative_time": _b64(negative),
        "bad_address": _b64(address),
        "accepted_list": _b64({**good, "accepted": [good["accepted"]]}),
        "payload_string": _b64({**good, "payload": "x"}),
    }


CASES = [
    "empty", "not_base64", "urlsafe_base64", "unpadded", "not_json", "not_utf8", "json_list", "json_string",
    "json_null", "nan", "duplicate_keys", "deep_nesting", "deep_object", "too_long", "version_3", "version_bool",
    "version_missing", "v1_on_v2_chain", "unsupported_scheme", "unsupported_network", "no_payload", "empty_object",
    "short_signature", "long_signature", "short_nonce", "numeric_value", "value_over_uint256", "negative_time",
    "bad_address", "accepted_list", "payload_string",
]


UNFUNDED: dict[str, Any] = {}


@pytest.fixture
def malformed(inproc: Gate) -> dict[str, str]:
    UNFUNDED[inproc.url] = inproc.payment(Account.create())
    return _malformed(inproc)


@pytest.mark.parametrize("case", CASES)
def test_malformed_payment_headers_get_a_402_never_a_500(inproc: Gate, malformed: dict[str, str], case: str) -> None:
    """12: every kind of broken header: 402 with PAYMENT-REQUIRED, no handler run, node still serving."""
    runs, sent = inproc.runs("/paid/joke"), inproc.txcount()
    for name in ("PAYMENT-SIGNATURE", "X-PAYMENT"):
        response = inproc.pay(malformed[case], name=name)
        assert response.status_code == 402, (case, response.status_code, response.text)
        assert decode(response.headers["payment-required"])["accepts"]
    assert inproc.runs("/paid/joke") == runs and inproc.txcount() == sent


# Header values h11 can carry: visible ASCII, inner spaces and tabs, and latin-1 high bytes.
HEADER_TEXT = st.text(st.characters(codec="latin-1", exclude_categories=("Cc",)) | st.sampled_from(" \t"), max_size=300).map(str.strip)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=HEADER_TEXT)
def test_arbitrary_header_text_gets_a_402(inproc: Gate, value: str) -> None:
    """12: any header text at all: 402 with PAYMENT-REQUIRED."""
    response = inproc.http.get("/paid/joke", headers={"PAYMENT-SIGNATURE": value.encode("latin-1")})
    assert response.status_code == 402 and "payment-required" in response.headers


@pytest.mark.usefixtures("malformed")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obj=JSON, merge=st.booleans())
def test_arbitrary_json_payloads_get_a_402(inproc: Gate, obj: Any, merge: bool) -> None:
    """12: well-encoded JSON of any shape, alone or merged into a real (unfunded) payment's fields: 402."""
    if merge and isinstance(obj, dict):
        base = copy.deepcopy(UNFUNDED[inproc.url])
        base["payload"].update(obj)
        base["payload"]["authorization"] = {**base["payload"]["authorization"], **obj}
        obj = base
    response = inproc.pay(_b64(obj))
    assert response.status_code == 402 and "payment-required" in response.headers


# -- 13, 14: handler failure, settlement failure --------------------------------------------------


@pytest.mark.parametrize("path", ["/paid/status/400", "/paid/status/404", "/paid/status/500", "/paid/status/503", "/paid/boom"])
def test_a_failing_handler_charges_nothing(inproc: Gate, path: str) -> None:
    """13: handler status >= 400 (or an exception): its status goes out, no settlement, no charge."""
    payer = inproc.payer()
    header = inproc.header(payer, path)
    response = unchanged(inproc, payer, lambda: inproc.pay(header, path))
    assert response.status_code == (500 if path == "/paid/boom" else int(path.rsplit("/", 1)[1]))
    assert "payment-response" not in response.headers
    assert inproc.runs(path) >= 1
    # The authorization is still unused: it can pay for a working route later.
    assert inproc.pay(header).status_code == 200
    assert inproc.balance(payer.address) == 9 * PRICE


def test_a_settlement_failure_withholds_the_content(inproc: Gate) -> None:
    """14: the payer spends its balance between verify and settle: 402 success:false, empty body, no charge."""
    payer = inproc.payer(PRICE)
    wallet, sent = inproc.balance(inproc.wallet), inproc.txcount()
    header = inproc.header(payer, "/paid/drain")
    response = inproc.pay(header, "/paid/drain", headers={"x-drain-key": payer.key.hex()})
    assert response.status_code == 402
    assert response.json() == {}
    assert "drained" not in response.text
    settled = settle_of(response)
    assert settled["success"] is False
    assert settled["errorReason"] == "transaction_failed"
    assert settled["network"] == inproc.network and settled["payer"] == payer.address
    assert re.fullmatch(r"0x[0-9a-f]{64}", settled["transaction"])  # the reverted attempt, for the record
    receipt = inproc.receipt(settled["transaction"])
    assert receipt is not None and receipt["status"] == 0 and receipt["transfers"] == []
    assert decode(response.headers["payment-required"])["accepts"]
    assert inproc.balance(inproc.wallet) == wallet
    assert inproc.txcount() == sent + 1
    # Funded again, the same authorization (never used on chain) pays once, and only once.
    inproc.node.call("chain.faucet", address=payer.address, amount=PRICE)
    assert inproc.pay(header).status_code == 200
    assert inproc.balance(inproc.wallet) == wallet + PRICE
    assert error_of(inproc.pay(header)) == "invalid_exact_evm_nonce_already_used"


# -- 20, 21: CORS and base64 -------------------------------------------------------------------------


def test_cors_preflight_and_exposed_headers(inproc: Gate) -> None:
    """20: preflight allows the payment headers; responses expose PAYMENT-REQUIRED and PAYMENT-RESPONSE."""
    origin = {"Origin": "https://app.example"}
    preflight = inproc.http.options(
        "/paid/joke", headers={**origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "payment-signature,x-payment"}
    )
    assert preflight.status_code in (200, 204)
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"payment-signature", "x-payment", "content-type"} <= allowed
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-origin"] == "*"
    unpaid = inproc.http.get("/paid/joke", headers=origin)
    exposed = {h.strip().lower() for h in unpaid.headers["access-control-expose-headers"].split(",")}
    assert {"payment-required", "payment-response"} <= exposed
    paid = inproc.pay(inproc.header(inproc.payer()), headers=origin)
    assert paid.status_code == 200 and paid.headers["access-control-allow-origin"] == "*"
    assert "payment-response" in paid.headers["access-control-expose-headers"].lower()


def test_emitted_base64_is_standard_even_with_plus_and_slash(inproc: Gate) -> None:
    """21: header values use the standard alphabet; a description full of '?>' bytes would show '_' or '-'."""
    for _ in range(3):
        value = inproc.http.get("/paid/joke").headers["payment-required"]
        assert STANDARD_B64.match(value) and "-" not in value and "_" not in value


# -- hostile inputs ----------------------------------------------------------------------------------


def test_hostile_requests_never_crash_the_node(inproc: Gate) -> None:
    """Oversized bodies are a 413 (or a closed connection when the server stops reading); garbage paths 4xx."""

    def status(method: str, path: str, **kwargs: Any) -> int:
        with httpx.Client(base_url=inproc.url, timeout=60) as client:  # a fresh connection each time
            try:
                return client.request(method, path, **kwargs).status_code
            except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
                return -1  # the server answered early and hung up mid-upload

    big = b"x" * (64 * 1024 + 1)
    assert status("POST", "/paid/echo", content=big) in (413, -1)
    assert status("POST", "/facilitator/verify", content=big) in (413, -1)

    def chunks() -> Any:
        for _ in range(100):
            yield b"y" * 4096

    assert status("POST", "/paid/echo", content=chunks()) in (413, -1)
    for path in ("/" + "a" * 5000, "/%00%ff", "/../../etc/passwd", "/paid/joke/extra", "//paid//joke", "/paid/status/", "/\u00e9"):
        assert status("GET", path) in (400, 402, 404), path
    assert status("BREW", "/paid/joke") in (400, 405)
    assert status("GET", "/paid/joke", headers={"X-Junk": "a" * 60000}) in (400, 402, 413, 431, -1)
    assert status("GET", "/health") == 200
    assert inproc.http.get("/health").json()["status"] == "ok"


# -- 15: a receipt that does not come in time (anvil, automine off) -----------------------------------


def test_receipt_timeout_is_pending_and_a_retry_reconciles_without_a_second_broadcast(slow_receipts: Gate, anvil_chain: Anvil) -> None:
    """15: 503 settlement_pending with the hash; retries never broadcast again; once mined, 200 once."""
    gate = slow_receipts
    payer = gate.payer()
    header = gate.header(payer)
    wallet, sent = gate.balance(gate.wallet), gate.txcount()
    anvil_chain.rpc("evm_setAutomine", False)
    try:
        first = gate.pay(header)
        assert first.status_code == 503, first.text
        assert first.headers["retry-after"]
        pending = settle_of(first)
        assert pending["success"] is False and pending["errorReason"] == "settlement_pending"
        tx = pending["transaction"]
        assert re.fullmatch(r"0x[0-9a-f]{64}", tx)
        assert "joke" not in first.text
        assert gate.txcount() == sent + 1
        # Still not mined: the same answer, the same hash, no new transaction.
        again = gate.pay(header)
        assert again.status_code == 503 and settle_of(again)["transaction"] == tx
        assert gate.txcount() == sent + 1
        assert gate.node.call("gateway.info")["metrics"]["pending_settlements"] >= 2
        assert gate.http.get("/health").json()["pending_settlements"] == 1
    finally:
        anvil_chain.rpc("evm_setAutomine", True)
    anvil_chain.rpc("evm_mine")
    wait_for(lambda: gate.receipt(tx), "the settlement to be mined")
    paid = gate.pay(header)
    assert paid.status_code == 200, paid.text
    assert paid.json()["payer"] == payer.address
    assert settle_of(paid) == {"success": True, "transaction": tx, "network": gate.network, "payer": payer.address}
    assert gate.txcount() == sent + 1
    assert gate.receipt(tx)["transfers"] == [{"address": gate.token, "from": payer.address, "to": gate.wallet, "value": PRICE}]
    assert gate.balance(gate.wallet) == wallet + PRICE
    assert gate.balance(payer.address) == 9 * PRICE
    assert error_of(gate.pay(header)) == "invalid_exact_evm_nonce_already_used"
    assert gate.http.get("/health").json()["pending_settlements"] == 0
