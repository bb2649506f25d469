"""The x402 `exact` scheme over EIP-3009 transferWithAuthorization: parsing, EIP-712, off-chain checks, signing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError, keccak, to_checksum_address

from .wire import Offer, Payment, WireError, chain_id_of, parse_address, parse_hex, parse_uint

SCHEME = "exact"
# The SDK refuses authorizations that expire within this many seconds: settlement needs time to mine.
VALID_BEFORE_MARGIN = 6
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

EIP712_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
TRANSFER_WITH_AUTHORIZATION = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]
DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
TRANSFER_TYPEHASH = keccak(
    text="TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)
SETTLE_SELECTOR = keccak(text="transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)")[:4]


class TypedSigner(Protocol):
    """Anything that signs full EIP-712 messages for an address, such as the identity plugin's `Signer`."""

    @property
    def address(self) -> str: ...

    def sign_typed_data(self, full_message: dict[str, Any]) -> bytes: ...


@dataclass(frozen=True)
class Authorization:
    """An EIP-3009 TransferWithAuthorization message."""

    sender: str
    receiver: str
    value: int
    valid_after: int
    valid_before: int
    nonce: bytes

    @property
    def nonce_hex(self) -> str:
        """The nonce as 0x hex, its form on the wire and in the settlement book."""
        return "0x" + self.nonce.hex()


@dataclass(frozen=True)
class ExactPayload:
    """An exact-scheme payload: the authorization and the payer's signature over it."""

    authorization: Authorization
    signature: bytes


def parse_exact(payload: dict[str, Any]) -> ExactPayload:
    """Validate an exact/EIP-3009 payload object, raising WireError("invalid_payload") when malformed."""
    auth = payload.get("authorization") if isinstance(payload, dict) else None
    if not isinstance(auth, dict):
        raise WireError("invalid_payload", "payload.authorization must be an object")
    return ExactPayload(
        Authorization(
            sender=parse_address(auth.get("from")),
            receiver=parse_address(auth.get("to")),
            value=parse_uint(auth.get("value")),
            valid_after=parse_uint(auth.get("validAfter")),
            valid_before=parse_uint(auth.get("validBefore")),
            nonce=parse_hex(auth.get("nonce"), 32, 32),
        ),
        parse_hex(payload.get("signature"), min_length=65),
    )


def domain(name: str, version: str, chain_id: int, token: str) -> dict[str, Any]:
    """An EIP-712 domain bound to a token contract on a chain."""
    return {"name": name, "version": version, "chainId": chain_id, "verifyingContract": token}


def typed_data(auth: Authorization, chain_id: int, token: str, name: str, version: str) -> dict[str, Any]:
    """The full EIP-712 TransferWithAuthorization message for eth_account's encode_typed_data."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN, "TransferWithAuthorization": TRANSFER_WITH_AUTHORIZATION},
        "primaryType": "TransferWithAuthorization",
        "domain": domain(name, version, chain_id, token),
        "message": {
            "from": auth.sender,
            "to": auth.receiver,
            "value": auth.value,
            "validAfter": auth.valid_after,
            "validBefore": auth.valid_before,
            "nonce": auth.nonce,
        },
    }


def split_signature(signature: bytes) -> tuple[int, int, int] | None:
    """(v as 27/28, r, s) of a 65-byte low-s ECDSA signature, or None when it is not one."""
    if len(signature) != 65:
        return None
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    # High-s twins are refused (EIP-2): our token contract refuses them too, so they could never settle.
    if v not in (0, 1, 27, 28) or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        return None
    return (v if v >= 27 else v + 27), r, s


def recover_typed(message: dict[str, Any], signature: bytes) -> str | None:
    """The checksummed signer of a full EIP-712 message, or None when the signature is unusable."""
    vrs = split_signature(signature)
    if vrs is None:
        return None
    try:
        return str(Account.recover_message(encode_typed_data(full_message=message), vrs=vrs))
    except (BadSignature, ValidationError, ValueError):
        return None


def sign_typed(account: LocalAccount, message: dict[str, Any]) -> bytes:
    """The 65-byte r||s||v (v = 27/28) signature of a full EIP-712 message."""
    return bytes(account.sign_message(encode_typed_data(full_message=message)).signature)


def _word(address: str) -> bytes:
    return bytes.fromhex(address[2:]).rjust(32, b"\0")


@lru_cache(maxsize=256)
def domain_separator(name: str, version: str, chain_id: int, token: str) -> bytes:
    """The EIP-712 hash of a token's domain (`domain(...)`); a node sees only a few, so each is hashed once."""
    return keccak(DOMAIN_TYPEHASH + keccak(text=name) + keccak(text=version) + chain_id.to_bytes(32, "big") + _word(token))


def digest(auth: Authorization, chain_id: int, token: str, name: str, version: str) -> bytes:
    """The EIP-712 hash a payer signs: what `typed_data(...)` encodes, hashed without a generic encoder."""
    struct = keccak(
        TRANSFER_TYPEHASH + _word(auth.sender) + _word(auth.receiver) + auth.value.to_bytes(32, "big")
        + auth.valid_after.to_bytes(32, "big") + auth.valid_before.to_bytes(32, "big") + auth.nonce
    )
    return keccak(b"\x19\x01" + domain_separator(name, version, chain_id, token) + struct)


