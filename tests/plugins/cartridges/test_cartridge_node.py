"""Cartridges on a real node: the RPC methods, /c/SLUG over real HTTP through the gateway, x402 payment, the cognitive hook."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colony.core.rpc import INVALID_PARAMS, OPERATION_FAILED, RPCError
from colony.testing import RunningNode
from tests.plugins.cartridges.conftest import ECHO, b64, deploy, guest, handler, manifest
from tests.plugins.conftest import wait_for

PAYINFO = handler(
    """    (local.set $v (call $payment_info))
    (call $reply (i32.const 200) (call $ptr (local.get $v)) (call $len (local.get $v)))"""
)
ANSWER = handler('    (call $reply (i32.const 200) (i32.const 16) (call $str (i32.const 16)))', {16: '{\\"success_prob\\":0.9}'})
SCREEN = guest(
    """  (func (export "x402_get_framebuffer") (result i32) (i32.const 1024))
  (func (export "x402_get_width") (result i32) (i32.const 2))
  (func (export "x402_get_height") (result i32) (i32.const 1))
  (func (export "x402_key_down") (param $code i32) (i32.store8 (i32.const 1024) (local.get $code)))
  (func (export "x402_tick") (i32.store8 (i32.const 1031) (i32.add (i32.load8_u (i32.const 1031)) (i32.const 1))))
