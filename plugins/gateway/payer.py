"""Paying other x402 servers from the node's wallet: reading 402s, spend controls, signing and the paid retry."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Protocol, TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import trio

from colony.core import PluginContext, RPCError
from colony.core.rpc import loads
from colony.core.store import Namespace
from colony.plugins.chain import Chain, ChainError, TxSigner

from . import exact, tip20
from .wire import Offer, WireError, chain_id_of, decode_header, encode_header, parse_address, parse_offer, v1_name

BODY_LIMIT = 256 * 1024
MAX_VALIDITY = 24 * 3600
SPEND_KEY = "payer/spend"
PAYMENT_HEADERS = frozenset({"payment-signature", "x-payment"})
REFUSED = -32000

if TYPE_CHECKING:
    import httpx  # imported when used: httpx loads rich, which a headless node never needs


class Wallet(exact.TypedSigner, TxSigner, Protocol):
    """The identity plugin's wallet signer: EIP-712 messages for payments, transactions for approvals."""


@dataclass(frozen=True)
class Reply:
    """An HTTP response with its body read up to BODY_LIMIT bytes."""

    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool


@dataclass(frozen=True)
class Demand:
    """What a 402 asks for: its x402 version, the offers it understood, and the resource to echo."""

    version: int
    offers: list[Offer]
    resource: dict[str, Any] | None
    skipped: list[str]


def parse_demand(reply: Reply) -> Demand:
    """The offers of a 402: the v2 PAYMENT-REQUIRED header, else a v1 JSON body (WireError when neither)."""
    header = reply.headers.get("payment-required")
    if header is not None:
        body = decode_header(header)
        version = 2
    else:
        try:
            body = loads(reply.body)  # depth-checked: the server is untrusted and web3 lifts the recursion limit
        except ValueError:
            raise WireError("invalid_payload", "a 402 with neither a PAYMENT-REQUIRED header nor a JSON body") from None
        version = body.get("x402Version") if isinstance(body, dict) else None
        if version != 1:
            raise WireError("invalid_x402_version", "a 402 without PAYMENT-REQUIRED whose body is not x402Version 1")
    accepts = body.get("accepts")
    if not isinstance(accepts, list):
        raise WireError("invalid_payload", "the 402 has no 'accepts' list")
    offers, skipped = [], []
    for entry in accepts:
        try:
            offers.append(read_offer(entry, version))
        except WireError as exc:
            skipped.append(exc.message)
    resource = body.get("resource") if version == 2 else None
    return Demand(version, offers, resource if isinstance(resource, dict) else None, skipped)


def read_offer(entry: Any, version: int) -> Offer:
    """One offer of a 402, keeping the server's address strings so the echoed `accepted` matches byte for byte."""
    seed = isinstance(entry, dict) and entry.get("scheme") == tip20.SCHEME
    offer = tip20.read_requirement(entry) if seed else parse_offer(entry, version)
    if not 0 < offer.max_timeout <= MAX_VALIDITY:
        raise WireError("invalid_payment_requirements", f"maxTimeoutSeconds {offer.max_timeout} is not within 1..{MAX_VALIDITY}")
    return dataclasses.replace(offer, asset=entry["asset"], pay_to=entry["payTo"])


def choose(demand: Demand, network: str, allowed: set[str], limit: int) -> Offer:
    """The offer to pay on `network` in an allowed asset within `limit`, else a refusal saying why.

    Standard `exact` wins over `tempo-tip20` whatever the price: it needs no approval of the server's facilitator.
    """
    seen = ", ".join(f"{o.scheme} on {o.network}" for o in demand.offers) or "none usable (" + "; ".join(demand.skipped) + ")"
    ours = [o for o in demand.offers if o.scheme in (exact.SCHEME, tip20.SCHEME) and o.network == network]
    if not ours:
        raise RPCError(REFUSED, f"no 'exact' or 'tempo-tip20' offer on {network}; offered: {seen}")
    complete = {exact.SCHEME: lambda o: exact.token_domain(o) is not None, tip20.SCHEME: lambda o: tip20.spender(o) is not None}
    payable = [o for o in ours if o.asset.lower() in allowed and complete[o.scheme](o)]
    if not payable:
        assets = ", ".join(sorted({o.asset for o in ours}))
        raise RPCError(REFUSED, f"no offer in an allowed asset with its EIP-712 name and version, or its facilitatorAddress for tempo-tip20 (asked for {assets})")
    cheapest = min(o.amount for o in payable)
    if cheapest > limit:
        raise RPCError(REFUSED, f"the server asks {cheapest} units, over the limit of {limit} for one payment")
    return min((o for o in payable if o.amount <= limit), key=lambda o: (o.scheme != exact.SCHEME, o.amount))


