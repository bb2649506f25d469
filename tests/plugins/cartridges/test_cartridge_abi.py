"""The host ABI byte for byte, as tempo-x402's cartridges expect it: every import (and its env alias), packing, allocation."""

from __future__ import annotations

import json

import pytest

from colony.plugins.cartridges.abi import DeployError, child_request, encode_request, pack
from tests.plugins.cartridges.conftest import ECHO, Rig, guest, handler

PAYMENT = {"payer": "0x00000000000000000000000000000000000000aa", "amount": "1000", "tx_hash": "", "network": "eip155:1337", "scheme": "exact"}

ECHO_BODY = "(call $response (i32.const 200) (local.get $req) (local.get $n) (i32.const 16) (call $str (i32.const 16)))"
# kv_set("k", <the whole request>): 201 when it returns 0, 400 when -1.
KV_SET_BODY = """    (call $reply
      (select (i32.const 201) (i32.const 400) (i32.eqz (call $kv_set (i32.const 16) (call $str (i32.const 16)) (local.get $req) (local.get $n))))
      (i32.const 0) (i32.const 0))"""
# kv_get("k"): 200 with the value, 404 when kv_get returns 0.
KV_GET_BODY = """    (local.set $v (call $kv_get (i32.const 16) (call $str (i32.const 16))))
    (if (i64.eqz (local.get $v)) (then (call $reply (i32.const 404) (i32.const 0) (i32.const 0)) (return)))
    (call $reply (i32.const 200) (call $ptr (local.get $v)) (call $len (local.get $v)))"""
LOGS_BODY = """    (call $log (i32.const 0) (i32.const 16) (i32.const 5))
    (call $log (i32.const 1) (i32.const 32) (i32.const 4))
    (call $log (i32.const 2) (i32.const 48) (i32.const 4))
    (call $log (i32.const 3) (i32.const 64) (i32.const 5))
    (call $log (i32.const 9) (i32.const 80) (i32.const 3))"""
LOGS_DATA = {16: "debug", 32: "info", 48: "warn", 64: "error", 80: "odd"}
# kv_set(<the whole request>, "v"): a long request makes a key over the limit.
KV_KEYED = handler(
    """    (call $reply
      (select (i32.const 201) (i32.const 400) (i32.eqz (call $kv_set (local.get $req) (local.get $n) (i32.const 16) (i32.const 1))))
      (i32.const 0) (i32.const 0))""",
    {16: "v"},
)
PAYINFO = handler(
    """    (local.set $v (call $payment_info))
    (call $reply (i32.const 200) (call $ptr (local.get $v)) (call $len (local.get $v)))"""
)
LOGS = handler(LOGS_BODY, LOGS_DATA)
SILENT = handler("    (nop)")
TYPED = handler("    (call $response (i32.const 201) (i32.const 16) (i32.const 2) (i32.const 0) (i32.const 0))", {16: "ok"})


def _two_handlers(on_post: str, on_get: str) -> str:
    """x402_handle that runs `on_post` for POST requests (byte 11 of '{"method":"POST"...' is 'P') and `on_get` otherwise."""
    return f"""  (func (export "x402_handle") (param $req i32) (param $n i32) (local $v i64)
    (if (i32.eq (i32.load8_u (i32.add (local.get $req) (i32.const 11))) (i32.const 80))
      (then
{on_post})
      (else
{on_get})))
"""


def caller_of(target: str, raw: bool = False) -> bytes:
    """A guest that calls `target` with its own request (or a plain string) and answers the packed result, 502 on 0."""
    args = "(i32.const 48) (call $str (i32.const 48))" if raw else "(local.get $req) (local.get $n)"
    return handler(
        f"""    (local.set $v (call $call (i32.const 16) (call $str (i32.const 16)) {args}))
    (if (i64.eqz (local.get $v)) (then (call $reply (i32.const 502) (i32.const 0) (i32.const 0)) (return)))
    (call $reply (i32.const 200) (call $ptr (local.get $v)) (call $len (local.get $v)))""",
        {16: target, 48: "plain text"},
    )


async def test_request_json_is_the_seeds_compact_cartridge_request(rig: Rig) -> None:
    await rig.deploy("echo", ECHO)
    out = await rig.call("echo", "POST", "/x/y", "hé")
    assert out.ok and out.status == 200 and out.content_type == "text/plain"
    assert out.body == '{"method":"POST","path":"/x/y","body":"hé","headers":{},"payment":null,"query":""}'.encode()


