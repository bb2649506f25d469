"""The x402 gateway against the official x402 Python SDK, on one anvil chain, in the same run.

What it measures (every figure is ours and the SDK's, taken in turns, with their ratio):

1. Paid requests per second, end to end. N payers (distinct accounts, so no payment waits on
   another) pay concurrently with the official SDK client (`x402Client` + `x402_httpx_transport`,
   the local token opted in through spend controls), each payer sending its requests one after
   another. Every request is a full x402 exchange: 402, sign, retry, verify (with an `eth_call`
   simulation), handler, settle (broadcast and wait for the receipt). Ours: a priced drop-in route
   of a colony node (`RunningNode` with chain + identity + gateway). Theirs: a FastAPI app with
   the SDK's `payment_middleware` + `x402ResourceServer` + an embedded `x402Facilitator`
   (`register_exact_evm_facilitator` with `FacilitatorWeb3Signer`), served by uvicorn. Same
   price, token, chain, client and concurrency; ratio = ours / theirs (higher is better).
2. Verifications per second on identical signed payloads. In process: our `Facilitator.verify`,
   awaited in the node's trio loop, against `x402Facilitator.verify` awaited in asyncio. Over
   HTTP: our `POST /facilitator/verify` against the same JSON endpoint wrapping the SDK
   facilitator in the FastAPI app above. Sequential and with N verifications in flight.
3. Latency of a free route: our gateway serving a drop-in route that returns a small JSON
   object, against a bare Starlette app returning the same JSON under uvicorn; sequential
   requests from one `httpx.Client`, p50/p99 (ratio = ours / theirs, lower is better).

The node, both uvicorn servers and the client all run in this process (threads sharing one
GIL), against one anvil chain (chain id 31337, automine) that the node deploys the colony
contracts on. Defaults finish in about a minute; `--payers`, `--paid`, `--verifies`,
`--requests` and `--rounds` make it longer.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx
import trio
from eth_account import Account
from eth_account.signers.local import LocalAccount

from _common import Table, parse_args, percentiles, progress, ratio, report
from colony.testing import RunningNode
from colony.testing.anvil import Anvil

PRICE = 1000  # atomic token units per paid request
MAX_TIMEOUT = 300  # the gateway's default maxTimeoutSeconds, offered by both servers
FUND = 10**9  # token units each payer gets from chain.faucet
PAID_BODY = {"answer": 42, "paid": True}
FREE_BODY = {"status": "ok", "free": True, "items": [1, 2, 3]}
WARMUP = 100  # free-route requests before timing

PAYERS = 8  # concurrent payers
PAID = 8  # paid requests per payer per round (bursts long enough that a busy neighbour evens out)
VERIFIES = 50  # verifications per figure per round
REQUESTS = 1500  # free-route requests per figure per round
ROUNDS = 3  # ours and theirs take turns this many times

PLUGIN_SOURCE = f'''"""benchpaid: the routes bench_gateway.py times."""
from colony.core import Manifest, Registrar, Request

PLUGIN = Manifest(name="benchpaid", version="0.1.0")
PAID_BODY = {PAID_BODY!r}
FREE_BODY = {FREE_BODY!r}


def colony_register(registrar: Registrar) -> None:
    registrar.route("GET", "/paid", paid, price={PRICE}, description="bench")
    registrar.route("GET", "/free", free)


async def paid(request: Request):
    return PAID_BODY


async def free(request: Request):
    return FREE_BODY
'''


# -- where the servers run -----------------------------------------------------------------


@contextmanager
def colony_node(folder: Path, anvil: Anvil) -> Iterator[RunningNode]:
    """A node on the anvil chain with chain + identity + gateway and the `benchpaid` drop-in."""
    home = folder / "home"
    (home / "plugins").mkdir(parents=True)
    (home / "plugins" / "benchpaid.py").write_text(PLUGIN_SOURCE)
    config = {
        "plugin": {
            "chain": {"url": anvil.url},
            "identity": {"kdf": "pbkdf2", "kdf_iterations": 1000},
            "gateway": {"port": 0},
        }
    }
    with RunningNode(home, plugins=("chain", "identity", "gateway", "benchpaid"), config=config) as node:
        wanted = ("chain", "identity", "gateway", "benchpaid")
        states = {p["name"]: (p["state"], p["reason"]) for p in node.call("plugins.list") if p["name"] in wanted}
        if any(state != "running" for state, _ in states.values()) or len(states) < len(wanted):
            raise RuntimeError(f"plugins did not all start: {states}")
        yield node


@contextmanager
def uvicorn_server(app: Any) -> Iterator[str]:
    """`app` under uvicorn (its defaults: uvloop and httptools when installed) in a thread; its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="bench-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def sdk_stack(anvil_url: str, key: str, chain: dict[str, Any], pay_to: str) -> tuple[Any, Any]:
    """The official stack: FastAPI + payment_middleware + x402ResourceServer + embedded x402Facilitator.

    Returns the app (with the priced `/paid` and a `/facilitator/verify` endpoint wrapping the
    facilitator) and the facilitator itself.
    """
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from x402 import x402Facilitator, x402ResourceServer
    from x402.http.middleware.fastapi import payment_middleware
    from x402.mechanisms.evm import FacilitatorWeb3Signer
    from x402.mechanisms.evm.exact import register_exact_evm_facilitator, register_exact_evm_server
    from x402.schemas import parse_payment_payload, parse_payment_requirements

    network, token = chain["network"], chain["contracts"]["token"]
    facilitator = x402Facilitator()
    register_exact_evm_facilitator(facilitator, FacilitatorWeb3Signer(key, anvil_url), networks=network)
    server = x402ResourceServer(facilitator)
    register_exact_evm_server(server, network)
    price = {"amount": str(PRICE), "asset": token, "extra": {"name": chain["token"]["name"], "version": chain["token"]["version"]}}
    routes = {
        "GET /paid": {
            "accepts": {"scheme": "exact", "network": network, "payTo": pay_to, "price": price, "maxTimeoutSeconds": MAX_TIMEOUT},
            "description": "bench",
        }
    }
    app = FastAPI()
    middleware = payment_middleware(routes, server)

    @app.middleware("http")
    async def x402(request: Request, call_next: Any) -> Any:
        return await middleware(request, call_next)

    @app.get("/paid")
    async def paid() -> dict[str, Any]:
        return PAID_BODY

    async def verify(request: Request) -> JSONResponse:
        body = await request.json()
        payload = parse_payment_payload(body["paymentPayload"])
        requirements = parse_payment_requirements(payload.x402_version, body["paymentRequirements"])
        result = await facilitator.verify(payload, requirements)
        return JSONResponse(result.model_dump(by_alias=True, exclude_none=True))

    app.router.add_route("/facilitator/verify", verify, methods=["POST"])

    return app, facilitator