class Budget:
    """The day's spend, kept in the store so a restart does not reset it."""

    def __init__(self, store: Namespace, daily: int) -> None:
        self.store = store
        self.daily = daily
        self.lock = trio.Lock()

    def spent(self, day: str) -> int:
        """Units signed away on `day` (UTC, YYYY-MM-DD)."""
        record = self.store.get(SPEND_KEY) or {}
        return int(record["spent"]) if record.get("day") == day else 0

    async def reserve(self, amount: int) -> int:
        """Count `amount` against today's budget before signing, or refuse; returns today's new total."""
        day = time.strftime("%Y-%m-%d", time.gmtime())
        async with self.lock:
            spent = self.spent(day)
            if spent + amount > self.daily:
                raise RPCError(REFUSED, f"paying {amount} units would exceed the daily budget: {spent} of {self.daily} spent today")
            await self.store.put(SPEND_KEY, {"day": day, "spent": spent + amount})
        return spent + amount


class Payer:
    """`wallet.pay`: an HTTP request that pays a 402 from the wallet, within the spend controls."""

    def __init__(self, ctx: PluginContext, wallet: Wallet, chain: Chain) -> None:
        token = chain.contract("token")
        assets = [a.strip() for a in str(ctx.config["pay_assets"]).split(",") if a.strip()] or [token.address]
        self.allowed = {parse_address(a).lower() for a in assets}
        self.cap = int(ctx.config["pay_max"])
        self.timeout = float(ctx.config["pay_timeout"])
        self.budget = Budget(ctx.store, int(ctx.config["pay_daily"]))
        self.ctx, self.wallet, self.chain, self.network, self.abi = ctx, wallet, chain, chain.network, token.abi
        # One tempo-tip20 payment at a time: each counts on the allowance the one before it left.
        self.approving = trio.Lock()

    async def pay(
        self, url: str, method: str = "GET", body: str | None = None, headers: dict[str, str] | None = None, max_amount: int | None = None
    ) -> dict[str, Any]:
        """Request `url`; on a 402, pay its exact (else tempo-tip20) offer from the wallet within the caps, and retry once."""
        import httpx

        if urlsplit(url).scheme not in ("http", "https"):
            raise RPCError(-32602, f"not an http(s) URL: {url!r}")
        if max_amount is not None and max_amount < 0:
            raise RPCError(-32602, "max_amount must be a non-negative integer of token units")
        sent = {k: v for k, v in (headers or {}).items() if k.lower() not in PAYMENT_HEADERS}
        content = None if body is None else body.encode()
        # Redirects are never followed: a payment header must reach only the server that asked for it.
        async with httpx.AsyncClient(follow_redirects=False, timeout=self.timeout) as http:
            first = await fetch(http, method.upper(), url, content, sent)
            if first.status != 402:
                return result(first)
            try:
                demand = parse_demand(first)
            except WireError as exc:
                raise RPCError(REFUSED, f"unreadable 402 from {url}: {exc.message}") from None
            limit = self.cap if max_amount is None else min(self.cap, max_amount)
            offer = choose(demand, self.network, self.allowed, limit)
            spent = await self.budget.reserve(offer.amount)
            if offer.scheme == tip20.SCHEME:
                async with self.approving:
                    approval = await self.allow(offer)
                    payment = tip20.sign(self.wallet, offer, int(time.time()))
                    second = await fetch(http, method.upper(), url, content, {**sent, "PAYMENT-SIGNATURE": encode_header(payment)})
            else:
                approval = ""
                payment = exact.sign(self.wallet, offer, int(time.time()), resource=demand.resource)
                name = "PAYMENT-SIGNATURE"
                if demand.version == 1:
                    name = "X-PAYMENT"
                    payment = {"x402Version": 1, "scheme": offer.scheme, "network": v1_name(chain_id_of(offer.network)), "payload": payment["payload"]}
                second = await fetch(http, method.upper(), url, content, {**sent, name: encode_header(payment)})
        receipt = settlement(second.headers)
        paid = {
            "amount": offer.amount, "asset": offer.asset, "network": offer.network, "pay_to": offer.pay_to,
            "scheme": offer.scheme, "approval": approval, "spent_today": spent,
        }
        parts = urlsplit(url)
        # The query is left out of the event: it may carry the caller's API keys.
        self.ctx.publish("wallet.paid", {
            **paid,
            "url": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            "status": second.status,
            "success": bool(receipt and receipt.get("success")),
            "transaction": str((receipt or {}).get("transaction", "")),
        })
        return {**result(second), "paid": paid, "payment": receipt}

    async def allow(self, offer: Offer) -> str:
        """Let a tempo-tip20 offer's facilitator pull its amount: `approve` it when the allowance is short; the hash or ""."""
        spender = tip20.spender(offer)
        assert spender is not None  # choose() takes only offers that name one
        token = self.chain.w3.eth.contract(address=parse_address(offer.asset), abi=self.abi)
        try:
            if int(await self.chain.run(token.functions.allowance(self.wallet.address, spender).call)) >= offer.amount:
                return ""
            # Exactly this payment: an allowance left over would let that facilitator take it without a signature.
            receipt = await self.chain.send(self.wallet, token.functions.approve(spender, offer.amount))
        except ChainError as exc:
            raise RPCError(REFUSED, f"could not approve {spender} to take {offer.amount} units: {exc}") from None
        return str(receipt["transactionHash"].to_0x_hex())


