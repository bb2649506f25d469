"""gateway: the node's public HTTP server, with x402 payments and an embedded facilitator."""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from colony.core import Manifest, Option, PluginContext, Registrar, Request, Response
from colony.plugins.chain import Chain, ChainError

from . import endpoints, exact, payer, tip20, tool
from .app import Gateway
from .facilitator import Facilitator
from .facilitator_http import FacilitatorAPI
from .paywall import Paywall, Terms
from .routing import Router
from .settlement import Record, SettlementBook
from .tip20_facilitator import Tip20Facilitator
from .wire import Offer, v1_name

SCHEMES = (exact.SCHEME, tip20.SCHEME)

PLUGIN = Manifest(
    name="gateway",
    version="1.0.0",
    requires=("chain", "identity"),
    description="Serves the node's HTTP routes on port 4023; priced ones are paid with x402 and settled by the embedded facilitator.",
    config={
        "host": Option("127.0.0.1", "Address the HTTP server listens on (0.0.0.0 for every interface)."),
        "port": Option(4023, "Port of the HTTP server (0 picks a free one)."),
        "public_url": Option("", "The URL clients reach this node at, used in payment offers; empty uses the request's Host."),
        "max_body": Option(10 * 1024 * 1024, "Largest request body accepted, in bytes."),
        "handler_timeout": Option(30.0, "Seconds a route handler may run before the client gets a 504."),
        "cors_origins": Option("*", "Comma-separated origins allowed by CORS ('*' for any)."),
        "max_timeout": Option(300, "maxTimeoutSeconds offered to payers: how long a signed payment stays valid."),
        "schemes": Option(["exact"], "x402 schemes priced routes offer: 'exact' (standard, EIP-3009) and/or 'tempo-tip20' (the seed's dialect)."),
        "simulate": Option(True, "Simulate each transfer with eth_call while verifying (catches used nonces and low balances)."),
        "settle_first": Option(False, "Settle every payment before running its handler (routes can ask with settle_first=True)."),
        "facilitator_open": Option(True, "Settle at /facilitator/settle for any payTo; false limits it to this node's wallet."),
        "pay_assets": Option("", "Comma-separated token addresses `wallet.pay` may spend; empty allows only this chain's token."),
        "pay_max": Option(1_000_000, "Most token units `wallet.pay` signs for one payment."),
        "pay_daily": Option(10_000_000, "Most token units `wallet.pay` signs per UTC day (kept across restarts)."),
        "pay_timeout": Option(30.0, "Seconds each HTTP request of `wallet.pay` may take."),
        "allow_loopback_targets": Option(False, "Development only: let /g/{slug} endpoints target loopback addresses and plain http."),
    },
)

_state: dict[str, Any] = {}


def colony_register(registrar: Registrar) -> None:
    registrar.route("GET", "/health", health)
    registrar.route("GET", "/metrics", metrics)