def bare_app() -> Any:
    """The floor for a free route: Starlette with one route returning the same JSON."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def free(request: Any) -> JSONResponse:
        return JSONResponse(FREE_BODY)

    return Starlette(routes=[Route("/free", free)])


# -- payers --------------------------------------------------------------------------------


def sdk_client(account: LocalAccount, chain: dict[str, Any]) -> Any:
    """The official async client for one payer, with the local token opted in."""
    from x402 import x402Client
    from x402.mechanisms.evm import EthAccountSigner
    from x402.mechanisms.evm.exact import register_exact_evm_client

    client = x402Client()
    register_exact_evm_client(client, EthAccountSigner(account))
    client.set_spend_controls({"allowed_assets": [{"network": chain["network"], "asset": chain["contracts"]["token"]}]})
    return client


def settled(response: httpx.Response) -> bool:
    """Whether a paid request came back 200 with a successful PAYMENT-RESPONSE."""
    header = response.headers.get("payment-response")
    if response.status_code != 200 or header is None:
        return False
    return bool(json.loads(base64.b64decode(header)).get("success"))


async def paid_rounds(urls: dict[str, str], payers: list[LocalAccount], chain: dict[str, Any], per_payer: int, rounds: int) -> dict[str, dict[str, float]]:
    """Concurrent payers against each server in turn: total requests, seconds and failures per server."""
    from x402.http.clients.httpx import x402_httpx_transport

    def http(payer: LocalAccount) -> httpx.AsyncClient:
        # Idle connections are dropped before the servers' 5 s keep-alive ends, so a payer never
        # sends on a connection the server is closing while the other server takes its turn.
        pool = httpx.AsyncHTTPTransport(limits=httpx.Limits(keepalive_expiry=1.0))
        return httpx.AsyncClient(transport=x402_httpx_transport(sdk_client(payer, chain), pool), timeout=120)

    clients = {name: [http(p) for p in payers] for name in urls}
    totals = {name: {"requests": 0, "seconds": 0.0, "failed": 0} for name in urls}

    async def payer(http: httpx.AsyncClient, url: str, n: int) -> int:
        failed = 0
        for _ in range(n):
            failed += not settled(await http.get(url))
        return failed

    async def burst(name: str, n: int) -> tuple[float, int]:
        start = perf_counter()
        failed = await asyncio.gather(*(payer(http, urls[name] + "/paid", n) for http in clients[name]))
        return perf_counter() - start, sum(failed)

    try:
        for name in urls:  # warm-up: connections, caches, the first settlement of each payer
            _, failed = await burst(name, 1)
            if failed:
                raise RuntimeError(f"{failed} warm-up payments to {name} failed")
        for _ in range(rounds):
            for name in urls:
                seconds, failed = await burst(name, per_payer)
                totals[name]["requests"] += per_payer * len(payers)
                totals[name]["seconds"] += seconds
                totals[name]["failed"] += failed
    finally:
        for group in clients.values():
            for http in group:
                await http.aclose()
    return totals


# -- verification --------------------------------------------------------------------------


def signed_payment(account: LocalAccount, chain: dict[str, Any], required_header: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One SDK-signed PaymentPayload for the node's 402 offer, and that offer, as JSON objects."""
    from x402.schemas import parse_payment_required

    required = parse_payment_required(json.loads(base64.b64decode(required_header)))
    payload = asyncio.run(sdk_client(account, chain).create_payment_payload(required))
    return payload.model_dump(by_alias=True, exclude_none=True), required.accepts[0].model_dump(by_alias=True, exclude_none=True)