def recover(auth: Authorization, signature: bytes, chain_id: int, token: str, name: str, version: str) -> str | None:
    """The signer of an EIP-3009 authorization, or None when the signature is unusable."""
    vrs = split_signature(signature)
    if vrs is None:
        return None
    v, r, s = vrs
    try:
        public = keys.Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest(auth, chain_id, token, name, version))
    except (BadSignature, ValidationError, ValueError, OverflowError):
        return None
    return to_checksum_address(public.to_canonical_address())


def token_domain(offer: Offer) -> tuple[str, str] | None:
    """The token's EIP-712 (name, version) from an offer's extra, or None when absent."""
    name, version = offer.extra.get("name"), offer.extra.get("version")
    if isinstance(name, str) and isinstance(version, str):
        return name, version
    return None


def check(payment: Payment, offer: Offer, now: int) -> tuple[str | None, str]:
    """Run the SDK's off-chain exact/EIP-3009 verify rules in its order: (error reason or None, payer)."""
    try:
        parsed = parse_exact(payment.payload)
    except WireError as exc:
        return exc.reason, ""
    return rules(parsed, payment, offer, now), parsed.authorization.sender


def rules(parsed: ExactPayload, payment: Payment, offer: Offer, now: int) -> str | None:
    """`check` on a payload already parsed: the reason of the first rule it breaks, or None."""
    auth, payer = parsed.authorization, parsed.authorization.sender
    if payment.scheme != SCHEME:
        return "unsupported_scheme"
    if payment.caip2_network != offer.network:
        return "network_mismatch"
    try:
        chain_id = chain_id_of(offer.network)
    except WireError as exc:
        return exc.reason
    names = token_domain(offer)
    if names is None:
        return "missing_eip712_domain"
    if auth.receiver.lower() != offer.pay_to.lower():
        return "invalid_exact_evm_payload_recipient_mismatch"
    if auth.value != offer.amount:
        return "invalid_exact_evm_payload_authorization_value_mismatch"
    if auth.valid_before < now + VALID_BEFORE_MARGIN:
        return "invalid_exact_evm_payload_authorization_valid_before"
    if auth.valid_after > now:
        return "invalid_exact_evm_payload_authorization_valid_after"
    # Smart-wallet signatures (EIP-1271 / ERC-6492, longer than 65 bytes) need a chain to check: unsupported.
    if recover(auth, parsed.signature, chain_id, offer.asset, *names) != payer:
        return "invalid_exact_evm_payload_signature"
    return None


def authorization_json(auth: Authorization) -> dict[str, str]:
    """The wire form of an authorization: decimal strings and a 0x nonce."""
    return {
        "from": auth.sender,
        "to": auth.receiver,
        "value": str(auth.value),
        "validAfter": str(auth.valid_after),
        "validBefore": str(auth.valid_before),
        "nonce": auth.nonce_hex,
    }


def sign(
    signer: TypedSigner,
    offer: Offer,
    now: int,
    valid_after: int = 0,
    nonce: bytes | None = None,
    resource: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A v2 PaymentPayload paying `offer` from `signer`, valid until now + maxTimeoutSeconds."""
    names = token_domain(offer)
    if names is None:
        raise ValueError("the offer's extra lacks the token's EIP-712 name and version")
    auth = Authorization(
        sender=signer.address,
        receiver=parse_address(offer.pay_to),
        value=offer.amount,
        valid_after=valid_after,
        valid_before=now + offer.max_timeout,
        nonce=secrets.token_bytes(32) if nonce is None else nonce,
    )
    signature = signer.sign_typed_data(typed_data(auth, chain_id_of(offer.network), offer.asset, *names))
    body: dict[str, Any] = {
        "x402Version": 2,
        "accepted": offer.to_v2(),
        "payload": {"signature": "0x" + signature.hex(), "authorization": authorization_json(auth)},
    }
    if resource is not None:
        body["resource"] = resource
    return body


def settle_args(p: ExactPayload) -> tuple[str, str, int, int, int, bytes, int, bytes, bytes]:
    """Arguments for the v/r/s transferWithAuthorization overload, v normalised to 27/28."""
    vrs = split_signature(p.signature)
    if vrs is None:
        raise ValueError("settlement needs a 65-byte low-s ECDSA signature")
    v, r, s = vrs
    a = p.authorization
    return (
        a.sender, a.receiver, a.value, a.valid_after, a.valid_before, a.nonce,
        v, r.to_bytes(32, "big"), s.to_bytes(32, "big"),
    )


def settle_data(p: ExactPayload) -> bytes:
    """Calldata of the v/r/s transferWithAuthorization call that settles `p`.

    Every argument is a static 32-byte word, so the ABI encoding is their concatenation.
    """
    sender, receiver, value, valid_after, valid_before, nonce, v, r, s = settle_args(p)
    numbers = (value, valid_after, valid_before)
    return b"".join((SETTLE_SELECTOR, _word(sender), _word(receiver), *(n.to_bytes(32, "big") for n in numbers), nonce, v.to_bytes(32, "big"), r, s))