async def colony_start(ctx: PluginContext) -> None:
    schemes = list(dict.fromkeys(ctx.config["schemes"]))
    if not schemes or not set(schemes) <= set(SCHEMES):
        raise ValueError(f"plugin.gateway.schemes must name one or more of {', '.join(SCHEMES)}; got {ctx.config['schemes']!r}")
    chain: Chain = ctx.service("chain")
    wallet, facilitator_signer = ctx.service("wallet"), ctx.service("facilitator")
    token = chain.contract("token")
    name = version = ""
    if exact.SCHEME in schemes:  # only exact needs the token's EIP-712 domain, and a TIP-20 token may lack version()
        name, version = await chain.run(lambda: (token.functions.name().call(), token.functions.version().call()))
    if tip20.SCHEME in schemes and v1_name(chain.chain_id):
        ctx.log.warning("tempo-tip20 offers take the 402 body, so v1 clients (X-PAYMENT) of %s cannot read it", chain.network)
    book, simulate = SettlementBook(ctx.store), bool(ctx.config["simulate"])
    facilitator = Facilitator(chain, facilitator_signer, book, simulate=simulate)
    tip20_facilitator = Tip20Facilitator(chain, facilitator_signer, book, simulate=simulate)
    async def settled(record: Record) -> None:
        receipt = {"payer": record.payer, "pay_to": record.pay_to, "amount": record.amount, "network": record.network, "transaction": record.transaction, "route": record.route}
        await ctx.hooks.collect("colony_payment_settled", receipt=receipt)

    paywall = Paywall(facilitator, tip20_facilitator, chain.chain_id, settled)
    api = FacilitatorAPI(facilitator, bool(ctx.config["facilitator_open"]), wallet.address)
    for method, path, handler in api.handlers():
        ctx.registrar.route(method, path, handler)
    cached: dict[int, Router] = {}
    timeout = int(ctx.config["max_timeout"])
    # The seed's own client backdates validAfter by a minute, and its facilitator caps the whole window.
    kinds = {
        exact.SCHEME: (timeout, {"name": name, "version": version}),
        tip20.SCHEME: (min(timeout, tip20.MAX_OFFER_TIMEOUT), {"facilitatorAddress": facilitator_signer.address}),
    }

    def routes() -> Router:
        generation = ctx.registry_generation
        if generation not in cached:
            cached.clear()
            cached[generation] = Router(ctx.registrations("route"))
        return cached[generation]

    def terms_for(amount: int, request: Request, meta: dict[str, Any]) -> Terms:
        base = str(ctx.config["public_url"]).rstrip("/") or request.base_url
        description = str(meta.get("description", ""))
        offers = [
            Offer(
                scheme=scheme, network=chain.network, amount=amount, asset=token.address, pay_to=wallet.address,
                max_timeout=kinds[scheme][0], extra=kinds[scheme][1], description=description, mime_type=str(meta.get("mime_type", "")),
            )
            for scheme in schemes
        ]
        settle_first = bool(meta.get("settle_first", ctx.config["settle_first"]))
        return Terms(offers, base + request.path, settle_first, description)

    async def price_of(path: str) -> int | None:
        """A price for a route registered without one, from the plugins' `colony_price` hooks."""
        if not ctx.hooks.plan("colony_price"):
            return None  # the common case costs no hook call
        found = await ctx.hooks.first("colony_price", route=path)
        price = found[1] if found else None
        return price if isinstance(price, int) and not isinstance(price, bool) and 0 < price < 2**256 else None

    gateway = Gateway(
        routes, terms_for, price_of, paywall,
        max_body=int(ctx.config["max_body"]), handler_timeout=float(ctx.config["handler_timeout"]), origins=str(ctx.config["cors_origins"]),
    )
    _state.update(chain=chain, gateway=gateway, paywall=paywall, facilitator=facilitator, ctx=ctx, stopped=trio.Event())
    config = HypercornConfig()
    config.bind = [f"{ctx.config['host']}:{ctx.config['port']}"]
    config.accesslog = None
    config.errorlog = None
    assert ctx.nursery is not None
    _state["binds"] = await ctx.nursery.start(_serve, gateway, config, ctx)
    ctx.log.info("gateway listening on %s", ", ".join(_state["binds"]))
    ctx.registrar.rpc("gateway.info", gateway_info)
    payer.register(ctx, wallet, chain)
    tool.register(ctx)
    await endpoints.register(ctx, chain, paywall, terms_for)
    ctx.start_task(reconcile_pending, paywall)


async def _serve(gateway: Gateway, config: HypercornConfig, ctx: PluginContext, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
    """Run hypercorn until the plugin stops; a server failure is reported, never raised into the node."""
    try:
        await serve(gateway, config, shutdown_trigger=_state["stopped"].wait, task_status=task_status)
    except Exception as exc:
        ctx.hooks.fail(ctx.name, "http server", exc)


async def colony_stop(ctx: PluginContext) -> None:
    if "stopped" in _state:
        _state["stopped"].set()
    _state.clear()


async def reconcile_pending(paywall: Paywall) -> None:
    """At start, settle the books on payments broadcast before a crash, each with its scheme's facilitator."""
    for record in paywall.book.pending():
        await paywall.reconcile(record, timeout=0)


async def health(request: Request) -> Any:
    """Liveness: 200 when the chain answers, 503 otherwise."""
    chain: Chain | None = _state.get("chain")
    if chain is None:
        return Response.json({"status": "starting"}, 503)
    try:
        block = await chain.block_number()
    except ChainError as exc:
        return Response.json({"status": "degraded", "chain": str(exc)}, 503)
    return {"status": "ok", "network": chain.network, "block": block, "pending_settlements": len(_state["facilitator"].book.pending())}


async def metrics(request: Request) -> Any:
    """Every plugin's `colony_metrics` gauges in the Prometheus text format."""
    ctx: PluginContext | None = _state.get("ctx")
    lines = []
    if ctx is not None:
        for plugin, values in await ctx.hooks.collect("colony_metrics"):
            for key, value in sorted((values or {}).items()):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    metric = f"colony_{plugin}_{key}".replace("-", "_").replace(".", "_")
                    lines.append(f"# TYPE {metric} gauge\n{metric} {value}")
    return Response.text("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")


def colony_metrics() -> dict[str, float]:
    gateway: Gateway | None = _state.get("gateway")
    paywall: Paywall | None = _state.get("paywall")
    if gateway is None or paywall is None:
        return {}
    ledger, traffic = paywall.ledger, gateway.traffic
    return {
        "requests": traffic.requests,
        "handler_errors": traffic.handler_errors,
        "paid": ledger.paid,
        "refused": ledger.refused,
        "revenue": ledger.revenue,
        "failed_settlements": ledger.failed_settlements,
        "pending_settlements": ledger.pending_settlements,
    }


async def gateway_info() -> dict[str, Any]:
    """Where the gateway listens, its priced routes, and its counters."""
    gateway: Gateway = _state["gateway"]
    routes = [{"route": f"{r.method} {r.template}", "price": r.price, "owner": r.owner} for r in gateway.routes().routes]
    return {"listening": _state["binds"], "routes": routes, "metrics": colony_metrics(), "facilitator": _state["facilitator"].signer.address}
