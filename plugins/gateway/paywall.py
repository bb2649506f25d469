"""The x402 paywall in front of priced routes: 402 offers, verify, run, settle, and the headers of each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from colony.core.http import Request, Response

from . import exact, tip20
from .facilitator import Facilitator, Settlement, Verdict
from .settlement import FAILED, SETTLED, Record
from .tip20_facilitator import Tip20Facilitator
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

    def of(self, scheme: str) -> list[Offer]:
        """The offers in one scheme."""
        return [offer for offer in self.offers if offer.scheme == scheme]


@dataclass(frozen=True)
class Claim:
    """A parsed payment bound to the offer it pays, with the facilitator calls that verify and settle it."""

    scheme: str
    payer: str
    nonce: str
    offer: Offer
    verify: Callable[[], Awaitable[Verdict]]
    settle: Callable[[str], Awaitable[Settlement]]


class Paywall:
    """Turns a priced route's requests into x402 exchanges with the embedded facilitators."""

    def __init__(self, facilitator: Facilitator, tip20_facilitator: Tip20Facilitator, chain_id: int, on_paid: Callable[[Record], Awaitable[None]]) -> None:
        self.facilitator = facilitator
        self.tip20 = tip20_facilitator
        self.on_paid = on_paid
        self.book = facilitator.book
        self.v1 = v1_name(chain_id)
        self.ledger = Ledger()

    def required(self, terms: Terms, error: str = "", status: int = 402, settlement: Settlement | None = None, v1: bool = False) -> Response:
        """A 402 (or other refusal) carrying the offers in the header, and in the body for v1 and tempo-tip20 clients."""
        body = payment_required(terms.url, terms.offers, error=error, description=terms.description)
        headers = {"PAYMENT-REQUIRED": encode_header(body), "Cache-Control": "no-store"}
        seed = terms.of(tip20.SCHEME)
        if settlement is not None:
            headers[_response_header(v1)] = encode_header(_settle_json(settlement))
            body = {}  # a failed settlement withholds everything but the verdict
        elif seed:
            # The seed's clients read only the body, and only its own shape: every entry needs a price.
            body = tip20.payment_required(seed, self.tip20.address, terms.description)
            if error:
                body["error"] = error
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
            claim = self._claim(decode_header(header), terms, v1)
        except WireError as exc:
            return self.required(terms, f"{exc.reason}: {exc}")
        if claim is None:
            return self.required(terms, "No matching payment requirements")
        async with self.book.locked(claim.payer, claim.nonce, claim.scheme):
            record = self.book.get(claim.payer, claim.nonce, claim.scheme)
            # An exact nonce whose transaction failed is unused on chain and may try again; a tempo-tip20 one never.
            if record is not None and (record.state != FAILED or claim.scheme == tip20.SCHEME):
                return await self._known(request, handler, terms, record, v1)
            verdict = await claim.verify()
            if not verdict.valid:
                return self.required(terms, verdict.reason)
            offer = claim.offer
            request.payment = {"payer": claim.payer, "amount": offer.amount, "network": offer.network, "scheme": offer.scheme}
            if terms.settle_first:
                settlement = await claim.settle(terms.url)
                if not settlement.success:
                    return self._unsettled(terms, settlement, v1)
                return await self._deliver(request, handler, settlement, v1)
            response = await handler(request)
            if response.status >= 400:
                return response  # the handler failed: nothing is charged
            settlement = await claim.settle(terms.url)
            if not settlement.success:
                return self._unsettled(terms, settlement, v1)
            return await self._paid(response, settlement, v1)

    def _claim(self, obj: dict[str, Any], terms: Terms, v1: bool) -> Claim | None:
        """The payment a decoded header carries and the offer it pays, or None when it pays none of them."""
        if not v1 and tip20.is_payment(obj):
            seed = tip20.parse(obj)
            offers = terms.of(tip20.SCHEME)
            if not offers:
                raise WireError("unsupported_scheme", "this route does not accept tempo-tip20 payments")
            offer, auth = offers[0], seed.authorization
            return Claim(
                tip20.SCHEME, auth.sender, auth.nonce_hex, offer,
                lambda: self.tip20.verify(seed, offer),
                lambda route: self.tip20.settle(seed, offer, route=route, verified=True),
            )
        payment = parse_payment(obj)
        auth = exact.parse_exact(payment.payload).authorization
        offer = match(payment, terms.of(exact.SCHEME))
        if offer is None:
            return None
        return Claim(
            exact.SCHEME, auth.sender, auth.nonce_hex, offer,
            lambda: self.facilitator.verify(payment, offer),
            lambda route: self.facilitator.settle(payment, offer, route=route, verified=True),
        )

    async def reconcile(self, record: Record, timeout: float | None = None) -> Settlement:
        """Settle the books on a recorded payment with the facilitator of its scheme."""
        if record.scheme == tip20.SCHEME:
            return await self.tip20.reconcile(record, timeout)
        return await self.facilitator.reconcile(record, timeout)

    async def _known(self, request: Request, handler: Handler, terms: Terms, record: Record, v1: bool) -> Response:
        """A payment seen before: a replay gets a 402; an unfinished one is reconciled, then served once."""
        if record.state == FAILED or (record.state == SETTLED and record.delivered):
            return self.required(terms, tip20.NONCE_USED if record.scheme == tip20.SCHEME else "invalid_exact_evm_nonce_already_used")
        settlement = await self.reconcile(record)
        if not settlement.success:
            return self._unsettled(terms, settlement, v1)
        request.payment = {"payer": record.payer, "amount": record.amount, "network": record.network, "scheme": record.scheme}
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

