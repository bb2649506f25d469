"""The x402 wire format: headers, networks, offers, payments, matching and responses, checked against the official SDK."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st
from x402 import x402ResourceServerSync
from x402.mechanisms.evm.v1.constants import V1_NETWORK_CHAIN_IDS
from x402.mechanisms.evm.v1.constants import V1_NETWORKS as SDK_V1_NETWORKS
from x402.schemas import (
    PaymentPayload,
    PaymentRequired,
    PaymentRequiredV1,
    PaymentRequirements,
    SettleResponse,
    VerifyResponse,
)

from colony.plugins.gateway import exact, wire
from colony.plugins.gateway.wire import Offer, WireError
from colony.plugins.identity.keys import Signer

NOW = 1_700_000_000
PAYER = Account.from_key(b"\x22" * 32)
TOKEN = "0x" + "ab" * 20
PAY_TO = "0x" + "cd" * 20
OFFER = Offer("exact", "eip155:84532", 1000, TOKEN, PAY_TO, 300, {"name": "USDC", "version": "2"}, "a thing", "text/plain")
TEMPO = Offer("exact", "eip155:42431", 1000, TOKEN, PAY_TO, 300, {"name": "USDC", "version": "2"})

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def b64(raw: bytes) -> str:
    """Standard padded base64 of raw bytes."""
    return base64.b64encode(raw).decode()


def nested(depth: int) -> str:
    """A JSON object whose brackets nest `depth` levels deep."""
    return '{"a":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


# ---------------------------------------------------------------- headers


def test_header_round_trip_is_compact_standard_base64() -> None:
    obj = {"x402Version": 2, "note": "café ✓", "n": [1, 2]}
    header = wire.encode_header(obj)
    assert base64.b64decode(header, validate=True) == '{"x402Version":2,"note":"café ✓","n":[1,2]}'.encode()
    assert wire.decode_header(header) == obj
    assert wire.decode_header(header.encode()) == obj


def test_decode_header_tolerates_surrounding_spaces() -> None:
    assert wire.decode_header(" " + wire.encode_header({"a": 1}) + "\t") == {"a": 1}


def test_nesting_at_the_limit_is_accepted_and_brackets_in_strings_do_not_count() -> None:
    assert wire.decode_header(b64(nested(wire.MAX_DEPTH).encode()))
    assert wire.decode_header(b64(json.dumps({"a": "[{" * 100, "b": '\\"[['}).encode()))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b64(json.dumps({"pad": "x" * 20000}).encode()), id="oversize"),
        pytest.param("!!!!", id="non-alphabet"),
        pytest.param(b64(b'{"a":"~~~~>>>"}').replace("+", "-").replace("/", "_"), id="urlsafe"),
        pytest.param(b64(b'{"a":1}').rstrip("="), id="missing-padding"),
        pytest.param("eyJhIjoxfR==" + "eyJh", id="data-after-padding"),
        pytest.param("e31=", id="non-canonical-trailing-bits"),  # decodes to {} when trailing bits are ignored
        pytest.param("e30=\n", id="newline"),
        pytest.param("", id="empty"),
        pytest.param("e30é", id="non-ascii"),
        pytest.param(b64(b"\xff\xfe{}"), id="not-utf8"),
        pytest.param(b64(b"{not json"), id="not-json"),
        pytest.param(b64(b'{"a":NaN}'), id="nan"),
        pytest.param(b64(b'{"a":1,"a":2}'), id="duplicate-key"),
        pytest.param(b64(nested(wire.MAX_DEPTH + 1).encode()), id="too-deep"),
        pytest.param(b64(b"[1,2]"), id="array"),
        pytest.param(b64(b'"text"'), id="string"),
        pytest.param(b64(b"1" * 5000), id="huge-int"),
    ],
)
def test_decode_header_rejects(value: str) -> None:
    with pytest.raises(WireError) as caught:
        wire.decode_header(value)
    assert caught.value.reason == "invalid_payload"


def test_very_deep_nesting_is_rejected_without_recursing() -> None:
    # The process runs with a huge recursionlimit, so a recursive parser would overflow the C stack here.
    with pytest.raises(WireError, match="deeper"):
        wire.decode_header(b64(("[" * 200_000 + "]" * 200_000).encode()), limit=10**7)


@given(st.binary(max_size=300))
def test_decode_header_raises_only_wire_error_on_any_bytes(raw: bytes) -> None:
    for value in (raw, b64(raw)):
        try:
            assert isinstance(wire.decode_header(value), dict)
        except WireError:
            pass


# ---------------------------------------------------------------- networks


def test_v1_table_is_the_sdks() -> None:
    assert set(wire.V1_NETWORKS) == set(SDK_V1_NETWORKS)
    assert all(V1_NETWORK_CHAIN_IDS[name] == chain for name, chain in wire.V1_NETWORKS.items())


def test_network_helpers() -> None:
    assert wire.caip2(8453) == "eip155:8453"
    assert wire.chain_id_of("eip155:131277322940537") == 131277322940537
    assert wire.v1_name(84532) == "base-sepolia"
    assert wire.v1_name(42431) is None


@pytest.mark.parametrize("network", ["eip155:", "eip155:01", "eip155:0", "eip155:1a", "eip155:١٢", "solana:5eykt", "base", 8453])
def test_chain_id_of_rejects(network: Any) -> None:
    with pytest.raises(WireError) as caught:
        wire.chain_id_of(network)
    assert caught.value.reason == "invalid_network"


# ---------------------------------------------------------------- offers and 402 bodies


def test_offer_to_v2_and_v1() -> None:
    assert OFFER.to_v2() == {
        "scheme": "exact", "network": "eip155:84532", "amount": "1000", "asset": TOKEN, "payTo": PAY_TO,
        "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"},
    }
    assert OFFER.to_v1("https://x/y") == {
        "scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "1000", "resource": "https://x/y",
        "description": "a thing", "mimeType": "text/plain", "payTo": PAY_TO, "maxTimeoutSeconds": 300,
        "asset": TOKEN, "extra": {"name": "USDC", "version": "2"},
    }
    assert TEMPO.to_v1("https://x/y") is None


def test_offer_copies_extra_out() -> None:
    OFFER.to_v2()["extra"]["name"] = "changed"
    assert OFFER.extra["name"] == "USDC"


@pytest.mark.parametrize("amount", [1.5, True, -1, "1000", 2**256])
def test_offer_refuses_non_int_money(amount: Any) -> None:
    with pytest.raises(ValueError):
        Offer("exact", "eip155:1", amount, TOKEN, PAY_TO, 300)


def test_payment_required_parses_with_the_sdk() -> None:
    body = wire.payment_required("https://x/y", [OFFER, TEMPO], error="payment required", description="d", mime_type="m")
    model = PaymentRequired.model_validate(body)
    assert model.x402_version == 2 and model.error == "payment required"
    assert model.resource is not None and (model.resource.url, model.resource.description, model.resource.mime_type) == (
        "https://x/y", "d", "m",
    )
    assert [a.model_dump(by_alias=True) for a in model.accepts] == [OFFER.to_v2(), TEMPO.to_v2()]
    assert wire.decode_header(wire.encode_header(body)) == body


def test_payment_required_omits_empty_optionals() -> None:
    assert wire.payment_required("https://x/y", [OFFER]) == {
        "x402Version": 2, "resource": {"url": "https://x/y"}, "accepts": [OFFER.to_v2()],
    }


def test_payment_required_v1_keeps_only_v1_networks() -> None:
    body = wire.payment_required_v1("https://x/y", [TEMPO, OFFER], "pay")
    assert body is not None
    model = PaymentRequiredV1.model_validate(body)
    assert [a.network for a in model.accepts] == ["base-sepolia"]
    assert wire.payment_required_v1("https://x/y", [TEMPO]) is None


# ---------------------------------------------------------------- payments


def signed(offer: Offer = OFFER) -> dict[str, Any]:
    """A v2 payment for `offer` from PAYER."""
    return exact.sign(Signer(PAYER, "payer"), offer, NOW)


def test_parse_payment_v2_and_v1() -> None:
    payment = wire.parse_payment(signed())
    assert (payment.version, payment.scheme, payment.network, payment.caip2_network) == (2, "exact", "eip155:84532", "eip155:84532")
    assert payment.accepted == OFFER.to_v2() and payment.extensions == {}
    v1 = wire.parse_payment({"x402Version": 1, "scheme": "exact", "network": "base", "payload": {}, "extensions": {"k": {}}})
    assert (v1.version, v1.accepted, v1.caip2_network, v1.extensions) == (1, None, "eip155:8453", {"k": {}})


def mutate(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A valid v2 payment with the field at `path` set to `value` (a `...` value deletes it)."""
    obj = signed()
    target = obj
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        pytest.param([], "invalid_payload", id="not-object"),
        pytest.param(mutate(("x402Version",), ...), "invalid_x402_version", id="no-version"),
        pytest.param(mutate(("x402Version",), "2"), "invalid_x402_version", id="string-version"),
        pytest.param(mutate(("x402Version",), True), "invalid_x402_version", id="bool-version"),
        pytest.param(mutate(("x402Version",), 3), "invalid_x402_version", id="version-3"),
        pytest.param(mutate(("payload",), ...), "invalid_payload", id="no-payload"),
        pytest.param(mutate(("payload",), "x"), "invalid_payload", id="payload-string"),
        pytest.param(mutate(("accepted",), ...), "invalid_payload", id="no-accepted"),
        pytest.param(mutate(("accepted", "scheme"), ""), "invalid_payload", id="empty-scheme"),
        pytest.param(mutate(("accepted", "network"), 8453), "invalid_payload", id="int-network"),
        pytest.param(mutate(("accepted", "asset"), ...), "invalid_payload", id="no-asset"),
        pytest.param(mutate(("accepted", "payTo"), None), "invalid_payload", id="null-payto"),
        pytest.param(mutate(("accepted", "amount"), 1000), "invalid_payload", id="int-amount"),
        pytest.param(mutate(("accepted", "amount"), "1e3"), "invalid_payload", id="exponent-amount"),
        pytest.param(mutate(("accepted", "amount"), "-1"), "invalid_payload", id="negative-amount"),
        pytest.param(mutate(("accepted", "maxTimeoutSeconds"), "300"), "invalid_payload", id="string-timeout"),
        pytest.param(mutate(("accepted", "maxTimeoutSeconds"), True), "invalid_payload", id="bool-timeout"),
        pytest.param(mutate(("accepted", "extra"), []), "invalid_payload", id="list-extra"),
        pytest.param(mutate(("extensions",), []), "invalid_payload", id="list-extensions"),
        pytest.param(mutate(("resource",), "https://x"), "invalid_payload", id="string-resource"),
        pytest.param({"x402Version": 1, "network": "base", "payload": {}}, "invalid_payload", id="v1-no-scheme"),
        pytest.param({"x402Version": 1, "scheme": "exact", "network": "eip155:8453", "payload": {}}, "invalid_network", id="v1-caip2"),
    ],
)
def test_parse_payment_rejects(obj: Any, reason: str) -> None:
    with pytest.raises(WireError) as caught:
        wire.parse_payment(obj)
    assert caught.value.reason == reason


