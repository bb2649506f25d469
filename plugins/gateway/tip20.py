"""The seed's non-standard `tempo-tip20` x402 dialect: 402 body, payload parsing, EIP-712, off-chain checks, signing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from .exact import EIP712_DOMAIN, TypedSigner, domain, recover_typed
from .prices import format_price
from .wire import Offer, WireError, chain_id_of, parse_address, parse_hex, parse_offer, parse_uint

SCHEME = "tempo-tip20"
DOMAIN_NAME = "x402-tempo"
DOMAIN_VERSION = "1"
# The seed facilitator's own cap on an authorization's lifetime, whatever the offer says.
MAX_WINDOW = 300
# The seed's payer backdates validAfter and caps validBefore, tolerating clock skew but bounding exposure.
SIGN_BACKDATE = 60
SIGN_MAX_LIFETIME = 600
# The longest maxTimeoutSeconds the seed's client can sign for within MAX_WINDOW, having backdated validAfter.
MAX_OFFER_TIMEOUT = MAX_WINDOW - SIGN_BACKDATE
NONCE_USED = "invalid_tip20_nonce_already_used"
ZERO_ADDRESS = "0x" + "00" * 20

PAYMENT_AUTHORIZATION = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "token", "type": "address"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]


@dataclass(frozen=True)
class PaymentAuthorization:
    """A tempo-tip20 PaymentAuthorization message."""

    sender: str
    receiver: str
    value: int
    token: str
    valid_after: int
    valid_before: int
    nonce: bytes

    @property
    def nonce_hex(self) -> str:
        """The nonce as 0x hex, its form on the wire and in the settlement book."""
        return "0x" + self.nonce.hex()


@dataclass(frozen=True)
class Tip20Payload:
    """A tempo-tip20 payment: the authorization and the payer's signature over it."""

    authorization: PaymentAuthorization
    signature: bytes


def requirement(offer: Offer, facilitator: str) -> dict[str, Any]:
    """One tempo-tip20 `accepts` entry; `facilitator` is the spender payers must approve."""
    body: dict[str, Any] = {
        "scheme": offer.scheme,
        "network": offer.network,
        "price": format_price(offer.amount),
        "asset": offer.asset,
        "amount": str(offer.amount),
        "payTo": offer.pay_to,
        "maxTimeoutSeconds": offer.max_timeout,
    }
    if offer.description:
        body["description"] = offer.description
    if offer.mime_type:
        body["mimeType"] = offer.mime_type
    body["facilitatorAddress"] = facilitator
    return body


def read_requirement(obj: Any) -> Offer:
    """A tempo-tip20 `accepts` entry (the seed's body, or our v2 header) as an Offer whose extra names the spender."""
    if not isinstance(obj, dict) or obj.get("scheme") != SCHEME:
        raise WireError("invalid_payment_requirements", "not a tempo-tip20 requirement")
    timeout = obj.get("maxTimeoutSeconds")
    if type(timeout) is not int or not 0 <= timeout < 2**64:
        raise WireError("invalid_payment_requirements", f"maxTimeoutSeconds {timeout!r} is not a u64")
    offer = parse_offer(obj, 2)
    chain_id_of(offer.network)  # only eip155:<chain id> networks
    # The seed puts the spender at the top level; our v2 header puts it in `extra`.
    spender = obj.get("facilitatorAddress") or offer.extra.get("facilitatorAddress")
    return replace(offer, extra={} if spender is None else {"facilitatorAddress": parse_address(spender)})


def spender(offer: Offer) -> str | None:
    """The facilitator a tempo-tip20 offer says to `approve`, or None when it names none."""
    found = offer.extra.get("facilitatorAddress")
    return found if isinstance(found, str) else None


def payment_required(
    offers: list[Offer], facilitator: str, description: str = "", mime_type: str = ""
) -> dict[str, Any]:
    """The dialect's 402 JSON body (v1-style, sent as the body with no PAYMENT-REQUIRED header)."""
    body: dict[str, Any] = {"x402Version": 1, "accepts": [requirement(offer, facilitator) for offer in offers]}
    if description:
        body["description"] = description
    if mime_type:
        body["mimeType"] = mime_type
    return body


def is_payment(obj: dict[str, Any]) -> bool:
    """Whether a decoded PAYMENT-SIGNATURE is in this dialect: x402Version 1 with neither v1's scheme nor v2's accepted."""
    version = obj.get("x402Version")
    return type(version) is int and version == 1 and "scheme" not in obj and "accepted" not in obj


