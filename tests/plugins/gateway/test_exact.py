"""The exact/EIP-3009 scheme off chain: parsing, EIP-712, the SDK's verify rules, signing and interop with the SDK."""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import eth_abi
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from x402 import x402ClientSync
from x402.mechanisms.evm import EthAccountSigner
from x402.mechanisms.evm.eip712 import hash_eip3009_authorization
from x402.mechanisms.evm.exact import ExactEvmClientScheme, register_exact_evm_client
from x402.mechanisms.evm.types import ExactEIP3009Authorization
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements

from colony.plugins.chain.build import load_artifact
from colony.plugins.gateway import exact, wire
from colony.plugins.gateway.exact import Authorization
from colony.plugins.gateway.wire import Offer, WireError
from colony.plugins.identity.keys import Signer

NOW = 1_700_000_000
PAYER = Account.from_key(b"\x33" * 32)
SIGNER = Signer(PAYER, "payer")
OTHER = Account.from_key(b"\x44" * 32)
TOKEN = "0x" + "ab" * 20
PAY_TO = "0x" + "cd" * 20
NONCE = b"\x07" * 32
OFFER = Offer("exact", "eip155:31337", 1000, TOKEN, PAY_TO, 300, {"name": "Colony Dollar", "version": "1"})
N = exact.SECP256K1_N


def check(payment: dict[str, Any], offer: Offer = OFFER, now: int = NOW) -> tuple[str | None, str]:
    """Run exact.check on a payment dict sent through the header codec."""
    return exact.check(wire.parse_payment(wire.decode_header(wire.encode_header(payment))), offer, now)


def with_signature(payment: dict[str, Any], signature: bytes) -> dict[str, Any]:
    """A copy of a payment carrying another signature."""
    changed = copy.deepcopy(payment)
    changed["payload"]["signature"] = "0x" + signature.hex()
    return changed


def forged(signer: Any = PAYER, sender: str = PAYER.address, chain_id: int = 31337, token: str = TOKEN,
           name: str = "Colony Dollar", version: str = "1") -> dict[str, Any]:
    """A payment for OFFER whose signature is made by `signer` over a possibly different EIP-712 domain."""
    auth = Authorization(sender, wire.parse_address(PAY_TO), 1000, 0, NOW + 300, NONCE)
    payment = exact.sign(SIGNER, OFFER, NOW, nonce=NONCE)
    payment["payload"]["authorization"] = exact.authorization_json(auth)
    return with_signature(payment, exact.sign_typed(signer, exact.typed_data(auth, chain_id, token, name, version)))


def good() -> dict[str, Any]:
    """A valid payment for OFFER at NOW."""
    return exact.sign(SIGNER, OFFER, NOW, nonce=NONCE)


# ---------------------------------------------------------------- parsing


def test_parse_exact_round_trip_and_checksums() -> None:
    payload = good()["payload"]
    payload["authorization"]["to"] = PAY_TO.upper().replace("0X", "0x")
    parsed = exact.parse_exact(payload)
    assert parsed.authorization == Authorization(PAYER.address, wire.parse_address(PAY_TO), 1000, 0, NOW + 300, NONCE)
    assert len(parsed.signature) == 65


def bad_payload(key: str, value: Any) -> dict[str, Any]:
    """A valid payload with one authorization field (or the signature) replaced; `...` deletes it."""
    payload = good()["payload"]
    target = payload if key == "signature" else payload["authorization"]
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({}, id="no-authorization"),
        pytest.param({"authorization": [], "signature": "0x"}, id="list-authorization"),
        pytest.param(bad_payload("from", "0x1234"), id="short-from"),
        pytest.param(bad_payload("to", "cd" * 20 + "cd"), id="no-0x-to"),
        pytest.param(bad_payload("to", "0x" + "zz" * 20), id="non-hex-to"),
        pytest.param(bad_payload("value", 1000), id="int-value"),
        pytest.param(bad_payload("value", "1000.0"), id="fraction-value"),
        pytest.param(bad_payload("value", "-1"), id="negative-value"),
        pytest.param(bad_payload("value", str(2**256)), id="overflow-value"),
        pytest.param(bad_payload("validAfter", ""), id="empty-valid-after"),
        pytest.param(bad_payload("validBefore", ...), id="no-valid-before"),
        pytest.param(bad_payload("nonce", "0x" + "07" * 31), id="short-nonce"),
        pytest.param(bad_payload("nonce", "07" * 32), id="no-0x-nonce"),
        pytest.param(bad_payload("signature", "0x" + "11" * 64), id="64-byte-signature"),
        pytest.param(bad_payload("signature", "0x" + "1" * 131), id="odd-hex-signature"),
        pytest.param(bad_payload("signature", ...), id="no-signature"),
    ],
)
def test_parse_exact_rejects(payload: dict[str, Any]) -> None:
    with pytest.raises(WireError) as caught:
        exact.parse_exact(payload)
    assert caught.value.reason == "invalid_payload"