def test_parse_payment_allows_absent_optionals() -> None:
    payment = wire.parse_payment(mutate(("accepted", "extra"), ...))
    assert payment.accepted is not None and "extra" not in payment.accepted


@given(JSON)
def test_parse_payment_raises_only_wire_error(obj: Any) -> None:
    for candidate in (obj, {"x402Version": 2, "payload": {}, "accepted": obj}, {"x402Version": 1, "payload": obj}):
        try:
            parsed = wire.parse_payment(candidate)
        except WireError:
            pass
        else:
            assert isinstance(parsed, wire.Payment)


# ---------------------------------------------------------------- matching, against the SDK's own rule


def sdk_match(payment: dict[str, Any], offers: list[Offer]) -> bool:
    """Whether the SDK's resource server finds a requirement matching the payment."""
    available = [PaymentRequirements.model_validate(offer.to_v2()) for offer in offers]
    return x402ResourceServerSync().find_matching_requirements(available, PaymentPayload.model_validate(payment)) is not None


@pytest.mark.parametrize(
    ("key", "value", "matches"),
    [
        ("amount", "1001", False),
        ("amount", "01000", False),
        ("asset", "0x" + "ef" * 20, False),
        ("asset", TOKEN.upper().replace("0X", "0x"), False),
        ("payTo", wire.parse_address(PAY_TO), False),
        ("network", "eip155:8453", False),
        ("scheme", "upto", False),
        ("maxTimeoutSeconds", 301, False),
        ("extra", {"name": "USDC"}, False),
        ("extra", {"name": "USD Coin", "version": "2"}, False),
        ("extra", {"name": "USDC", "version": "2", "more": 1}, True),
        ("description", "ignored", True),
    ],
)
def test_match_agrees_with_the_sdk(key: str, value: Any, matches: bool) -> None:
    payment = mutate(("accepted", key), value)
    assert sdk_match(payment, [OFFER]) is matches
    assert (wire.match(wire.parse_payment(payment), [TEMPO, OFFER]) is OFFER) is matches