def ours_verify_loop(node: RunningNode, payload: dict[str, Any], requirements: dict[str, Any]) -> Callable[[int, int], float]:
    """`loop(n, width)`: n calls of our `Facilitator.verify`, `width` at a time, in the node's trio loop."""
    plugin = node.kernel.host.plugins["gateway"] if node.kernel else None
    assert plugin is not None and plugin.obj is not None
    facilitator = plugin.obj._state["facilitator"]
    wire = plugin.modules["colony.plugins.gateway.wire"]
    api = plugin.modules["colony.plugins.gateway.facilitator_http"]
    payment, offer = wire.parse_payment(payload), api.parse_offer(requirements, 2)

    async def run(n: int, width: int) -> float:
        bad: list[str] = []

        async def worker(count: int) -> None:
            for _ in range(count):
                verdict = await facilitator.verify(payment, offer)
                if not verdict.valid:
                    bad.append(verdict.reason)

        start = perf_counter()
        async with trio.open_nursery() as nursery:
            for share in split(n, width):
                nursery.start_soon(worker, share)
        elapsed = perf_counter() - start
        if bad:
            raise RuntimeError(f"our verify refused the payment: {bad[0]}")
        return elapsed

    return lambda n, width: node.run(run, n, width)


def sdk_verify_loop(facilitator: Any, payload: dict[str, Any], requirements: dict[str, Any]) -> Callable[[int, int], float]:
    """`loop(n, width)`: n awaits of `x402Facilitator.verify`, `width` gathered at a time, in asyncio."""
    from x402.schemas import parse_payment_payload, parse_payment_requirements

    parsed = parse_payment_payload(payload)
    wanted = parse_payment_requirements(2, requirements)

    async def run(n: int, width: int) -> float:
        async def worker(count: int) -> None:
            for _ in range(count):
                result = await facilitator.verify(parsed, wanted)
                if not result.is_valid:
                    raise RuntimeError(f"the SDK's verify refused the payment: {result.invalid_reason}")

        start = perf_counter()
        await asyncio.gather(*(worker(share) for share in split(n, width)))
        return perf_counter() - start

    return lambda n, width: asyncio.run(run(n, width))


