"""The facilitator's HTTP face: `/facilitator/supported`, `/verify` and `/settle` with the standard JSON."""

from __future__ import annotations

from typing import Any

from colony.core.http import Request

from . import exact
from .facilitator import Facilitator
from .wire import Offer, WireError, parse_offer, parse_payment, settle_response, v1_name, verify_response


class FacilitatorAPI:
    """Route handlers over one `Facilitator`; every answer is HTTP 200 with the verdict in the body."""

    def __init__(self, facilitator: Facilitator, open_settle: bool, own_wallet: str) -> None:
        self.facilitator = facilitator
        self.open_settle = open_settle
        self.own_wallet = own_wallet

    async def supported(self, request: Request) -> dict[str, Any]:
        """The schemes, networks and signer addresses this facilitator handles."""
        network = self.facilitator.chain.network
        kinds = [{"x402Version": 2, "scheme": exact.SCHEME, "network": network}]
        legacy = v1_name(self.facilitator.chain.chain_id)
        if legacy:
            kinds.append({"x402Version": 1, "scheme": exact.SCHEME, "network": legacy})
        return {"kinds": kinds, "extensions": [], "signers": {"eip155:*": [self.facilitator.signer.address]}}

    def _parse(self, request: Request) -> tuple[Any, Offer]:
        try:
            body = request.json()
        except ValueError:
            raise WireError("invalid_payload", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise WireError("invalid_payload", "the body must be a JSON object")
        payment = parse_payment(body.get("paymentPayload"))  # type: ignore[arg-type]
        return payment, parse_offer(body.get("paymentRequirements"), payment.version)

    async def verify(self, request: Request) -> dict[str, Any]:
        """Check a payment against requirements, without moving money."""
        try:
            payment, offer = self._parse(request)
        except WireError as exc:
            return verify_response(False, exc.reason)
        verdict = await self.facilitator.verify(payment, offer)
        return verify_response(verdict.valid, verdict.reason, verdict.payer)

    async def settle(self, request: Request) -> dict[str, Any]:
        """Settle a payment once, under its (payer, nonce) lock."""
        network = self.facilitator.chain.network
        try:
            payment, offer = self._parse(request)
            parsed = exact.parse_exact(payment.payload)
        except WireError as exc:
            return settle_response(False, network, reason=exc.reason)
        if not self.open_settle and offer.pay_to.lower() != self.own_wallet.lower():
            return settle_response(False, offer.network, reason="invalid_payment_requirements")
        auth = parsed.authorization
        async with self.facilitator.book.locked(auth.sender, auth.nonce_hex):
            record = self.facilitator.book.get(auth.sender, auth.nonce_hex)
            if record is not None and record.delivered:
                return settle_response(False, offer.network, reason="invalid_exact_evm_nonce_already_used", payer=auth.sender)
            settlement = await self.facilitator.settle(payment, offer, route="facilitator")
            if settlement.success and settlement.record is not None:
                await self.facilitator.mark_delivered(settlement.record)
        return settle_response(settlement.success, settlement.network, settlement.transaction, settlement.reason, settlement.payer, amount=offer.amount if settlement.success else None)

    def handlers(self) -> list[tuple[str, str, Any]]:
        """(method, path, handler) for the registrar."""
        return [("GET", "/facilitator/supported", self.supported), ("POST", "/facilitator/verify", self.verify), ("POST", "/facilitator/settle", self.settle)]