def test_encode_request_and_pack() -> None:
    raw = encode_request("GET", "/", "", {"a": "b"}, PAYMENT, "q=1")
    assert raw.startswith(b'{"method":"GET","path":"/","body":"","headers":{"a":"b"},"payment":{"payer":')
    assert raw.endswith(b',"query":"q=1"}')
    assert pack(4096, 17) == (4096 << 32) | 17
    assert pack(0xFFFFFFFF, 1) == ((0xFFFFFFFF << 32) | 1) - (1 << 64)  # the guest sees a signed i64


async def test_the_request_goes_to_offset_zero_without_x402_alloc(rig: Rig) -> None:
    at_zero = handler(
        """    (if (local.get $req) (then unreachable))
    (call $reply (i32.const 200) (local.get $req) (local.get $n))""",
        alloc=False,
    )
    await rig.deploy("noalloc", at_zero)
    out = await rig.call("noalloc", body="zero")
    assert out.ok, out.error
    assert json.loads(out.body)["body"] == "zero"


async def test_legacy_env_aliases_work_like_module_x402(rig: Rig) -> None:
    await rig.deploy("legacy", handler(ECHO_BODY, {16: "text/plain"}, env=True))
    await rig.deploy("legacy-kv", handler(KV_SET_BODY, {16: "k"}, env=True))
    await rig.deploy("legacy-logs", handler(LOGS_BODY, LOGS_DATA, env=True))
    out = await rig.call("legacy", body="old")
    assert out.ok and json.loads(out.body)["body"] == "old"
    assert (await rig.call("legacy-kv")).status == 201
    assert rig.kv.items("legacy-kv") == [(b"k", encode_request("GET", "/", "", {}, None))]
    assert [level for level, _ in (await rig.call("legacy-logs")).logs] == ["debug", "info", "warn", "error", "error"]


async def test_kv_round_trip_and_packed_values(rig: Rig) -> None:
    await rig.deploy("kv", guest(_two_handlers(KV_SET_BODY, KV_GET_BODY), {16: "k"}))
    assert (await rig.call("kv", "GET", "/get")).status == 404  # kv_get returns 0 when missing
    stored = await rig.call("kv", "POST", "/set", "value")
    assert stored.status == 201
    got = await rig.call("kv", "GET", "/get")
    assert got.status == 200 and got.body == encode_request("POST", "/set", "value", {}, None)


async def test_kv_set_returns_minus_one_for_a_key_over_the_limit(rig: Rig) -> None:
    await rig.deploy("keyed", KV_KEYED)
    assert (await rig.call("keyed", body="short")).status == 201
    assert (await rig.call("keyed", body="x" * 300)).status == 400
    assert len(rig.kv.items("keyed")) == 1


async def test_kv_get_without_x402_alloc_writes_past_the_end_of_memory(rig: Rig) -> None:
    # Without x402_alloc the request lands at offset 0, so the key lives further up.
    grown = guest(
        _two_handlers(
            KV_SET_BODY.replace("16", "1024"),
            """    (local.set $v (call $kv_get (i32.const 1024) (call $str (i32.const 1024))))
    (if (i32.ne (call $ptr (local.get $v)) (i32.const 131072)) (then unreachable))  ;; the old end of 2 pages
    (if (i32.ne (memory.size) (i32.const 3)) (then unreachable))
    (call $reply (i32.const 200) (call $ptr (local.get $v)) (call $len (local.get $v)))""",
        ),
        {1024: "k"},
        alloc=False,
    )
    await rig.deploy("grown", grown)
    assert (await rig.call("grown", "POST", "/", "abc")).status == 201
    out = await rig.call("grown")
    assert out.ok, out.error
    assert json.loads(out.body)["body"] == "abc"


async def test_payment_info_is_null_or_the_payment_context(rig: Rig) -> None:
    await rig.deploy("pay", PAYINFO)
    assert (await rig.call("pay")).body == b"null"
    paid = await rig.call("pay", payment=PAYMENT)
    assert json.loads(paid.body) == PAYMENT
    assert paid.body.startswith(b'{"payer":"0x00000000000000000000000000000000000000aa","amount":"1000","tx_hash":""')


async def test_log_levels_and_response_defaults(rig: Rig) -> None:
    await rig.deploy("logs", LOGS)
    out = await rig.call("logs")
    assert out.logs == [("debug", "debug"), ("info", "info"), ("warn", "warn"), ("error", "error"), ("error", "odd")]
    # A guest that never calls response answers 200 with an empty JSON body, as in the seed.
    assert (out.status, out.body, out.content_type) == (200, b"", "application/json")
    await rig.deploy("typed", TYPED)
    typed = await rig.call("typed")
    assert (typed.status, typed.body, typed.content_type) == (201, b"ok", "application/json")
    logged = rig.library.logs("logs", 10)
    assert [line["message"] for line in logged] == ["debug", "info", "warn", "error", "odd"]