"""
)


def version(text: str) -> bytes:
    return handler("    (call $reply (i32.const 200) (i32.const 16) (call $str (i32.const 16)))", {16: text})


def url(node: RunningNode) -> str:
    return str(node.call("gateway.info")["listening"][0])


def test_rpc_lifecycle(gateway_node: RunningNode) -> None:
    node = gateway_node
    first = deploy(node, "life-cycle", version("one"))
    assert (first["slug"], first["version"], first["previous"], first["kind"]) == ("life-cycle", "1.0.0", None, "backend")
    second = deploy(node, "life-cycle", version("two"), version="2.0.0")
    assert second["previous"] == "1.0.0"
    (row,) = [r for r in node.call("cartridges.list") if r["slug"] == "life-cycle"]
    assert (row["version"], row["previous"], row["calls"], row["traps"]) == ("2.0.0", "1.0.0", 0, {"fuel": 0, "deadline": 0, "other": 0})
    called = node.call("cartridges.call", slug="life-cycle", method="POST", path="/x", body="hi")
    assert (called["status"], called["body"], called["error"]) == (200, "two", None) and called["fuel"] > 0
    assert node.call("cartridges.rollback", slug="life-cycle")["version"] == "1.0.0"
    assert node.call("cartridges.call", slug="life-cycle")["body"] == "one"
    assert node.call("cartridges.logs", slug="life-cycle") == []
    gauges = node.call("node.metrics")["cartridges"]
    assert gauges["calls"] >= 2 and gauges["compiles"] >= 2
    assert set(gauges) == {"deployed", "calls", "errors", "fuel", "traps_fuel", "traps_deadline", "traps_other", "sessions", "compiles", "cache_loads"}
    assert node.call("cartridges.remove", slug="life-cycle") == {"slug": "life-cycle", "removed": True, "kv_keys": 0}
    assert "life-cycle" not in {r["slug"] for r in node.call("cartridges.list")}


def test_rpc_errors_are_clear(gateway_node: RunningNode) -> None:
    node = gateway_node
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("cartridges.call", {"slug": "nobody"}, INVALID_PARAMS, "no cartridge 'nobody'"),
        ("cartridges.call", {"slug": "../etc"}, INVALID_PARAMS, "no cartridge"),
        ("cartridges.remove", {"slug": "nobody"}, INVALID_PARAMS, "no cartridge 'nobody'"),
        ("cartridges.rollback", {"slug": "nobody"}, INVALID_PARAMS, "no cartridge 'nobody'"),
        ("cartridges.logs", {"slug": "nobody"}, INVALID_PARAMS, "no cartridge 'nobody'"),
        ("cartridges.deploy", {}, INVALID_PARAMS, "give wasm (base64) with manifest, or path"),
        ("cartridges.deploy", {"wasm": "!!", "manifest": manifest("x")}, INVALID_PARAMS, "wasm must be standard base64"),
        ("cartridges.deploy", {"wasm": b64(ECHO), "manifest": {"slug": "Bad Slug"}}, INVALID_PARAMS, "bad manifest: slug must be"),
        ("cartridges.deploy", {"wasm": b64(ECHO), "manifest": manifest("x"), "path": "/tmp"}, INVALID_PARAMS, "give either path, or wasm"),
        ("cartridges.deploy", {"wasm": b64(b"\0asm"), "manifest": manifest("broken")}, OPERATION_FAILED, "broken 1.0.0 was not deployed: the module does not compile"),
        ("cartridges.deploy", {"path": "/nonexistent/cart"}, OPERATION_FAILED, "build failed"),
        ("cartridges.session.open", {"slug": "nobody"}, INVALID_PARAMS, "no cartridge 'nobody'"),
        ("cartridges.session.tick", {"session_id": "nope"}, OPERATION_FAILED, "no open session 'nope'"),
        ("cartridges.session.tick", {"session_id": "nope", "keys": [["a", True]]}, INVALID_PARAMS, "keys must be [code, down] pairs"),
    ]
    for method, params, code, words in cases:
        with pytest.raises(RPCError) as raised:
            node.call(method, **params)
        assert (raised.value.code, words in raised.value.message) == (code, True), (method, raised.value.message)


def test_backend_cartridges_answer_over_http(gateway_node: RunningNode) -> None:
    node = gateway_node
    deploy(node, "echo", ECHO)
    deploy(node, "screen", SCREEN, kind="interactive")
    with httpx.Client(base_url=url(node), timeout=30) as http:
        got = http.get("/c/echo")
        assert got.status_code == 200 and got.headers["content-type"] == "text/plain"
        request = got.json()
        assert (request["method"], request["path"], request["body"], request["payment"], request["query"]) == ("GET", "/", "", None, "")
        assert request["headers"]["host"].startswith("127.0.0.1")
        posted = http.post("/c/echo/a/b?x=1&y=two", content=b"payload", headers={"X-Thing": "yes"}).json()
        assert (posted["method"], posted["path"], posted["body"], posted["query"], posted["headers"]["x-thing"]) == ("POST", "/a/b", "payload", "x=1&y=two", "yes")
        for method in ("PUT", "PATCH", "DELETE"):
            assert http.request(method, "/c/echo/z").json()["method"] == method
        assert http.get("/c/nobody").status_code == 404
        assert http.get("/c/screen").json() == {"error": "no backend cartridge 'screen'"}


def test_a_failing_cartridge_answers_a_json_error_and_others_keep_serving(gateway_node: RunningNode) -> None:
    node = gateway_node
    deploy(node, "echo", ECHO)
    deploy(node, "spinner", handler("    (loop $l (br $l))"), limits={"fuel": 10**10, "deadline_ms": 30})
    deploy(node, "crasher", handler("    unreachable"))
    with httpx.Client(base_url=url(node), timeout=30) as http:
        spun = http.get("/c/spinner")
        assert spun.status_code == 504 and spun.json() == {"error": "cartridge spinner failed (deadline): the cartridge ran past its deadline"}
        crashed = http.get("/c/crasher")
        assert crashed.status_code == 500 and "unreachable" in crashed.json()["error"]
        assert http.get("/c/echo").status_code == 200
    logs = node.call("cartridges.logs", slug="crasher")
    assert logs[-1]["level"] == "error" and "unreachable" in logs[-1]["message"]


def test_hot_swap_under_load_over_http(gateway_node: RunningNode) -> None:
    node = gateway_node
    deploy(node, "swap", version("v0"))
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url(node), timeout=30) as http:
            while not stop.is_set():
                response = http.get("/c/swap")
                answers.append((response.status_code, response.text))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        for n in range(1, 21):
            before = len(answers)
            wait_for(lambda: len(answers) > before, "a request between two deploys")
            deploy(node, "swap", version(f"v{n}"), version=f"1.0.{n}")
        wait_for(lambda: answers[-1] == (200, "v20"), "requests to reach the last version")
    finally:
        stop.set()
        thread.join()
    assert [a for a in answers if a[0] != 200] == []
    served = [int(text[1:]) for _, text in answers]
    assert served == sorted(served) and len(set(served)) > 2  # versions only move forward, and the client saw the swaps


def test_a_priced_cartridge_is_paid_with_the_official_x402_client(gateway_node: RunningNode) -> None:
    from x402.http.clients.requests import x402_requests

    from tests.plugins.gateway.conftest import Gate, decode, sdk_client

    node = gateway_node
    deploy(node, "paid", PAYINFO, price=1000)
    deploy(node, "free", PAYINFO)
    gate = Gate(node)
    try:
        refused = gate.http.get("/c/paid/deep")
        assert refused.status_code == 402
        assert decode(refused.headers["payment-required"])["accepts"][0]["amount"] == "1000"
        assert gate.http.get("/c/free").json() is None
        payer = gate.payer()
        with x402_requests(sdk_client(gate, payer, sync=True)) as session:
            response = session.get(gate.url + "/c/paid", timeout=120)
        assert response.status_code == 200, response.text
        assert response.content.startswith(b'{"payer":"0x')  # compact, as serde_json writes it
        paid = response.json()
        assert (paid["payer"], paid["amount"], paid["network"], paid["scheme"]) == (payer.address, "1000", gate.network, "exact")
        assert decode(response.headers["payment-response"])["success"] is True
    finally:
        gate.close()


def test_cognitive_cartridges_answer_the_hook(gateway_node: RunningNode) -> None:
    node = gateway_node

    async def ask(name: str) -> Any:
        assert node.kernel is not None
        return await node.kernel.dispatcher.first("colony_cognitive", name=name, request={"step_type": "code", "cycle_count": 3})

    assert node.run(ask, "brain.predict") is None
    deploy(node, "cognitive-brain", ANSWER, kind="cognitive", hook="brain.predict")
    assert node.run(ask, "brain.predict") == ("cartridges", {"success_prob": 0.9})
    assert node.run(ask, "cortex.predict") is None
    deploy(node, "cognitive-brain", handler("    unreachable"), kind="cognitive", hook="brain.predict", version="2.0.0")
    assert node.run(ask, "brain.predict") is None  # a trap means the built-in code runs
    deploy(node, "cognitive-echo", ECHO, kind="cognitive", hook="echo.test")
    seen = node.run(ask, "echo.test")[1]
    assert (seen["method"], seen["path"], json.loads(seen["body"])) == ("POST", "/", {"step_type": "code", "cycle_count": 3})
    node.call("cartridges.remove", slug="cognitive-brain")
    node.call("cartridges.remove", slug="cognitive-echo")


def test_interactive_sessions_over_rpc(gateway_node: RunningNode) -> None:
    node = gateway_node
    deploy(node, "screen", SCREEN, kind="interactive")
    opened = node.call("cartridges.session.open", slug="screen")
    assert (opened["width"], opened["height"], opened["frame"]) == (2, 1, b64(bytes(8)))
    ticked = node.call("cartridges.session.tick", session_id=opened["session"], keys=[[7, True]])
    assert ticked["frame"] == b64(bytes([7, 0, 0, 0, 0, 0, 0, 1]))
    assert node.call("cartridges.session.key", session_id=opened["session"], code=7, down=False)["frame"] is None
    assert node.call("cartridges.session.close", session_id=opened["session"]) == {"session": opened["session"], "closed": True}
    panel = node.call("panels.get", name="cartridges")
    assert "screen" in [row[0] for row in panel["data"]["table"]["rows"]]


def test_deploy_builds_a_node_local_path(gateway_node: RunningNode, tmp_path: Path) -> None:
    source = tmp_path / "local-echo.wat"
    source.write_text(
        '(module (import "x402" "response" (func $r (param i32 i32 i32 i32 i32))) (memory (export "memory") 1)'
        ' (data (i32.const 1024) "built") (func (export "x402_handle") (param i32 i32) (call $r (i32.const 200) (i32.const 1024) (i32.const 5) (i32.const 0) (i32.const 0))))'
    )
    info = gateway_node.call("cartridges.deploy", path=str(source))
    assert (info["slug"], info["lang"]) == ("local-echo", "wat")
    assert gateway_node.call("cartridges.call", slug="local-echo")["body"] == "built"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
NAMES = ["slug", "wasm", "manifest", "method", "path", "body", "headers", "limit", "width", "height", "session_id", "keys", "code", "down"]
METHODS = [
    "cartridges.deploy", "cartridges.list", "cartridges.call", "cartridges.logs", "cartridges.rollback",
    "cartridges.session.open", "cartridges.session.tick", "cartridges.session.key", "cartridges.session.close",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(METHODS), params=st.dictionaries(st.sampled_from(NAMES), JSON | st.sampled_from(["echo", "screen", "/", "GET"]), max_size=4))
def test_hostile_rpc_params_get_errors_never_crashes(gateway_node: RunningNode, method: str, params: dict[str, Any]) -> None:
    try:
        gateway_node.call(method, **params)
    except RPCError as exc:
        assert exc.code in (INVALID_PARAMS, OPERATION_FAILED), exc.message
    assert isinstance(gateway_node.call("cartridges.list"), list)


def test_a_restarted_node_serves_its_cartridges_without_recompiling(running_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    first = running_node(plugins=["cartridges"], home=tmp_path / "home")
    deploy(first, "kept", version("still here"))
    assert first.call("node.metrics")["cartridges"]["compiles"] == 1
    first.stop()
    again = running_node(plugins=["cartridges"], home=tmp_path / "home")
    gauges = again.call("node.metrics")["cartridges"]
    assert (gauges["deployed"], gauges["compiles"], gauges["cache_loads"]) == (1, 0, 1)
    assert again.call("cartridges.call", slug="kept")["body"] == "still here"