@given(st.dictionaries(st.sampled_from(["from", "to", "value", "validAfter", "validBefore", "nonce"]),
                       st.none() | st.integers() | st.text() | st.lists(st.integers())),
       st.none() | st.text() | st.integers())
def test_parse_exact_raises_only_wire_error(authorization: dict[str, Any], signature: Any) -> None:
    for payload in ({"authorization": authorization, "signature": signature}, authorization):
        try:
            parsed = exact.parse_exact(payload)
        except WireError as refused:
            assert refused.reason == "invalid_payload"
        else:
            assert isinstance(parsed, exact.ExactPayload)


# ---------------------------------------------------------------- EIP-712


def test_typehash_is_eip3009s() -> None:
    fields = ",".join(f"{f['type']} {f['name']}" for f in exact.TRANSFER_WITH_AUTHORIZATION)
    assert keccak(text=f"TransferWithAuthorization({fields})").hex() == "7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267"


def test_digest_equals_the_sdks() -> None:
    auth = Authorization(PAYER.address, wire.parse_address(PAY_TO), 1000, 5, NOW, NONCE)
    signable = encode_typed_data(full_message=exact.typed_data(auth, 31337, TOKEN, "Colony Dollar", "1"))
    ours = keccak(b"\x19" + signable.version + signable.header + signable.body)
    sdk_auth = ExactEIP3009Authorization(PAYER.address, PAY_TO, "1000", "5", str(NOW), "0x" + NONCE.hex())
    assert ours == hash_eip3009_authorization(sdk_auth, 31337, TOKEN, "Colony Dollar", "1")


# ---------------------------------------------------------------- check: the SDK's rules


def test_good_payment_passes() -> None:
    assert check(good()) == (None, PAYER.address)


@pytest.mark.parametrize(
    "payment",
    [
        pytest.param(forged(name="USD Coin"), id="domain-name"),
        pytest.param(forged(version="2"), id="domain-version"),
        pytest.param(forged(chain_id=1), id="domain-chain-id"),
        pytest.param(forged(token="0x" + "ef" * 20), id="domain-verifying-contract"),
        pytest.param(forged(signer=OTHER), id="wrong-signer"),
    ],
)
def test_wrong_domain_or_signer_is_rejected(payment: dict[str, Any]) -> None:
    assert check(forged()) == (None, PAYER.address)
    assert check(payment) == ("invalid_exact_evm_payload_signature", PAYER.address)


def test_recovery_parity_and_high_s() -> None:
    signature = bytes.fromhex(good()["payload"]["signature"][2:])
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    assert v in (27, 28)
    assert check(with_signature(good(), signature[:64] + bytes([v - 27]))) == (None, PAYER.address)
    assert check(with_signature(good(), signature[:64] + bytes([v + 2]))) == ("invalid_exact_evm_payload_signature", PAYER.address)
    twin_v = 55 - v  # the high-s twin of a signature has the other parity
    twin = r + (N - s).to_bytes(32, "big") + bytes([twin_v])
    auth = exact.parse_exact(good()["payload"]).authorization
    message = encode_typed_data(full_message=exact.typed_data(auth, 31337, TOKEN, "Colony Dollar", "1"))
    assert Account.recover_message(message, vrs=(twin_v, int.from_bytes(r, "big"), N - s)) == PAYER.address
    assert check(with_signature(good(), twin)) == ("invalid_exact_evm_payload_signature", PAYER.address)


def test_smart_wallet_signatures_are_unsupported() -> None:
    signature = bytes.fromhex(good()["payload"]["signature"][2:])
    assert check(with_signature(good(), signature + b"\x00" * 32)) == ("invalid_exact_evm_payload_signature", PAYER.address)


@pytest.mark.parametrize(
    ("valid_before_offset", "reason"),
    [(5, "invalid_exact_evm_payload_authorization_valid_before"), (6, None), (-1, "invalid_exact_evm_payload_authorization_valid_before")],
)
def test_valid_before_edge(valid_before_offset: int, reason: str | None) -> None:
    now = NOW + OFFER.max_timeout - valid_before_offset  # the payment's validBefore is NOW + max_timeout
    assert check(good(), now=now)[0] == reason


