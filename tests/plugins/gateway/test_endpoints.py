"""The endpoint registry: `endpoints.*` and `colony endpoints`, SSRF refusals, and the paid `/g/{slug}` proxy."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from eth_account.signers.local import LocalAccount
from x402.http.clients.httpx import x402_httpx_transport

from colony.core.cli import cli
from colony.core.rpc import RPCError
from colony.plugins.gateway.endpoints import RESPONSE_LIMIT
from colony.plugins.gateway.wire import Offer, encode_header
from colony.testing.anvil import free_port

from tests.plugins.gateway.conftest import Gate, decode, sdk_client, sign_payment
from tests.plugins.gateway.test_payer import Upstream, gate_at

PRICE = 2000


@pytest.fixture(scope="module")
def dev(gate_factory: Callable[..., Gate]) -> Gate:
    """A gateway node whose endpoints may target loopback over plain http."""
    return gate_factory(gateway={"allow_loopback_targets": True})


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


def refusal(gate: Gate, method: str, **params: Any) -> str:
    with pytest.raises(RPCError) as caught:
        gate.node.call(method, **params)
    return caught.value.message


def added(gate: Gate, slug: str, target: str, price: str | int = "$0.002") -> str:
    """Register an endpoint; returns its URL on the gateway."""
    gate.node.call("endpoints.add", slug=slug, target=target, price=price)
    return f"{gate.url}/g/{slug}"


def sdk_request(gate: Gate, payer: LocalAccount, url: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
    """`url` requested through the official x402 httpx client, paying from `payer`."""

    async def go() -> httpx.Response:
        client = sdk_client(gate, payer)
        async with httpx.AsyncClient(transport=x402_httpx_transport(client), timeout=60) as http:
            return await http.request(method, url, **kwargs)

    return asyncio.run(go())


# -- the registry --------------------------------------------------------------------------------


def test_add_list_remove_over_rpc(dev: Gate, upstream: Upstream) -> None:
    row = dev.node.call("endpoints.add", slug="Echo-1", target=upstream.url + "/base/", price="$0.01", description="echo")
    assert row == {"slug": "Echo-1", "target": upstream.url + "/base", "price": 10_000, "description": "echo", "path": "/g/Echo-1"}
    dev.node.call("endpoints.add", slug="atomic", target=upstream.url, price=7)
    assert [(r["slug"], r["price"]) for r in dev.node.call("endpoints.list")] == [("Echo-1", 10_000), ("atomic", 7)]
    assert "taken" in refusal(dev, "endpoints.add", slug="atomic", target=upstream.url, price=1)
    assert dev.node.call("endpoints.remove", slug="Echo-1") == {"removed": "Echo-1"}
    assert dev.node.call("endpoints.remove", slug="atomic") == {"removed": "atomic"}
    assert dev.node.call("endpoints.list") == []
    assert "no endpoint" in refusal(dev, "endpoints.remove", slug="atomic")
    assert httpx.get(dev.url + "/g/atomic").status_code == 404


@pytest.mark.parametrize("slug", ["ab", "-abc", "abc-", "a" * 65, "a_bc", "ab/c", "ab c", ""])
def test_bad_slugs_are_refused(dev: Gate, upstream: Upstream, slug: str) -> None:
    assert "slug" in refusal(dev, "endpoints.add", slug=slug, target=upstream.url, price=1)


@pytest.mark.parametrize("price", ["-1", "$0.0000001", "ten", "1e3", -5])
def test_bad_prices_are_refused(dev: Gate, upstream: Upstream, price: str | int) -> None:
    assert "price" in refusal(dev, "endpoints.add", slug="priced", target=upstream.url, price=price)


def test_the_cli_adds_lists_and_removes(dev: Gate, upstream: Upstream) -> None:
    sock = ["--socket", str(dev.node.socket)]
    runner = CliRunner()
    done = runner.invoke(cli, ["endpoints", "add", "cli-ep", upstream.url, "1500", "--description", "from the CLI", *sock])
    assert done.exit_code == 0 and f"/g/cli-ep -> {upstream.url} for 1500 units" in done.output, done.output
    listed = runner.invoke(cli, ["endpoints", "list", "--json", *sock])
    assert [(r["slug"], r["price"], r["description"]) for r in json.loads(listed.output)] == [("cli-ep", 1500, "from the CLI")]
    assert "cli-ep" in runner.invoke(cli, ["endpoints", "list", *sock]).output
    dollars = runner.invoke(cli, ["endpoints", "add", "cli-usd", upstream.url, "$0.5", *sock])
    assert "for 500000 units" in dollars.output, dollars.output
    refused = runner.invoke(cli, ["endpoints", "add", "cli-bad", "https://10.0.0.1/", "1", *sock])
    assert refused.exit_code == 1 and "private or reserved" in refused.output
    for slug in ("cli-ep", "cli-usd"):
        assert runner.invoke(cli, ["endpoints", "remove", slug, *sock]).output == f"removed /g/{slug}\n"
    assert dev.node.call("endpoints.list") == []


# -- the proxy -----------------------------------------------------------------------------------


def test_a_paid_request_reaches_the_upstream_without_the_payment(dev: Gate, upstream: Upstream) -> None:
    def echo(headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        answer = {"Content-Type": "application/json", "Set-Cookie": "session=upstream", "X-RateLimit-Remaining": "9", "Access-Control-Allow-Origin": "*"}
        return 200, answer, json.dumps({"echo": True}).encode()

    upstream.routes["/svc/a b/c"] = echo
    upstream.routes["/svc/a%20b/c"] = echo
    url = added(dev, "proxied", upstream.url + "/svc")
    unpaid = httpx.get(url + "/a b/c")
    assert unpaid.status_code == 402 and decode(unpaid.headers["payment-required"])["accepts"][0]["amount"] == str(PRICE)
    payer = dev.payer()
    before, seen = dev.balance(payer.address), len(upstream.seen)
    spoof = {"Cookie": "session=client", "Authorization": "Bearer t", "X-Api-Key": "k", "X-X402-Payer": "0x" + "66" * 20, "X-Custom": "kept"}
    response = sdk_request(dev, payer, url + "/a b/c?q=1&r=two", headers=spoof)
    assert response.status_code == 200 and response.json() == {"echo": True}
    assert decode(response.headers["payment-response"])["success"] is True
    assert dev.balance(payer.address) == before - PRICE
    assert "set-cookie" not in response.headers and "access-control-allow-origin" not in response.headers
    assert response.headers["x-ratelimit-remaining"] == "9"
    (method, path, headers) = upstream.seen[-1]
    assert len(upstream.seen) == seen + 1 and (method, path) == ("GET", "/svc/a%20b/c?q=1&r=two")
    assert not {"payment-signature", "x-payment", "cookie", "authorization", "x-api-key"} & set(headers)
    assert headers["x-x402-payer"] == payer.address and headers["x-x402-amount"] == str(PRICE) and headers["x-x402-verified"] == "true"
    assert headers["x-custom"] == "kept" and headers["host"] == f"127.0.0.1:{upstream.port}"


def test_unknown_slugs_and_bad_paths_are_not_charged(dev: Gate, upstream: Upstream) -> None:
    url = added(dev, "paths", upstream.url)
    assert httpx.get(dev.url + "/g/nobody-here").status_code == 404
    assert httpx.get(url + "/a/%2e%2e/b").status_code == 400
    assert httpx.get(url + "/a%40b").status_code == 400


def paid_but_refused(gate: Gate, url: str) -> httpx.Response:
    """Request `url` with a valid payment attached, checking that nothing was charged."""
    payer = gate.payer()
    extra = {"name": gate.token_name, "version": gate.token_version}
    offer = Offer("exact", gate.network, PRICE, gate.token, gate.wallet, 300, extra)
    paid = gate.node.call("gateway.info")["metrics"]["paid"]
    response = httpx.get(url, headers={"PAYMENT-SIGNATURE": encode_header(sign_payment(payer, offer, int(time.time())))}, timeout=60)
    assert gate.balance(payer.address) == 10 * 1000 and gate.node.call("gateway.info")["metrics"]["paid"] == paid
    return response


def test_a_dead_upstream_gets_a_502_before_any_payment(dev: Gate) -> None:
    url = added(dev, "dead", f"http://127.0.0.1:{free_port()}")
    unpaid = httpx.get(url)
    assert unpaid.status_code == 502 and "upstream unreachable" in unpaid.json()["error"] and "payment-required" not in unpaid.headers
    assert paid_but_refused(dev, url + "/x").status_code == 502
    assert dev.node.call("wallet.pay", url=url)["paid"] is None


def test_redirects_are_not_followed_and_not_charged(dev: Gate, upstream: Upstream) -> None:
    upstream.routes["/moving/away"] = lambda h: (302, {"Location": upstream.url + "/landing"}, b"")
    url = added(dev, "moving", upstream.url + "/moving")
    response = paid_but_refused(dev, url + "/away")
    assert response.status_code == 502 and "redirect" in response.json()["error"]
    assert "/landing" not in upstream.paths()


def test_an_oversize_upstream_answer_is_cut_off_and_not_charged(dev: Gate, upstream: Upstream) -> None:
    upstream.routes["/huge"] = lambda h: (200, {"Content-Type": "application/octet-stream"}, b"x" * (RESPONSE_LIMIT + 1))
    upstream.routes["/fits"] = lambda h: (200, {"Content-Type": "application/octet-stream"}, b"x" * RESPONSE_LIMIT)
    url = added(dev, "sizes", upstream.url)
    response = paid_but_refused(dev, url + "/huge")
    assert response.status_code == 502 and f"over {RESPONSE_LIMIT} bytes" in response.json()["error"]
    fits = sdk_request(dev, dev.payer(), url + "/fits")
    assert fits.status_code == 200 and len(fits.content) == RESPONSE_LIMIT


# -- SSRF ----------------------------------------------------------------------------------------
# After the proxy tests: while two nodes run in this process, RPCs such as chain.faucet reach the newest.


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("https://10.0.0.1/", "private or reserved"),
        ("https://127.0.0.1/", "private or reserved"),
        ("https://169.254.169.254/latest/meta-data", "private or reserved"),
        ("https://[::1]/", "private or reserved"),
        ("https://[::ffff:127.0.0.1]/", "private or reserved"),
        ("https://localhost/", "private or reserved"),
        ("https://100.64.0.1/", "private or reserved"),
        ("https://224.0.0.1/", "private or reserved"),
        ("https://0.0.0.0/", "private or reserved"),
        ("https://192.168.1.1:8443/", "private or reserved"),
        ("http://example.com/", "must be an https:// URL"),
        ("ftp://example.com/", "must be an https:// URL"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://example.com/?key=1", "query or fragment"),
        ("https:///nohost", "no host"),
        ("https://example.com:99999/", "bad port"),
    ],
)
def test_ssrf_targets_are_refused(inproc: Gate, target: str, reason: str) -> None:
    assert reason in refusal(inproc, "endpoints.add", slug="ssrf", target=target, price=1)


def test_the_dev_flag_allows_loopback_only(dev: Gate) -> None:
    assert "private or reserved" in refusal(dev, "endpoints.add", slug="lan", target="http://10.0.0.1/", price=1)
    assert "private or reserved" in refusal(dev, "endpoints.add", slug="meta", target="http://169.254.169.254/", price=1)
    added(dev, "loop", "http://localhost:1/")
    dev.node.call("endpoints.remove", slug="loop")


# Last in the file: stopping a node clears the plugin state that every node in this process shares.
def test_targets_are_checked_again_at_request_time(tmp_path: Path, upstream: Upstream) -> None:
    with gate_at(tmp_path / "node", allow_loopback_targets=True) as gate:
        added(gate, "was-ok", f"https://127.0.0.1:{upstream.port}")
    with gate_at(tmp_path / "node") as gate:
        seen = len(upstream.seen)
        response = httpx.get(gate.url + "/g/was-ok/x")
        assert response.status_code == 502 and "private or reserved" in response.json()["error"]
        assert "payment-required" not in response.headers and len(upstream.seen) == seen