async def test_call_returns_the_seeds_cartridge_result(rig: Rig) -> None:
    await rig.deploy("echo", ECHO)
    await rig.deploy("parent", caller_of("echo"))
    out = await rig.call("parent", "PUT", "/p", "hi", payment=PAYMENT)
    assert out.ok, out.error
    assert out.body.startswith(b'{"status":200,"body":"')
    result = json.loads(out.body)
    assert list(result) == ["status", "body", "content_type", "duration_ms"]
    assert result["content_type"] == "text/plain" and isinstance(result["duration_ms"], int)
    # The callee gets the caller's request, but never its payment: a caller cannot forge one.
    assert json.loads(result["body"]) == {"method": "PUT", "path": "/p", "body": "hi", "headers": {}, "payment": None, "query": ""}


async def test_call_wraps_plain_text_as_the_body_of_a_get(rig: Rig) -> None:
    await rig.deploy("echo", ECHO)
    await rig.deploy("raw", caller_of("echo", raw=True))
    result = json.loads((await rig.call("raw")).body)
    assert json.loads(result["body"]) == {"method": "GET", "path": "/", "body": "plain text", "headers": {}, "payment": None, "query": ""}
    assert child_request(b'{"method":"GET","path":"/","headers":{"a":1}}') == encode_request("GET", "/", '{"method":"GET","path":"/","headers":{"a":1}}', {}, None)
    deep = b"[" * 100_000 + b"]" * 100_000  # parsed safely: too deep for JSON, so it is a body
    assert child_request(deep) == encode_request("GET", "/", deep.decode(), {}, None)


async def test_a_called_cartridge_sees_an_isolated_kv_that_is_thrown_away(rig: Rig) -> None:
    await rig.deploy("store", guest(_two_handlers(KV_SET_BODY, KV_GET_BODY), {16: "k"}))
    assert (await rig.call("store", "POST", "/", "mine")).status == 201
    await rig.deploy("reader", caller_of("store"))
    read = json.loads((await rig.call("reader")).body)
    assert read["status"] == 404  # the callee's own committed KV is not visible
    await rig.deploy("writer", caller_of("store"))
    assert json.loads((await rig.call("writer", "POST", "/", "theirs")).body)["status"] == 201
    assert rig.kv.items("store") == [(b"k", encode_request("POST", "/", "mine", {}, None))]
    assert rig.kv.items("writer") == []


async def test_call_of_a_missing_cartridge_returns_zero_and_logs_why(rig: Rig) -> None:
    await rig.deploy("lonely", caller_of("nobody"))
    out = await rig.call("lonely")
    assert out.status == 502
    assert any("no backend or cognitive cartridge 'nobody'" in message for _, message in out.logs)


async def test_x402_init_runs_before_every_request(rig: Rig) -> None:
    ready = guest(
        """  (global $ready (mut i32) (i32.const 0))
  (func (export "x402_init") (result i32) (global.set $ready (i32.add (global.get $ready) (i32.const 1))) (i32.const 0))
  (func (export "x402_handle") (param i32 i32)
    (call $reply (select (i32.const 200) (i32.const 500) (i32.eq (global.get $ready) (i32.const 1))) (i32.const 0) (i32.const 0)))
"""
    )
    await rig.deploy("ready", ready)
    assert [(await rig.call("ready")).status for _ in range(3)] == [200, 200, 200]  # a fresh instance each time


async def test_env_malloc_is_a_bump_allocator_past_the_end(rig: Rig) -> None:
    bump = guest(
        """  (func (export "x402_handle") (param i32 i32) (local $p i32)
    (local.set $p (call $malloc (i32.const 10)))
    (call $free (local.get $p))
    (call $reply (select (i32.const 200) (i32.const 500) (i32.eq (local.get $p) (i32.const 131072))) (i32.const 0) (i32.const 0)))
""",
        imports='  (import "env" "malloc" (func $malloc (param i32) (result i32)))\n  (import "env" "free" (func $free (param i32)))\n',
    )
    await rig.deploy("bump", bump)
    assert (await rig.call("bump")).status == 200


async def test_imports_with_the_wrong_type_are_refused(rig: Rig) -> None:
    import wasmtime

    wrong = wasmtime.wat2wasm('(module (import "x402" "log" (func (param i32))) (memory (export "memory") 1) (func (export "x402_handle") (param i32 i32)))')
    with pytest.raises(DeployError, match=r"imports x402.log as \(i32\) -> \(\); the host defines \(i32, i32, i32\) -> \(\)"):
        await rig.deploy("wrong", wrong)
    silent = await rig.deploy("silent", SILENT)
    assert silent["version"] == "1.0.0"
