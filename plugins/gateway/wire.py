"""The x402 wire format, v1 and v2: header encoding, networks, offers, payments and facilitator responses."""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from colony.core.rpc import nesting

MAX_DEPTH = 32

# The SDK's v1 legacy network names (x402.mechanisms.evm.v1.constants.V1_NETWORKS) and their chain ids.
V1_NETWORKS: dict[str, int] = {
    "base": 8453,
    "base-sepolia": 84532,
    "avalanche": 43114,
    "avalanche-fuji": 43113,
    "polygon": 137,
    "polygon-amoy": 80002,
    "iotex": 4689,
    "sei": 1329,
    "sei-testnet": 1328,
    "abstract": 2741,
    "abstract-testnet": 11124,
    "peaq": 3338,
    "story": 1513,
    "educhain": 656476,
    "skale-base-sepolia": 1444673419,
    "megaeth": 4326,
    "monad": 143,
    "monad-testnet": 10143,
    "stable": 988,
    "stable-testnet": 2201,
    "celo": 42220,
}

# Leading zeros are refused so that caip2(chain_id_of(n)) == n, keeping exact-string matching sound.
_CAIP2 = re.compile(r"eip155:([1-9][0-9]{0,31})")
_DECIMAL = re.compile(r"[0-9]+")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