def parse(obj: dict[str, Any]) -> Tip20Payload:
    """Validate a decoded tempo-tip20 PaymentPayload, raising WireError with the x402 reason."""
    version = obj.get("x402Version") if isinstance(obj, dict) else None
    if type(version) is not int or version != 1:
        raise WireError("invalid_x402_version", f"tempo-tip20 needs x402Version 1, got {version!r}")
    payload = obj.get("payload")
    if not isinstance(payload, dict):
        raise WireError("invalid_payload", "payload must be an object")
    return Tip20Payload(
        PaymentAuthorization(
            sender=parse_address(payload.get("from")),
            receiver=parse_address(payload.get("to")),
            value=parse_uint(payload.get("value")),
            token=parse_address(payload.get("token")),
            valid_after=_u64(payload.get("validAfter")),
            valid_before=_u64(payload.get("validBefore")),
            nonce=parse_hex(payload.get("nonce"), 32, 32),
        ),
        parse_hex(payload.get("signature")),
    )


def _u64(value: object) -> int:
    """A JSON integer in the u64 range (the seed's timestamp fields)."""
    if type(value) is not int or not 0 <= value < 2**64:
        raise WireError("invalid_payload", f"{value!r} is not a u64 JSON number")
    return value


def typed_data(auth: PaymentAuthorization, chain_id: int) -> dict[str, Any]:
    """The full EIP-712 PaymentAuthorization message, its domain bound to the token."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN, "PaymentAuthorization": PAYMENT_AUTHORIZATION},
        "primaryType": "PaymentAuthorization",
        "domain": domain(DOMAIN_NAME, DOMAIN_VERSION, chain_id, auth.token),
        "message": {
            "from": auth.sender,
            "to": auth.receiver,
            "value": auth.value,
            "token": auth.token,
            "validAfter": auth.valid_after,
            "validBefore": auth.valid_before,
            "nonce": auth.nonce,
        },
    }


def check(payment: Tip20Payload, offer: Offer, now: int) -> tuple[str | None, str]:
    """Run the seed facilitator's off-chain verify rules after parse (which checked the version): (reason, payer)."""
    auth, payer = payment.authorization, payment.authorization.sender
    if offer.scheme != SCHEME:
        return "unsupported_scheme", payer
    try:
        chain_id = chain_id_of(offer.network)
    except WireError as exc:
        return exc.reason, payer
    if now < auth.valid_after:
        return "invalid_tip20_valid_after", payer
    if now >= auth.valid_before:
        return "invalid_tip20_valid_before", payer
    if auth.valid_before - auth.valid_after > min(MAX_WINDOW, offer.max_timeout + 60):
        return "invalid_tip20_window", payer
    if ZERO_ADDRESS in (auth.sender, auth.receiver, auth.token):
        return "invalid_tip20_zero_address", payer
    if auth.sender == auth.receiver:
        return "invalid_tip20_self_payment", payer
    if recover_typed(typed_data(auth, chain_id), payment.signature) != payer:
        return "invalid_tip20_signature", payer
    if auth.token.lower() != offer.asset.lower():
        return "invalid_tip20_token_mismatch", payer
    if auth.receiver.lower() != offer.pay_to.lower():
        return "invalid_tip20_recipient_mismatch", payer
    if auth.value == 0 or offer.amount == 0 or auth.value < offer.amount:
        return "invalid_tip20_value", payer
    return None, payer


def sign(signer: TypedSigner, offer: Offer, now: int, nonce: bytes | None = None) -> dict[str, Any]:
    """A tempo-tip20 PaymentPayload paying `offer` from `signer`, as the seed's reference client builds it."""
    auth = PaymentAuthorization(
        sender=signer.address,
        receiver=parse_address(offer.pay_to),
        value=offer.amount,
        token=parse_address(offer.asset),
        valid_after=now - SIGN_BACKDATE,
        valid_before=now + min(offer.max_timeout, SIGN_MAX_LIFETIME),
        nonce=secrets.token_bytes(32) if nonce is None else nonce,
    )
    return payment_json(Tip20Payload(auth, signer.sign_typed_data(typed_data(auth, chain_id_of(offer.network)))))


def payment_json(payment: Tip20Payload) -> dict[str, Any]:
    """The wire form of a tempo-tip20 payment: value as a decimal string, timestamps as JSON numbers."""
    auth = payment.authorization
    return {
        "x402Version": 1,
        "payload": {
            "from": auth.sender,
            "to": auth.receiver,
            "value": str(auth.value),
            "token": auth.token,
            "validAfter": auth.valid_after,
            "validBefore": auth.valid_before,
            "nonce": auth.nonce_hex,
            "signature": "0x" + payment.signature.hex(),
        },
    }