async def fetch(http: httpx.AsyncClient, method: str, url: str, content: bytes | None, headers: dict[str, str]) -> Reply:
    """One request, its body read up to BODY_LIMIT; transport failures become RPC errors."""
    import httpx

    try:
        async with http.stream(method, url, content=content, headers=headers) as response:
            body = bytearray()
            async with contextlib.aclosing(response.aiter_bytes()) as chunks:
                async for chunk in chunks:
                    body += chunk
                    if len(body) > BODY_LIMIT:
                        break
            return Reply(response.status_code, response.headers, bytes(body[:BODY_LIMIT]), len(body) > BODY_LIMIT)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise RPCError(REFUSED, f"{method} {url} failed: {type(exc).__name__}: {exc}") from None


def settlement(headers: httpx.Headers) -> dict[str, Any] | None:
    """The decoded PAYMENT-RESPONSE (or v1 X-PAYMENT-RESPONSE), or an `error` entry when it is garbage."""
    value = headers.get("payment-response") or headers.get("x-payment-response")
    if value is None:
        return None
    try:
        return decode_header(value)
    except WireError as exc:
        return {"error": exc.message}


def result(reply: Reply) -> dict[str, Any]:
    """The caller's view of a response: status, headers, body text and whether it was cut."""
    return {
        "status": reply.status,
        "headers": dict(reply.headers.items()),
        "body": reply.body.decode("utf-8", errors="replace"),
        "truncated": reply.truncated,
        "paid": None,
        "payment": None,
    }


def register(ctx: PluginContext, wallet: Wallet, chain: Chain) -> None:
    """Offer `wallet.pay` on the control protocol."""
    ctx.registrar.rpc("wallet.pay", Payer(ctx, wallet, chain).pay, destructive=True)
