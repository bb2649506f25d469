"""The x402 paywall in front of priced routes: 402 offers, verify, run, settle, and the headers of each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from colony.core.http import Request, Response

from . import exact
from .facilitator import Facilitator, Settlement
from .settlement import FAILED, SETTLED, Record
from .wire import Offer, WireError, decode_header, encode_header, match, parse_payment, payment_required, payment_required_v1, settle_response, v1_name

Handler = Callable[[Request], Awaitable[Response]]
EXPOSED = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE"


@dataclass
class Ledger:
    """Counters the gateway reports: paid requests, refusals, revenue."""

    paid: int = 0
    refused: int = 0
    failed_settlements: int = 0
    pending_settlements: int = 0
    revenue: int = 0


@dataclass(frozen=True)
class Terms:
    """What the node asks for one priced route."""

    offers: list[Offer]
    url: str
    settle_first: bool = False
    description: str = ""


class Paywall:
    """Turns a priced route's requests into x402 exchanges with the embedded facilitator."""

    def __init__(self, facilitator: Facilitator, chain_id: int, on_paid: Callable[[Record], Awaitable[None]]) -> None:
        self.facilitator = facilitator
        self.on_paid = on_paid
        self.book = facilitator.book
        self.v1 = v1_name(chain_id)
        self.ledger = Ledger()

    def required(self, terms: Terms, error: str = "", status: int = 402, settlement: Settlement | None = None, v1: bool = False) -> Response:
        """A 402 (or other refusal) carrying the offers in the header, and in the body for v1 clients."""
        body = payment_required(terms.url, terms.offers, error=error, description=terms.description)
        headers = {"PAYMENT-REQUIRED": encode_header(body), "Cache-Control": "no-store"}
        if settlement is not None:
            headers[_response_header(v1)] = encode_header(_settle_json(settlement))
            body = {}  # a failed settlement withholds everything but the verdict
        elif self.v1:
            body = payment_required_v1(terms.url, terms.offers, error) or body
        self.ledger.refused += status == 402
        return Response.json(body, status, headers)

    async def serve(self, request: Request, handler: Handler, terms: Terms) -> Response:
        """Answer one request to a priced route."""
        header, v1 = request.headers.get("payment-signature"), False
        if header is None and self.v1 and "x-payment" in request.headers:
            header, v1 = request.headers["x-payment"], True
        if header is None:
            return self.required(terms)
        try:
            payment = parse_payment(decode_header(header))
            parsed = exact.parse_exact(payment.payload)
        except WireError as exc:
            return self.required(terms, f"{exc.reason}: {exc}")
        offer = match(payment, terms.offers)
        if offer is None:
            return self.required(terms, "No matching payment requirements")
        payer, nonce = parsed.authorization.sender, parsed.authorization.nonce_hex
        async with self.book.locked(payer, nonce):
            record = self.book.get(payer, nonce)
            if record is not None and record.state != FAILED:
                return await self._known(request, handler, terms, record, v1)
            verdict = await self.facilitator.verify(payment, offer)
            if not verdict.valid:
                return self.required(terms, verdict.reason)
            request.payment = {"payer": payer, "amount": offer.amount, "network": offer.network, "scheme": offer.scheme}
            if terms.settle_first:
                settlement = await self.facilitator.settle(payment, offer, route=terms.url, verified=True)
                if not settlement.success:
                    return self._unsettled(terms, settlement, v1)
                return await self._deliver(request, handler, settlement, v1)
            response = await handler(request)
            if response.status >= 400:
                return response  # the handler failed: nothing is charged
            settlement = await self.facilitator.settle(payment, offer, route=terms.url, verified=True)
            if not settlement.success:
                return self._unsettled(terms, settlement, v1)
            return await self._paid(response, settlement, v1)

    async def _known(self, request: Request, handler: Handler, terms: Terms, record: Record, v1: bool) -> Response:
        """A payment seen before: a replay gets a 402; an unfinished one is reconciled, then served once."""
        if record.state == SETTLED and record.delivered:
            return self.required(terms, "invalid_exact_evm_nonce_already_used")
        settlement = await self.facilitator.reconcile(record)
        if not settlement.success:
            return self._unsettled(terms, settlement, v1)
        request.payment = {"payer": record.payer, "amount": record.amount, "network": record.network, "scheme": exact.SCHEME}
        return await self._deliver(request, handler, settlement, v1)

    async def _deliver(self, request: Request, handler: Handler, settlement: Settlement, v1: bool) -> Response:
        """Run the handler for a payment that already settled."""
        assert request.payment is not None
        request.payment["transaction"] = settlement.transaction
        return await self._paid(await handler(request), settlement, v1)

    async def _paid(self, response: Response, settlement: Settlement, v1: bool) -> Response:
        """Mark the content delivered and attach the settlement receipt."""
        if settlement.record is not None:
            await self.facilitator.mark_delivered(settlement.record)
            self.ledger.paid += 1
            self.ledger.revenue += settlement.record.amount
            await self.on_paid(settlement.record)
        response.headers[_response_header(v1)] = encode_header(_settle_json(settlement))
        return response

    def _unsettled(self, terms: Terms, settlement: Settlement, v1: bool) -> Response:
        """No content for a payment that did not settle: 402, or 503 while the outcome is unknown."""
        if settlement.pending:
            # The money may still move: asking for a fresh payment now could charge twice.
            self.ledger.pending_settlements += 1
            response = self.required(terms, "settlement_pending", status=503, settlement=settlement, v1=v1)
            response.headers["Retry-After"] = "2"
            return response
        self.ledger.failed_settlements += 1
        return self.required(terms, settlement.reason, settlement=settlement, v1=v1)


def _response_header(v1: bool) -> str:
    return "X-PAYMENT-RESPONSE" if v1 else "PAYMENT-RESPONSE"


def _settle_json(s: Settlement) -> dict[str, object]:
    return settle_response(s.success, s.network, s.transaction, reason=s.reason, payer=s.payer)

