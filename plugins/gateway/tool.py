"""`call_paid_endpoint`: the soul's tool for calling x402 endpoints, paid through `wallet.pay` within the kernel's money budget."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import trio

from colony.core import PluginContext, RPCError, ToolError

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class PaidCalls:
    """Calls that pay from the node's wallet, one at a time, each capped by its max_amount and the money budget left."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.lock = trio.Lock()  # each call is capped by the budget the one before it left

    def _wallet_pay(self) -> Callable[..., Awaitable[dict[str, Any]]]:
        """This gateway's `wallet.pay` handler (the `Payer` with its own per-payment and daily limits)."""
        found = next((reg for reg in self.ctx.registrations("rpc") if reg.key == "wallet.pay" and reg.owner == self.ctx.name), None)
        if found is None:
            raise ToolError("wallet.pay is not available: the gateway is not running")
        return found.value  # type: ignore[no-any-return]

    async def call_paid_endpoint(self, url: str, max_amount: int, method: str = "GET", body: str | None = None) -> dict[str, Any]:
        """Request `url`; when it answers 402, pay its price from the wallet if that is at most `max_amount` and the money budget allows."""
        if max_amount < 0:
            raise ToolError("max_amount must be 0 or more atomic units")
        try:
            url.encode()
            parts = urlsplit(url)
            if body is not None:
                body.encode()
        except (ValueError, UnicodeEncodeError) as exc:
            raise ToolError(f"bad url or body: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ToolError(f"not an http(s) URL: {url[:200]!r}")
        budgets = self.ctx.budgets
        async with self.lock:
            left = budgets.remaining("money")
            cap = max_amount if left is None else min(max_amount, left)
            try:
                answer = await self._wallet_pay()(url, method, body, None, cap)
            except RPCError as exc:
                binding = "" if left is None or left >= max_amount else f" (the money budget has {left} units left)"
                raise ToolError(f"{exc.message}{binding}") from None
            paid = answer.get("paid")
            if paid:
                budgets.spend("money", int(paid["amount"]), strict=False)
        return answer


def register(ctx: PluginContext) -> None:
    """Offer `call_paid_endpoint` to the soul."""
    ctx.registrar.tool(
        "call_paid_endpoint",
        PaidCalls(ctx).call_paid_endpoint,
        description=(
            "Call an HTTP endpoint; if it asks for an x402 payment, pay it from the node's wallet when the price is at most "
            "max_amount (atomic units of the payment token) and within the money budget. Returns status, headers, body and what was paid."
        ),
        parameters={
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "The http(s) URL to call."},
                "max_amount": {"type": "integer", "description": "The most to pay for this call, in atomic units of the payment token."},
                "method": {"type": "string", "enum": METHODS, "description": "HTTP method. Default GET."},
                "body": {"type": "string", "description": "Request body (text). Default: no body."},
            },
            "required": ["url", "max_amount"],
        },
    )
