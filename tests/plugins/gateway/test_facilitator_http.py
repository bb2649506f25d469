"""The embedded facilitator over HTTP: /facilitator/supported, /verify, /settle (checklist 16, 17), hostile bodies."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from x402.http import FacilitatorConfig, HTTPFacilitatorClient
from x402.schemas import SupportedResponse, parse_payment_payload, parse_payment_requirements

from colony.plugins.gateway.wire import encode_header
from tests.plugins.gateway.conftest import PRICE, Gate

TX_HASH = re.compile(r"0x[0-9a-f]{64}")


def body_of(gate: Gate, payer: Any, **changes: Any) -> dict[str, Any]:
    """A v2 /verify or /settle request for a fresh signed payment."""
    payment = gate.payment(payer)
    requirements = dict(payment["accepted"], **changes)
    return {"x402Version": 2, "paymentPayload": payment, "paymentRequirements": requirements}


def post(gate: Gate, path: str, body: Any) -> dict[str, Any]:
    response = gate.http.post("/facilitator/" + path, content=body if isinstance(body, (bytes, str)) else json.dumps(body))
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    return response.json()  # type: ignore[no-any-return]


def test_supported_lists_the_kind_and_signer(inproc: Gate) -> None:
    """16: kinds, extensions, signers; the SDK model and the official HTTP client read it."""
    supported = inproc.http.get("/facilitator/supported").json()
    assert supported["kinds"] == [{"x402Version": 2, "scheme": "exact", "network": inproc.network}]
    assert supported["extensions"] == []
    assert supported["signers"] == {"eip155:*": [inproc.facilitator]}
    SupportedResponse.model_validate(supported)
    official = HTTPFacilitatorClient(FacilitatorConfig(url=inproc.url + "/facilitator")).get_supported()
    assert [(k.x402_version, k.scheme, k.network) for k in official.kinds] == [(2, "exact", inproc.network)]


def test_supported_adds_a_v1_kind_on_a_chain_with_a_v1_name(v1_gate: Gate) -> None:
    gate = v1_gate
    kinds = gate.http.get("/facilitator/supported").json()["kinds"]
    assert {"x402Version": 1, "scheme": "exact", "network": "base-sepolia"} in kinds
    assert {"x402Version": 2, "scheme": "exact", "network": "eip155:84532"} in kinds
    # 17 with v1 JSON: verify and settle a v1 payload against v1 requirements.
    payer = gate.payer()
    v2 = gate.payment(payer)
    payload = {"x402Version": 1, "scheme": "exact", "network": "base-sepolia", "payload": v2["payload"]}
    requirements = gate.http.get("/paid/joke").json()["accepts"][0]
    body = {"x402Version": 1, "paymentPayload": payload, "paymentRequirements": requirements}
    assert post(gate, "verify", body) == {"isValid": True, "payer": payer.address}
    before = (gate.balance(payer.address), gate.txcount())
    settled = post(gate, "settle", body)
    assert settled["success"] is True and TX_HASH.fullmatch(settled["transaction"]) and settled["payer"] == payer.address
    assert (gate.balance(payer.address), gate.txcount()) == (before[0] - PRICE, before[1] + 1)


def test_verify_moves_nothing_and_names_the_payer(inproc: Gate) -> None:
    """17: /verify answers 200 {isValid, payer} and neither charges nor broadcasts."""
    payer = inproc.payer()
    body = body_of(inproc, payer)
    before = (inproc.balance(payer.address), inproc.txcount())
    assert post(inproc, "verify", body) == {"isValid": True, "payer": payer.address}
    assert post(inproc, "verify", body) == {"isValid": True, "payer": payer.address}
    assert (inproc.balance(payer.address), inproc.txcount()) == before


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"amount": str(PRICE + 1)}, "invalid_exact_evm_payload_authorization_value_mismatch"),
        ({"payTo": "0x" + "55" * 20}, "invalid_exact_evm_payload_recipient_mismatch"),
        ({"network": "eip155:1"}, "network_mismatch"),
        ({"extra": {}}, "missing_eip712_domain"),
        ({"extra": {"name": "USD Coin", "version": "2"}}, "invalid_exact_evm_payload_signature"),
    ],
)
def test_verify_and_settle_refuse_with_a_reason_in_a_200(inproc: Gate, changes: dict[str, Any], reason: str) -> None:
    """17: an invalid payment is HTTP 200 with isValid/success false; settle's transaction is a string."""
    payer = inproc.payer()
    body = body_of(inproc, payer, **changes)
    before = (inproc.balance(payer.address), inproc.txcount())
    assert post(inproc, "verify", body) == {"isValid": False, "invalidReason": reason, "payer": payer.address}
    settled = post(inproc, "settle", body)
    assert settled["success"] is False and settled["errorReason"] == reason and settled["transaction"] == ""
    assert isinstance(settled["network"], str)
    assert (inproc.balance(payer.address), inproc.txcount()) == before