class WireError(ValueError):
    """A malformed or unacceptable x402 message; `reason` is its x402 error code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def encode_header(obj: dict[str, Any]) -> str:
    """Encode a JSON object as an x402 header value: compact UTF-8 JSON in standard padded base64."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_header(value: str | bytes, limit: int = 16384) -> dict[str, Any]:
    """Decode an x402 header value into a JSON object, raising only WireError."""
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(raw) > limit:
        raise WireError("invalid_payload", f"header is {len(raw)} bytes, over the {limit}-byte limit")
    raw = raw.strip(b" \t")
    try:
        decoded = base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise WireError("invalid_payload", f"header is not base64: {exc}") from None
    # Re-encoding rejects what validate=True lets through: missing padding and non-zero trailing bits.
    if base64.b64encode(decoded) != raw:
        raise WireError("invalid_payload", "header is not canonical padded standard base64")
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("invalid_payload", "header is not UTF-8") from None
    # Counting brackets is C-fast; the byte-by-byte walk runs only for the rare header that might nest deeply.
    if decoded.count(b"[") + decoded.count(b"{") > MAX_DEPTH and nesting(decoded) > MAX_DEPTH:
        raise WireError("invalid_payload", f"JSON nests deeper than {MAX_DEPTH} levels")
    try:
        obj = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except ValueError as exc:
        raise WireError("invalid_payload", f"header is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise WireError("invalid_payload", "header JSON is not an object")
    return obj


def _reject_constant(name: str) -> None:
    """Refuse NaN and Infinity, which are not JSON."""
    raise ValueError(f"{name} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build an object, refusing duplicate keys (parsers disagree on which one wins)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate object key")
    return obj


def caip2(chain_id: int) -> str:
    """The CAIP-2 identifier of an EVM chain, e.g. "eip155:8453"."""
    return f"eip155:{chain_id}"


def chain_id_of(network: str) -> int:
    """The chain id of a CAIP-2 "eip155:<decimal>" network."""
    found = _CAIP2.fullmatch(network) if isinstance(network, str) else None
    if found is None:
        raise WireError("invalid_network", f"{network!r} is not an eip155:<chain id> network")
    return int(found.group(1))


_V1_BY_NETWORK = {caip2(chain_id): name for name, chain_id in V1_NETWORKS.items()}


def v1_name(chain_id: int) -> str | None:
    """The legacy v1 name of a chain, or None when v1 clients cannot address it."""
    return _V1_BY_NETWORK.get(caip2(chain_id))


def parse_address(value: object) -> str:
    """A 0x-prefixed 20-byte hex address, checksum-normalised."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise WireError("invalid_payload", f"{value!r} is not a 0x address")
    return to_checksum_address(value)


def parse_uint(value: object) -> int:
    """A uint256 written as a decimal string."""
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value) or len(value) > 78:
        raise WireError("invalid_payload", f"{value!r} is not a decimal string")
    number = int(value)
    if number >= 2**256:
        raise WireError("invalid_payload", f"{value} does not fit in uint256")
    return number


def parse_hex(value: object, min_length: int = 0, max_length: int | None = None) -> bytes:
    """0x-prefixed hex bytes whose length lies within the given bounds."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise WireError("invalid_payload", f"{value!r} is not 0x hex")
    data = bytes.fromhex(value[2:])
    if len(data) < min_length or (max_length is not None and len(data) > max_length):
        raise WireError("invalid_payload", f"hex value has {len(data)} bytes")
    return data


@dataclass(frozen=True)
class Offer:
    """One way to pay for a resource: a PaymentRequirements entry with an int amount."""

    scheme: str
    network: str
    amount: int
    asset: str
    pay_to: str
    max_timeout: int
    extra: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    mime_type: str = ""

    def __post_init__(self) -> None:
        """Refuse amounts and timeouts that are not plain non-negative ints."""
        for name in ("amount", "max_timeout"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value < 2**256:
                raise ValueError(f"Offer.{name} must be an int in [0, 2**256), got {value!r}")

    def to_v2(self) -> dict[str, Any]:
        """The v2 PaymentRequirements JSON object."""
        return {
            "scheme": self.scheme,
            "network": self.network,
            "amount": str(self.amount),
            "asset": self.asset,
            "payTo": self.pay_to,
            "maxTimeoutSeconds": self.max_timeout,
            "extra": copy.deepcopy(self.extra),
        }

    def to_v1(self, resource_url: str) -> dict[str, Any] | None:
        """The v1 PaymentRequirements JSON object, or None when the network has no v1 name."""
        name = _V1_BY_NETWORK.get(self.network)
        if name is None:
            return None
        return {
            "scheme": self.scheme,
            "network": name,
            "maxAmountRequired": str(self.amount),
            "resource": resource_url,
            "description": self.description,
            "mimeType": self.mime_type,
            "payTo": self.pay_to,
            "maxTimeoutSeconds": self.max_timeout,
            "asset": self.asset,
            "extra": copy.deepcopy(self.extra),
        }


def payment_required(
    url: str, offers: list[Offer], error: str = "", description: str = "", mime_type: str = ""
) -> dict[str, Any]:
    """The v2 PaymentRequired object, sent base64-encoded in the PAYMENT-REQUIRED header."""
    resource: dict[str, Any] = {"url": url}
    if description:
        resource["description"] = description
    if mime_type:
        resource["mimeType"] = mime_type
    body: dict[str, Any] = {"x402Version": 2}
    if error:
        body["error"] = error
    body["resource"] = resource
    body["accepts"] = [offer.to_v2() for offer in offers]
    return body


def payment_required_v1(url: str, offers: list[Offer], error: str = "") -> dict[str, Any] | None:
    """The v1 402 body for the offers v1 can express, or None when there are none."""
    accepts = [req for req in (offer.to_v1(url) for offer in offers) if req is not None]
    if not accepts:
        return None
    return {"x402Version": 1, "error": error, "accepts": accepts}


@dataclass(frozen=True)
class Payment:
    """A client's PaymentPayload, v1 or v2, with its shape validated."""

    version: int
    scheme: str
    network: str
    accepted: dict[str, Any] | None
    payload: dict[str, Any]
    extensions: dict[str, Any]

    @property
    def caip2_network(self) -> str:
        """The payment's network as CAIP-2, translating v1 legacy names."""
        return caip2(V1_NETWORKS[self.network]) if self.version == 1 else self.network


def parse_payment(obj: dict[str, Any]) -> Payment:
    """Validate a decoded PaymentPayload (v1 or v2) and return it as a Payment."""
    if not isinstance(obj, dict):
        raise WireError("invalid_payload", "payment is not a JSON object")
    version = obj.get("x402Version")
    if type(version) is not int or version not in (1, 2):
        raise WireError("invalid_x402_version", f"unsupported x402Version {version!r}")
    payload = _member(obj, "payload", dict)
    extensions = _member(obj, "extensions", dict, optional=True) or {}
    if version == 1:
        scheme, network = _member(obj, "scheme", str), _member(obj, "network", str)
        if network not in V1_NETWORKS:
            raise WireError("invalid_network", f"{network!r} is not a v1 network name")
        return Payment(1, scheme, network, None, payload, extensions)
    _member(obj, "resource", dict, optional=True)
    accepted = _member(obj, "accepted", dict)
    for key in ("scheme", "network", "asset", "payTo"):
        _member(accepted, key, str)
    if not _DECIMAL.fullmatch(_member(accepted, "amount", str)):
        raise WireError("invalid_payload", "accepted.amount is not a decimal string")
    _member(accepted, "maxTimeoutSeconds", int)
    _member(accepted, "extra", dict, optional=True)
    return Payment(2, accepted["scheme"], accepted["network"], accepted, payload, extensions)


def _member(obj: dict[str, Any], key: str, kind: type, optional: bool = False) -> Any:
    """obj[key] when it has the JSON type `kind` (bool is not an int; strings are non-empty)."""
    value = obj.get(key)
    if value is None and optional:
        return None
    if type(value) is not kind or (kind is str and not value):
        raise WireError("invalid_payload", f"{key!r} must be a {'non-empty ' if kind is str else ''}{kind.__name__}")
    return value


def match(payment: Payment, offers: list[Offer]) -> Offer | None:
    """The offer a payment chose, by the SDK's rule (v2: exact terms, offer.extra a subset), or None."""
    for offer in offers:
        if payment.version == 1:
            if payment.scheme == offer.scheme and payment.caip2_network == offer.network:
                return offer
            continue
        accepted = payment.accepted or {}
        wanted = offer.to_v2()
        terms = ("scheme", "network", "amount", "asset", "payTo", "maxTimeoutSeconds")
        if all(accepted.get(key) == wanted[key] for key in terms) and _contains(
            wanted["extra"], accepted.get("extra") or {}
        ):
            return offer
    return None


def _contains(expected: Any, actual: Any) -> bool:
    """Whether `actual` holds every field of `expected` (recursively for objects; a None field may be absent)."""
    if not isinstance(expected, dict):
        return bool(expected == actual)
    return isinstance(actual, dict) and all(_contains(value, actual.get(key)) for key, value in expected.items())


def verify_response(valid: bool, reason: str = "", payer: str = "") -> dict[str, Any]:
    """A facilitator VerifyResponse object."""
    body: dict[str, Any] = {"isValid": valid}
    if reason:
        body["invalidReason"] = reason
    if payer:
        body["payer"] = payer
    return body


def settle_response(
    success: bool,
    network: str,
    transaction: str = "",
    reason: str = "",
    payer: str = "",
    amount: int | None = None,
) -> dict[str, Any]:
    """A SettleResponse object; `transaction` is always present (the SDK model requires it)."""
    body: dict[str, Any] = {"success": success, "transaction": transaction, "network": network}
    if reason:
        body["errorReason"] = reason
    if payer:
        body["payer"] = payer
    if amount is not None:
        body["amount"] = str(amount)
    return body


def parse_offer(obj: Any, version: int) -> Offer:
    """PaymentRequirements JSON (v1 or v2 field names) as an Offer; WireError when malformed."""
    if not isinstance(obj, dict):
        raise WireError("invalid_payment_requirements", "paymentRequirements must be an object")
    try:
        network = obj["network"]
        if version == 1:
            network = caip2(V1_NETWORKS[network])
        extra = obj.get("extra") or {}
        timeout = obj["maxTimeoutSeconds"]
        if not isinstance(network, str) or not isinstance(obj["scheme"], str) or not isinstance(extra, dict) or type(timeout) is not int:
            raise TypeError("a field has the wrong type")
        return Offer(
            scheme=obj["scheme"],
            network=network,
            amount=parse_uint(obj["maxAmountRequired" if version == 1 else "amount"]),
            asset=parse_address(obj["asset"]),
            pay_to=parse_address(obj["payTo"]),
            max_timeout=timeout,
            extra=extra,
        )
    except WireError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError("invalid_payment_requirements", f"paymentRequirements is malformed: {exc!r}") from None