@pytest.mark.parametrize(
    ("valid_after", "reason"),
    [(0, None), (NOW - 600, None), (NOW, None), (NOW + 1, "invalid_exact_evm_payload_authorization_valid_after")],
)
def test_valid_after_edge(valid_after: int, reason: str | None) -> None:
    assert check(exact.sign(SIGNER, OFFER, NOW, valid_after=valid_after)) == (reason, PAYER.address)


def changed_offer(**changes: Any) -> Offer:
    """OFFER with some fields replaced."""
    return dataclasses.replace(OFFER, **changes)


@pytest.mark.parametrize(
    ("payment", "offer", "reason"),
    [
        pytest.param({**good(), "accepted": {**OFFER.to_v2(), "scheme": "upto"}}, OFFER, "unsupported_scheme", id="scheme"),
        pytest.param(good(), changed_offer(network="eip155:1"), "network_mismatch", id="network"),
        pytest.param({**good(), "accepted": {**OFFER.to_v2(), "network": "eip155:01"}}, changed_offer(network="eip155:01"),
                     "invalid_network", id="chain-id"),
        pytest.param(good(), changed_offer(extra={"name": "Colony Dollar"}), "missing_eip712_domain", id="no-version"),
        pytest.param(good(), changed_offer(extra={"version": "1"}), "missing_eip712_domain", id="no-name"),
        pytest.param(good(), changed_offer(pay_to="0x" + "ce" * 20), "invalid_exact_evm_payload_recipient_mismatch", id="recipient"),
        pytest.param(good(), changed_offer(amount=999), "invalid_exact_evm_payload_authorization_value_mismatch", id="value-over"),
        pytest.param(good(), changed_offer(amount=1001), "invalid_exact_evm_payload_authorization_value_mismatch", id="value-under"),
    ],
)
def test_check_rejects(payment: dict[str, Any], offer: Offer, reason: str) -> None:
    assert check(payment, offer) == (reason, PAYER.address)


def test_recipient_compares_case_insensitively() -> None:
    assert check(good(), changed_offer(pay_to=PAY_TO.upper().replace("0X", "0x"))) == (None, PAYER.address)


def test_rules_apply_in_the_sdks_order() -> None:
    expired = changed_offer(pay_to="0x" + "ce" * 20, amount=5)
    assert check(good(), expired, now=NOW + 10_000)[0] == "invalid_exact_evm_payload_recipient_mismatch"
    assert check(good(), changed_offer(amount=5), now=NOW + 10_000)[0] == "invalid_exact_evm_payload_authorization_value_mismatch"
    bad_signature = with_signature(good(), b"\x01" * 65)
    assert check(bad_signature, now=NOW + 10_000)[0] == "invalid_exact_evm_payload_authorization_valid_before"


def test_malformed_payload_has_no_payer() -> None:
    payment = good()
    payment["payload"]["authorization"]["value"] = "lots"
    assert check(payment) == ("invalid_payload", "")


def test_v1_payment_is_checked_against_its_caip2_network() -> None:
    offer = changed_offer(network="eip155:84532")
    v2 = exact.sign(SIGNER, offer, NOW)
    v1 = {"x402Version": 1, "scheme": "exact", "network": "base-sepolia", "payload": v2["payload"]}
    assert check(v1, offer) == (None, PAYER.address)
    assert check({**v1, "network": "base"}, offer) == ("network_mismatch", PAYER.address)


# ---------------------------------------------------------------- interop with the official SDK client


def sdk_payment(offer: Offer) -> dict[str, Any]:
    """A payment produced by the SDK's x402 client for our 402 body."""
    client = x402ClientSync()
    register_exact_evm_client(client, EthAccountSigner(PAYER))
    client.set_spend_controls(False)  # our test token is not in the SDK's default-asset allowlist
    required = PaymentRequired.model_validate(wire.payment_required("https://node/paid", [offer]))
    return client.create_payment_payload(required).model_dump(by_alias=True, exclude_none=True)


def test_sdk_client_payment_is_accepted() -> None:
    payment = sdk_payment(OFFER)
    parsed = wire.parse_payment(wire.decode_header(wire.encode_header(payment)))
    assert wire.match(parsed, [OFFER]) is OFFER
    # The SDK stamps validBefore from the wall clock, so the check must run at the real time.
    assert exact.check(parsed, OFFER, int(time.time())) == (None, PAYER.address)
    assert exact.check(parsed, changed_offer(amount=999), int(time.time()))[0] == "invalid_exact_evm_payload_authorization_value_mismatch"


def test_sdk_scheme_inner_payload_is_accepted() -> None:
    inner = ExactEvmClientScheme(EthAccountSigner(PAYER)).create_payment_payload(PaymentRequirements.model_validate(OFFER.to_v2()))
    payment = {"x402Version": 2, "accepted": OFFER.to_v2(), "payload": inner}
    assert exact.check(wire.parse_payment(payment), OFFER, int(time.time())) == (None, PAYER.address)


