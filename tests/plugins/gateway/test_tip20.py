"""The seed's tempo-tip20 dialect: 402 body, payload parsing, EIP-712 and the facilitator's off-chain rules."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from colony.plugins.gateway import exact, tip20, wire
from colony.plugins.gateway.tip20 import PaymentAuthorization
from colony.plugins.gateway.wire import Offer, WireError
from colony.plugins.identity.keys import Signer

NOW = 1_700_000_000
PAYER = Account.from_key(b"\x55" * 32)
WALLET = Signer(PAYER, "wallet")  # what `tip20.sign` is given in a node: the identity plugin's signer
OTHER = Account.from_key(b"\x66" * 32)
PATH_USD = wire.parse_address("0x20c0000000000000000000000000000000000000")
PAY_TO = wire.parse_address("0x" + "cd" * 20)
FACILITATOR = "0x" + "ee" * 20
NONCE = b"\x09" * 32
OFFER = Offer("tempo-tip20", "eip155:42431", 1000, PATH_USD, PAY_TO, 30, description="atlas", mime_type="application/json")
ZERO = "0x" + "00" * 20


def good() -> dict[str, Any]:
    """A valid tempo-tip20 payment for OFFER, signed at NOW."""
    return tip20.sign(WALLET, OFFER, NOW, nonce=NONCE)


def check(payment: dict[str, Any], offer: Offer = OFFER, now: int = NOW) -> tuple[str | None, str]:
    """Run tip20.check on a payment sent through the header codec."""
    return tip20.check(tip20.parse(wire.decode_header(wire.encode_header(payment))), offer, now)


def forged(signer: Any = PAYER, **changes: Any) -> dict[str, Any]:
    """A payment whose authorization has `changes`, signed by `signer` (so the signature covers the changes)."""
    auth = dataclasses.replace(tip20.parse(good()).authorization, **changes)
    return tip20.payment_json(tip20.Tip20Payload(auth, exact.sign_typed(signer, tip20.typed_data(auth, 42431))))


# ---------------------------------------------------------------- 402 body


def test_payment_required_body() -> None:
    body = tip20.payment_required([OFFER], FACILITATOR, description="paid thing", mime_type="application/json")
    assert body == {
        "x402Version": 1,
        "accepts": [{
            "scheme": "tempo-tip20", "network": "eip155:42431", "price": "$0.001", "asset": PATH_USD, "amount": "1000",
            "payTo": PAY_TO, "maxTimeoutSeconds": 30, "description": "atlas", "mimeType": "application/json",
            "facilitatorAddress": FACILITATOR,
        }],
        "description": "paid thing",
        "mimeType": "application/json",
    }
    bare = tip20.payment_required([dataclasses.replace(OFFER, description="", mime_type="")], FACILITATOR)
    assert bare == {"x402Version": 1, "accepts": [tip20.requirement(dataclasses.replace(OFFER, description="", mime_type=""), FACILITATOR)]}
    assert set(bare["accepts"][0]) == {"scheme", "network", "price", "asset", "amount", "payTo", "maxTimeoutSeconds", "facilitatorAddress"}


def test_read_requirement_reads_the_seed_body_and_our_header() -> None:
    """What a payer reads back: the seed's entry (top-level facilitatorAddress) and our v2 header's (in extra)."""
    spender = wire.parse_address(FACILITATOR)
    expected = dataclasses.replace(OFFER, description="", mime_type="", extra={"facilitatorAddress": spender})
    assert tip20.read_requirement(tip20.requirement(OFFER, FACILITATOR)) == expected
    assert tip20.read_requirement(expected.to_v2()) == expected
    bare = {k: v for k, v in tip20.requirement(OFFER, FACILITATOR).items() if k != "facilitatorAddress"}
    assert tip20.read_requirement(bare).extra == {} and tip20.spender(tip20.read_requirement(bare)) is None
    assert tip20.spender(expected) == spender


@pytest.mark.parametrize("change", [
    {"scheme": "exact"}, {"network": "base"}, {"network": 42431}, {"amount": 1000}, {"amount": "-1"}, {"asset": "pathUSD"},
    {"payTo": None}, {"maxTimeoutSeconds": "30"}, {"maxTimeoutSeconds": True}, {"maxTimeoutSeconds": 2**64}, {"facilitatorAddress": "me"},
])
def test_read_requirement_refuses_malformed_entries(change: dict[str, Any]) -> None:
    with pytest.raises(WireError):
        tip20.read_requirement({**tip20.requirement(OFFER, FACILITATOR), **change})
    with pytest.raises(WireError):
        tip20.read_requirement(["not", "an", "object"])


def test_is_payment_tells_the_dialect_from_v1_and_v2() -> None:
    assert tip20.is_payment(good())
    assert not tip20.is_payment({**good(), "x402Version": 2})
    assert not tip20.is_payment({**good(), "x402Version": True})
    assert not tip20.is_payment({**good(), "scheme": "exact", "network": "base"})  # a v1 exact payment
    assert not tip20.is_payment({**good(), "accepted": {}})  # a v2 payment
    assert not tip20.is_payment({})


# ---------------------------------------------------------------- payload


def test_sign_matches_the_seed_client() -> None:
    payload = good()["payload"]
    assert good()["x402Version"] == 1
    assert (payload["validAfter"], payload["validBefore"]) == (NOW - 60, NOW + 30)
    assert (payload["value"], payload["token"], payload["to"], payload["from"]) == ("1000", PATH_USD, PAY_TO, PAYER.address)
    assert len(bytes.fromhex(payload["signature"][2:])) == 65 and payload["signature"][-2:] in ("1b", "1c")
    long_offer = dataclasses.replace(OFFER, max_timeout=10_000)
    assert tip20.sign(WALLET, long_offer, NOW)["payload"]["validBefore"] == NOW + 600


def test_parse_round_trip() -> None:
    parsed = tip20.parse(good())
    assert tip20.payment_json(parsed) == good()
    assert parsed.authorization == PaymentAuthorization(PAYER.address, PAY_TO, 1000, PATH_USD, NOW - 60, NOW + 30, NONCE)


def test_typed_data_is_the_seeds() -> None:
    data = tip20.typed_data(tip20.parse(good()).authorization, 42431)
    assert data["domain"] == {"name": "x402-tempo", "version": "1", "chainId": 42431, "verifyingContract": PATH_USD}
    fields = ",".join(f"{f['type']} {f['name']}" for f in data["types"][data["primaryType"]])
    assert f"{data['primaryType']}({fields})" == (
        "PaymentAuthorization(address from,address to,uint256 value,address token,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    )


def replaced(key: str, value: Any) -> dict[str, Any]:
    """A valid payment with one payload field replaced (`...` deletes it)."""
    payment = good()
    if value is ...:
        del payment["payload"][key]
    else:
        payment["payload"][key] = value
    return payment


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        pytest.param([], "invalid_x402_version", id="not-object"),
        pytest.param({**good(), "x402Version": 2}, "invalid_x402_version", id="v2"),
        pytest.param({**good(), "x402Version": True}, "invalid_x402_version", id="bool-version"),
        pytest.param({"payload": good()["payload"]}, "invalid_x402_version", id="no-version"),
        pytest.param({"x402Version": 1}, "invalid_payload", id="no-payload"),
        pytest.param(replaced("value", 1000), "invalid_payload", id="int-value"),
        pytest.param(replaced("validAfter", str(NOW)), "invalid_payload", id="string-valid-after"),
        pytest.param(replaced("validBefore", -1), "invalid_payload", id="negative-valid-before"),
        pytest.param(replaced("validBefore", 2**64), "invalid_payload", id="u64-overflow"),
        pytest.param(replaced("validAfter", 1.5), "invalid_payload", id="float-valid-after"),
        pytest.param(replaced("token", "pathUSD"), "invalid_payload", id="token-name"),
        pytest.param(replaced("nonce", "0x00"), "invalid_payload", id="short-nonce"),
        pytest.param(replaced("signature", "0xZZ"), "invalid_payload", id="non-hex-signature"),
        pytest.param(replaced("from", ...), "invalid_payload", id="no-from"),
    ],
)
def test_parse_rejects(obj: Any, reason: str) -> None:
    with pytest.raises(WireError) as caught:
        tip20.parse(obj)
    assert caught.value.reason == reason


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
))
def test_parse_raises_only_wire_error(obj: Any) -> None:
    for candidate in (obj, {"x402Version": 1, "payload": obj}):
        try:
            parsed = tip20.parse(candidate)
        except WireError:
            pass
        else:
            assert isinstance(parsed, tip20.Tip20Payload)


# ---------------------------------------------------------------- check: the seed's rules


def test_good_payment_passes() -> None:
    assert check(good()) == (None, PAYER.address)


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (NOW - 61, "invalid_tip20_valid_after"),
        (NOW - 60, None),
        (NOW + 29, None),
        (NOW + 30, "invalid_tip20_valid_before"),
    ],
)
def test_time_window_edges(now: int, reason: str | None) -> None:
    assert check(good(), now=now)[0] == reason


@pytest.mark.parametrize(
    ("max_timeout", "window", "reason"),
    [
        (30, 90, None),
        (30, 91, "invalid_tip20_window"),
        (600, 300, None),
        (600, 301, "invalid_tip20_window"),
    ],
)
def test_window_cap_is_min_of_300_and_timeout_plus_60(max_timeout: int, window: int, reason: str | None) -> None:
    payment = forged(valid_after=NOW - 10, valid_before=NOW - 10 + window)
    assert check(payment, dataclasses.replace(OFFER, max_timeout=max_timeout))[0] == reason


@pytest.mark.parametrize(
    ("payment", "reason"),
    [
        pytest.param(forged(sender=ZERO), "invalid_tip20_zero_address", id="zero-from"),
        pytest.param(forged(receiver=ZERO), "invalid_tip20_zero_address", id="zero-to"),
        pytest.param(forged(token=ZERO), "invalid_tip20_zero_address", id="zero-token"),
        pytest.param(forged(receiver=PAYER.address), "invalid_tip20_self_payment", id="self-payment"),
        pytest.param(forged(signer=OTHER), "invalid_tip20_signature", id="wrong-signer"),
        pytest.param(replaced("signature", good()["payload"]["signature"] + "00"), "invalid_tip20_signature", id="66-byte-signature"),
        pytest.param(forged(token="0x20C0000000000000000000000000000000000001"), "invalid_tip20_token_mismatch", id="token"),
        pytest.param(forged(receiver=OTHER.address), "invalid_tip20_recipient_mismatch", id="recipient"),
        pytest.param(forged(value=999), "invalid_tip20_value", id="underpaid"),
        pytest.param(forged(value=0), "invalid_tip20_value", id="zero-value"),
    ],
)
def test_check_rejects(payment: dict[str, Any], reason: str) -> None:
    assert check(payment) == (reason, wire.parse_address(payment["payload"]["from"]))


def test_overpayment_is_accepted() -> None:
    assert check(forged(value=5000)) == (None, PAYER.address)


def test_zero_price_is_refused() -> None:
    assert check(forged(value=0), dataclasses.replace(OFFER, amount=0))[0] == "invalid_tip20_value"


def test_offer_scheme_and_network_are_checked() -> None:
    assert check(good(), dataclasses.replace(OFFER, scheme="exact"))[0] == "unsupported_scheme"
    assert check(good(), dataclasses.replace(OFFER, network="tempo"))[0] == "invalid_network"


def test_signature_is_bound_to_the_chain() -> None:
    assert check(good(), dataclasses.replace(OFFER, network="eip155:4217"))[0] == "invalid_tip20_signature"


def test_high_s_and_parity() -> None:
    signature = bytes.fromhex(good()["payload"]["signature"][2:])
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    assert check(replaced("signature", "0x" + (signature[:64] + bytes([v - 27])).hex()))[0] is None
    twin = r + (exact.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    assert check(replaced("signature", "0x" + twin.hex()))[0] == "invalid_tip20_signature"


def test_rules_apply_in_the_seeds_order() -> None:
    late = NOW + 10_000
    assert check(forged(signer=OTHER, value=1), now=late)[0] == "invalid_tip20_valid_before"
    assert check(forged(signer=OTHER, value=1))[0] == "invalid_tip20_signature"
    assert check(forged(token="0x20C0000000000000000000000000000000000001", value=1))[0] == "invalid_tip20_token_mismatch"