def test_match_picks_the_chosen_offer() -> None:
    assert wire.match(wire.parse_payment(signed(TEMPO)), [OFFER, TEMPO]) is TEMPO


def test_match_v1_by_scheme_and_legacy_network() -> None:
    def v1(scheme: str, network: str) -> wire.Payment:
        return wire.parse_payment({"x402Version": 1, "scheme": scheme, "network": network, "payload": {}})

    assert wire.match(v1("exact", "base-sepolia"), [TEMPO, OFFER]) is OFFER
    assert wire.match(v1("exact", "base"), [OFFER]) is None
    assert wire.match(v1("upto", "base-sepolia"), [OFFER]) is None


# ---------------------------------------------------------------- facilitator responses


def test_verify_response() -> None:
    assert wire.verify_response(True, payer=PAYER.address) == {"isValid": True, "payer": PAYER.address}
    bad = wire.verify_response(False, "invalid_payload")
    assert bad == {"isValid": False, "invalidReason": "invalid_payload"}
    assert VerifyResponse.model_validate(bad).invalid_reason == "invalid_payload"


def test_settle_response() -> None:
    ok = wire.settle_response(True, "eip155:84532", "0x" + "11" * 32, payer=PAYER.address, amount=1000)
    assert ok == {"success": True, "transaction": "0x" + "11" * 32, "network": "eip155:84532", "payer": PAYER.address, "amount": "1000"}
    failed = wire.settle_response(False, "eip155:84532", reason="transaction_failed")
    assert failed == {"success": False, "transaction": "", "network": "eip155:84532", "errorReason": "transaction_failed"}
    for body in (ok, failed):
        assert SettleResponse.model_validate(body).model_dump(by_alias=True, exclude_none=True) == body