def http_verify_loop(url: str, payload: dict[str, Any], requirements: dict[str, Any]) -> Callable[[int, int], float]:
    """`loop(n, width)`: n POSTs of the same verify request, `width` in flight, from one httpx.AsyncClient."""
    body = {"x402Version": 2, "paymentPayload": payload, "paymentRequirements": requirements}

    async def run(n: int, width: int) -> float:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=width)) as http:

            async def worker(count: int) -> None:
                for _ in range(count):
                    reply = (await http.post(url, json=body)).json()
                    if not reply.get("isValid"):
                        raise RuntimeError(f"{url} refused the payment: {reply}")

            await worker(2)  # open a connection before timing
            start = perf_counter()
            await asyncio.gather(*(worker(share) for share in split(n, width)))
            return perf_counter() - start

    return lambda n, width: asyncio.run(run(n, width))


def split(n: int, width: int) -> list[int]:
    """n as `width` near-equal shares."""
    return [n // width + (i < n % width) for i in range(width)]


def verify_rows(loops: dict[str, tuple[Callable[[int, int], float], Callable[[int, int], float]]], n: int, width: int, rounds: int) -> list[dict[str, Any]]:
    """For each (where, ours, theirs): verifications per second, both taking turns, sequential and `width` wide."""
    rows = []
    for where, (ours, theirs) in loops.items():
        for in_flight in (1, width):
            ours(max(10, n // 10), in_flight), theirs(max(10, n // 10), in_flight)  # warm-up
            seconds = {"ours": 0.0, "theirs": 0.0}
            for _ in range(rounds):
                seconds["ours"] += ours(n, in_flight)
                seconds["theirs"] += theirs(n, in_flight)
            mine, base = n * rounds / seconds["ours"], n * rounds / seconds["theirs"]
            rows.append({"where": where, "in_flight": in_flight, "ours": mine, "theirs": base, "ratio": ratio(mine, base)})
    return rows


# -- free route latency --------------------------------------------------------------------


def sample(url: str, n: int) -> list[float]:
    """Seconds of each of `n` sequential GETs from one httpx.Client, after a warm-up."""
    with httpx.Client() as http:
        for _ in range(WARMUP):
            http.get(url).raise_for_status()
        samples = []
        for _ in range(n):
            start = perf_counter()
            reply = http.get(url)
            samples.append(perf_counter() - start)
            if reply.status_code != 200 or reply.json() != FREE_BODY:
                raise RuntimeError(f"{url} answered {reply.status_code} {reply.text[:200]}")
        return samples


# -- the run -------------------------------------------------------------------------------


def measure(args: argparse.Namespace, folder: Path) -> list[Table]:
    """Start anvil, the node and the SDK stack; take every figure."""
    progress("gateway: starting anvil and a colony node (deploys the contracts)")
    with Anvil() as anvil, colony_node(folder, anvil) as node:
        chain = node.call("chain.info")
        ours_url = node.call("gateway.info")["listening"][0]
        pay_to = node.call("wallet.info")["address"]
        sdk_key = Account.create()
        anvil.rpc("anvil_setBalance", sdk_key.address, hex(10**21))  # the SDK facilitator's gas
        payers = [Account.create() for _ in range(args.payers)]
        progress(f"gateway: funding {len(payers)} payers with chain.faucet")
        for payer in payers:
            node.call("chain.faucet", address=payer.address, amount=FUND)
        app, sdk_facilitator = sdk_stack(anvil.url, sdk_key.key.hex(), chain, pay_to)
        with uvicorn_server(app) as sdk_url, uvicorn_server(bare_app()) as bare_url:
            progress(f"gateway: {args.payers} payers x {args.paid} paid requests x {args.rounds} rounds on each server")
            paid = asyncio.run(paid_rounds({"ours": ours_url, "theirs": sdk_url}, payers, chain, args.paid, args.rounds))

            progress(f"gateway: {args.verifies} verifications x {args.rounds} rounds, in process and over HTTP")
            unpaid = httpx.get(ours_url + "/paid")
            payload, requirements = signed_payment(payers[0], chain, unpaid.headers["payment-required"])
            loops = {
                "in process": (ours_verify_loop(node, payload, requirements), sdk_verify_loop(sdk_facilitator, payload, requirements)),
                "HTTP POST /facilitator/verify": (
                    http_verify_loop(ours_url + "/facilitator/verify", payload, requirements),
                    http_verify_loop(sdk_url + "/facilitator/verify", payload, requirements),
                ),
            }
            verifies = verify_rows(loops, args.verifies, args.payers, args.rounds)

            progress(f"gateway: {args.requests} free-route requests x {args.rounds} rounds on each server")
            latency: dict[str, list[float]] = {"ours": [], "theirs": []}
            for _ in range(args.rounds):
                latency["ours"] += sample(ours_url + "/free", args.requests)
                latency["theirs"] += sample(bare_url + "/free", args.requests)

    return [paid_table(paid, args), verify_table(verifies, args), latency_table(latency, args)]


def paid_table(paid: dict[str, dict[str, float]], args: argparse.Namespace) -> Table:
    """Table 1: paid requests per second."""
    ours, theirs = (paid[k]["requests"] / paid[k]["seconds"] for k in ("ours", "theirs"))
    row = {
        "payers": args.payers,
        "requests": int(paid["ours"]["requests"]),
        "ours": ours,
        "theirs": theirs,
        "ratio": ratio(ours, theirs),
        "ours_ms": 1000 * paid["ours"]["seconds"] / paid["ours"]["requests"] * args.payers,
        "theirs_ms": 1000 * paid["theirs"]["seconds"] / paid["theirs"]["requests"] * args.payers,
        "failed": f"{int(paid['ours']['failed'])} / {int(paid['theirs']['failed'])}",
    }
    return Table(
        "Paid requests per second, end to end (official SDK client, concurrent payers)",
        {
            "payers": "payers",
            "requests": "requests each",
            "ours": "ours req/s",
            "theirs": "SDK req/s",
            "ratio": "ratio",
            "ours_ms": "ours ms/req/payer",
            "theirs_ms": "SDK ms/req/payer",
            "failed": "failed ours / SDK",
        },
        [row],
        [
            "Ours: a priced drop-in route on a colony node (RunningNode: chain + identity + gateway, hypercorn on trio). "
            "SDK: FastAPI + payment_middleware + x402ResourceServer + embedded x402Facilitator "
            "(FacilitatorWeb3Signer), under uvicorn in a thread.",
            f"Each request: 402, sign (EIP-3009), retry, verify with eth_call simulation, handler, settle "
            f"(broadcast, wait for the receipt). Price {PRICE} units of the colony token, anvil automine, chain id 31337.",
            f"{args.paid} sequential requests per payer per round, {args.rounds} rounds taken in turns after one warm-up "
            "payment each; req/s = requests / time. ratio = ours / SDK (higher is better). A failure is anything but "
            "200 with a successful PAYMENT-RESPONSE.",
        ],
    )


def verify_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> Table:
    """Table 2: verifications per second."""
    return Table(
        "Verifications per second on one SDK-signed payload",
        {"where": "called", "in_flight": "in flight", "ours": "ours verify/s", "theirs": "SDK verify/s", "ratio": "ratio"},
        rows,
        [
            "In process: our Facilitator.verify awaited in the node's trio loop (raw JSON-RPC on trio sockets) vs "
            "x402Facilitator.verify awaited in asyncio (its web3 calls block the loop, so gathering does not overlap them).",
            "HTTP: POST /facilitator/verify on our gateway vs the same JSON endpoint wrapping the SDK facilitator in the "
            "FastAPI app (uvicorn); one httpx.AsyncClient.",
            "Both check the EIP-712 signature and simulate transferWithAuthorization with eth_call; ours also reads its "
            f"settlement book. {args.verifies} verifications per figure per round, {args.rounds} rounds in turns. "
            "ratio = ours / SDK (higher is better).",
        ],
    )


def latency_table(latency: dict[str, list[float]], args: argparse.Namespace) -> Table:
    """Table 3: free-route latency."""
    mine = {k: v * 1e6 for k, v in percentiles(latency["ours"]).items()}
    base = {k: v * 1e6 for k, v in percentiles(latency["theirs"]).items()}
    row = {
        "p50": mine["p50"],
        "p99": mine["p99"],
        "rps": len(latency["ours"]) / sum(latency["ours"]),
        "floor_p50": base["p50"],
        "floor_p99": base["p99"],
        "floor_rps": len(latency["theirs"]) / sum(latency["theirs"]),
        "p50_ratio": ratio(mine["p50"], base["p50"]),
        "p99_ratio": ratio(mine["p99"], base["p99"]),
    }
    return Table(
        "Free route: GET round trip (microseconds) vs a bare Starlette app under uvicorn",
        {
            "p50": "p50",
            "p99": "p99",
            "rps": "req/s",
            "floor_p50": "bare p50",
            "floor_p99": "bare p99",
            "floor_rps": "bare req/s",
            "p50_ratio": "p50 ratio",
            "p99_ratio": "p99 ratio",
        },
        [row],
        [
            f"Ours: a drop-in route returning {json.dumps(FREE_BODY)} through the gateway (hypercorn on trio, routing, "
            "request parsing, handler timeout). Bare: Starlette returning the same JSON under uvicorn (uvloop, httptools).",
            f"{args.requests} sequential requests per figure per round from one httpx.Client (after {WARMUP} warm-up), "
            f"{args.rounds} rounds in turns. ratio = ours / bare (lower is better).",
        ],
    )


def extra_args(parser: argparse.ArgumentParser) -> None:
    """Sizes of each measurement."""
    parser.add_argument("--payers", type=int, default=PAYERS, help=f"concurrent payers, and verifications in flight (default {PAYERS})")
    parser.add_argument("--paid", type=int, default=PAID, help=f"paid requests per payer per round (default {PAID})")
    parser.add_argument("--verifies", type=int, default=VERIFIES, help=f"verifications per figure per round (default {VERIFIES})")
    parser.add_argument("--requests", type=int, default=REQUESTS, help=f"free-route requests per figure per round (default {REQUESTS})")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"turns ours and theirs take (default {ROUNDS})")


def main() -> None:
    """Run the benchmark and print its tables."""
    args = parse_args(__doc__, extra_args)
    folder = Path(tempfile.mkdtemp(prefix="gb-", dir="/tmp"))
    try:
        tables = measure(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report("bench_gateway", tables, args.json)


if __name__ == "__main__":
    main()