def test_our_payment_parses_with_the_sdk() -> None:
    payment = exact.sign(SIGNER, OFFER, NOW, nonce=NONCE, resource={"url": "https://node/paid"})
    model = PaymentPayload.model_validate(payment)
    assert model.accepted.amount == "1000" and model.resource is not None and model.resource.url == "https://node/paid"
    assert payment["payload"]["authorization"]["nonce"] == "0x" + NONCE.hex()
    assert payment == exact.sign(SIGNER, OFFER, NOW, nonce=NONCE, resource={"url": "https://node/paid"})
    assert exact.sign(SIGNER, OFFER, NOW)["payload"]["authorization"]["nonce"] != exact.sign(SIGNER, OFFER, NOW)["payload"]["authorization"]["nonce"]


def test_sign_needs_the_token_domain() -> None:
    with pytest.raises(ValueError, match="EIP-712"):
        exact.sign(SIGNER, changed_offer(extra={}), NOW)


# ---------------------------------------------------------------- settlement arguments


def test_settle_args_normalise_v() -> None:
    parsed = exact.parse_exact(good()["payload"])
    signature = parsed.signature
    low_v = exact.ExactPayload(parsed.authorization, signature[:64] + bytes([signature[64] - 27]))
    for payload in (parsed, low_v):
        args = exact.settle_args(payload)
        assert args == (PAYER.address, wire.parse_address(PAY_TO), 1000, 0, NOW + 300, NONCE,
                        signature[64], signature[:32], signature[32:64])


def test_settle_args_refuse_unusable_signatures() -> None:
    parsed = exact.parse_exact(good()["payload"])
    with pytest.raises(ValueError):
        exact.settle_args(exact.ExactPayload(parsed.authorization, parsed.signature + b"\x00"))


# ---------------------------------------------------------------- the hand-made encodings against the generic ones


ADDRESSES = st.binary(min_size=20, max_size=20).map(to_checksum_address)
UINT256 = st.integers(0, 2**256 - 1)
AUTHORIZATIONS = st.builds(Authorization, ADDRESSES, ADDRESSES, UINT256, UINT256, UINT256, st.binary(min_size=32, max_size=32))
DOMAINS = st.tuples(UINT256, ADDRESSES, st.text(max_size=40), st.text(max_size=10))
TOKEN_ABI = Web3().eth.contract(abi=load_artifact("stablecoin")["abi"])
SETTLE_TYPES = ["address", "address", "uint256", "uint256", "uint256", "bytes32", "uint8", "bytes32", "bytes32"]


@given(AUTHORIZATIONS, DOMAINS)
def test_hand_made_digest_equals_encode_typed_datas(auth: Authorization, names: tuple[int, str, str, str]) -> None:
    chain_id, token, name, version = names
    signable = encode_typed_data(full_message=exact.typed_data(auth, chain_id, token, name, version))
    assert exact.digest(auth, chain_id, token, name, version) == keccak(b"\x19" + signable.version + signable.header + signable.body)


@settings(max_examples=40)
@given(st.integers(1, N - 1), AUTHORIZATIONS, DOMAINS)
def test_recovery_returns_the_signer_of_random_keys(key: int, auth: Authorization, names: tuple[int, str, str, str]) -> None:
    chain_id, token, name, version = names
    account = Account.from_key(key.to_bytes(32, "big"))
    auth = dataclasses.replace(auth, sender=account.address)
    message = exact.typed_data(auth, chain_id, token, name, version)
    signature = exact.sign_typed(account, message)
    assert exact.recover(auth, signature, chain_id, token, name, version) == account.address == exact.recover_typed(message, signature)
    other = dataclasses.replace(auth, value=(auth.value + 1) % 2**256)
    assert exact.recover(other, signature, chain_id, token, name, version) != account.address


@given(AUTHORIZATIONS, st.integers(1, N - 1), st.integers(1, N // 2), st.sampled_from([0, 1, 27, 28]))
def test_settle_data_equals_the_abi_encoding(auth: Authorization, r: int, s: int, v: int) -> None:
    payload = exact.ExactPayload(auth, r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v]))
    args = exact.settle_args(payload)
    data = exact.settle_data(payload)
    assert data == bytes.fromhex(TOKEN_ABI.encode_abi("transferWithAuthorization", args=list(args))[2:])
    assert data == exact.SETTLE_SELECTOR + eth_abi.encode(SETTLE_TYPES, list(args))