def test_settle_pays_once(inproc: Gate) -> None:
    """17, 19: /settle moves the money with one logged Transfer; the same payload again is refused, no new tx."""
    payer = inproc.payer()
    body = body_of(inproc, payer)
    before = (inproc.balance(payer.address), inproc.balance(inproc.wallet), inproc.txcount())
    settled = post(inproc, "settle", body)
    assert settled["success"] is True and settled["payer"] == payer.address and settled["network"] == inproc.network
    assert settled["amount"] == str(PRICE) and TX_HASH.fullmatch(settled["transaction"])
    assert inproc.receipt(settled["transaction"])["transfers"] == [
        {"address": inproc.token, "from": payer.address, "to": inproc.wallet, "value": PRICE}
    ]
    assert inproc.balance(payer.address) == before[0] - PRICE
    assert inproc.balance(inproc.wallet) == before[1] + PRICE
    again = post(inproc, "settle", body)
    assert again["success"] is False and again["errorReason"] == "invalid_exact_evm_nonce_already_used"
    assert isinstance(again["transaction"], str)
    verified = post(inproc, "verify", body)
    assert verified["isValid"] is False and verified["invalidReason"] == "invalid_exact_evm_nonce_already_used"
    assert inproc.txcount() == before[2] + 1
    # The paywall knows it too: the header of this payment buys nothing.
    assert inproc.pay(encode_header(body["paymentPayload"])).status_code == 402


def test_the_official_facilitator_client_verifies_and_settles(inproc: Gate) -> None:
    """17: HTTPFacilitatorClient's own requests (SDK models, camelCase JSON) work against our endpoints."""
    payer = inproc.payer()
    body = body_of(inproc, payer)
    payload, requirements = parse_payment_payload(body["paymentPayload"]), parse_payment_requirements(2, body["paymentRequirements"])
    client = HTTPFacilitatorClient(FacilitatorConfig(url=inproc.url + "/facilitator"))

    async def go() -> tuple[Any, Any]:
        return await client.verify(payload, requirements), await client.settle(payload, requirements)

    verified, settled = asyncio.run(go())
    assert verified.is_valid and verified.payer == payer.address
    assert settled.success and TX_HASH.fullmatch(settled.transaction) and settled.payer == payer.address
    assert inproc.balance(payer.address) == 9 * PRICE


def test_verify_of_an_unfunded_payer_is_insufficient_funds(inproc: Gate) -> None:
    body = body_of(inproc, inproc.payer(0))
    assert post(inproc, "verify", body)["invalidReason"] == "insufficient_funds"


BAD_BODIES = {
    "empty": b"",
    "not_json": b"{not json",
    "nan": b'{"x402Version": NaN}',
    "list": b"[]",
    "string": b'"hello"',
    "null": b"null",
    "empty_object": b"{}",
    "no_requirements": json.dumps({"x402Version": 2, "paymentPayload": {"x402Version": 2}}).encode(),
    "payload_list": json.dumps({"x402Version": 2, "paymentPayload": [], "paymentRequirements": {}}).encode(),
    "deep": b"[" * 30000 + b"]" * 30000,
    "binary": bytes(range(256)),
    "utf16": '{"x402Version": 2}'.encode("utf-16"),
}


@pytest.mark.parametrize("path", ["verify", "settle"])
@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_get_a_verdict_not_a_crash(inproc: Gate, path: str, case: str) -> None:
    answer = post(inproc, path, BAD_BODIES[case])
    if path == "verify":
        assert answer["isValid"] is False and answer["invalidReason"]
    else:
        assert answer["success"] is False and answer["errorReason"] and answer["transaction"] == ""


def test_bad_requirements_inside_a_good_payment(inproc: Gate) -> None:
    payer = inproc.payer()
    good = body_of(inproc, payer)
    for requirements in ({}, [], {"scheme": "exact"}, {**good["paymentRequirements"], "maxTimeoutSeconds": "300"},
                         {**good["paymentRequirements"], "amount": 1000}, {**good["paymentRequirements"], "asset": "nope"}):
        body = {**good, "paymentRequirements": requirements}
        assert post(inproc, "verify", body)["isValid"] is False
        assert post(inproc, "settle", body)["success"] is False
    assert inproc.balance(payer.address) == 10 * PRICE


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=JSON, requirements=JSON, version=st.sampled_from([1, 2, 3, None, "2"]))
def test_arbitrary_json_bodies_get_a_verdict(inproc: Gate, payload: Any, requirements: Any, version: Any) -> None:
    body = {"x402Version": version, "paymentPayload": payload, "paymentRequirements": requirements}
    assert post(inproc, "verify", body)["isValid"] is False
    assert post(inproc, "settle", body)["success"] is False


def test_wrong_methods_and_paths(inproc: Gate) -> None:
    assert inproc.http.get("/facilitator/verify").status_code == 405
    assert inproc.http.post("/facilitator/supported").status_code == 405
    assert inproc.http.post("/facilitator/nothing").status_code == 404
    assert inproc.http.get("/facilitator/supported").status_code == 200
