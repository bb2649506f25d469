"""The soul's Gemini client: the real google-genai client against FakeGemini on loopback."""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colony.core import Budgets, ToolError
from colony.core.budgets import Limits
from colony.plugins.soul.llm import LLM, Reply, ToolSpec, parse_json
from colony.testing import FakeGemini, ScriptedAgent
from colony.testing.gemini import error, function_call, function_calls, malformed, rate_limited, text, usage

KEY = "AIzaTEST-secret-key-0123456789"
PATH = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
TOOLS = (
    ToolSpec("read_file", "Read a file of the workspace.", PATH),
    ToolSpec("list_dir", "List a folder of the workspace.", PATH),
    ToolSpec("explode", "Always fails.", {"type": "object", "properties": {}}),
)


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini([], api_key=KEY) as server:
        yield server


@pytest.fixture
def llm(fake: FakeGemini) -> Iterator[LLM]:
    client = LLM(KEY, base_url=fake.url, timeout=10)
    yield client
    client.close()


class Tools:
    """A call_tool like the soul's: the kernel's guard and tool-call budget, then the tool."""

    def __init__(self, budgets: Budgets | None = None) -> None:
        self.budgets = budgets
        self.ran: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, name: str, args: dict[str, Any]) -> Any:
        if self.budgets is not None:
            self.budgets.admit(name, args)
        self.ran.append((name, args))
        if name == "explode":
            raise ToolError("the fuse was lit")
        if args.get("path") == "missing.txt":
            return {"error": "no such file: missing.txt"}
        return {"content": f"contents of {args['path']}"}


def responses_in(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The function responses a request sends back, in order."""
    return [p["functionResponse"] for c in request["contents"] for p in c["parts"] if "functionResponse" in p]


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# -- answers --------------------------------------------------------------------------------


async def test_plain_text_answer(fake: FakeGemini, llm: LLM) -> None:
    fake.responder = [text("Hello, operator.", tokens=usage(12, 4)), text("Deep thought.")]
    reply = await llm.ask("T1", "You are a soul.", "Say hello.")
    assert reply == Reply(text="Hello, operator.", tokens_in=12, tokens_out=4, micro_usd=14, model="gemini-2.5-flash", tier="T1", requests=1)
    assert fake.models == ["gemini-2.5-flash"]
    sent = fake.requests[0]
    assert sent["systemInstruction"]["parts"] == [{"text": "You are a soul."}]
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "Say hello."}]}]
    assert "tools" not in sent
    deep = await llm.ask("T2", "", "Think.")
    assert (deep.text, deep.model, fake.models[-1]) == ("Deep thought.", "gemini-2.5-pro", "gemini-2.5-pro")
    assert "systemInstruction" not in fake.requests[-1]


async def test_unknown_tier_is_an_error_without_a_request(fake: FakeGemini, llm: LLM) -> None:
    reply = await llm.ask("T0", "", "hi")
    assert reply.error == "no model for tier 'T0'; the tiers are T1, T2"
    assert fake.requests == []


async def test_function_calls_echo_thought_signatures(fake: FakeGemini, llm: LLM) -> None:
    fake.responder = [
        function_call("read_file", {"path": "README.md"}, thought_signature=b"\xfb\xff\xfe sig-1"),
        function_call("list_dir", {"path": "."}, thought_signature=b"sig-2"),
        text("README says hi; the folder has 3 files."),
    ]
    tools = Tools()
    reply = await llm.ask("T1", "sys", "What is here?", tools=TOOLS, call_tool=tools)
    assert reply.ok, reply.error
    assert reply.text == "README says hi; the folder has 3 files."
    assert reply.calls == [{"name": "read_file", "args": {"path": "README.md"}, "ok": True}, {"name": "list_dir", "args": {"path": "."}, "ok": True}]
    assert tools.ran == [("read_file", {"path": "README.md"}), ("list_dir", {"path": "."})]
    assert (reply.requests, reply.tokens_in, reply.tokens_out) == (3, 30, 15)
    declared = fake.requests[0]["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declared] == ["read_file", "list_dir", "explode"]
    last = fake.requests[2]["contents"]
    assert [c["role"] for c in last] == ["user", "model", "user", "model", "user"]
    signatures = [base64.urlsafe_b64decode(c["parts"][0]["thoughtSignature"]) for c in last if c["role"] == "model"]
    assert signatures == [b"\xfb\xff\xfe sig-1", b"sig-2"]
    assert responses_in(fake.requests[2]) == [
        {"name": "read_file", "response": {"output": {"content": "contents of README.md"}}},
        {"name": "list_dir", "response": {"output": {"content": "contents of ."}}},
    ]


def test_fake_rejects_a_history_without_the_signature_it_issued(fake: FakeGemini) -> None:
    fake.responder = [function_call("read_file", {"path": "a"}, thought_signature=b"sig")]
    url = f"{fake.url}/v1beta/models/gemini-2.5-flash:generateContent"
    prompt = {"role": "user", "parts": [{"text": "go"}]}
    assert post(url, json.dumps({"contents": [prompt]}).encode(), {"x-goog-api-key": KEY})[0] == 200
    call = {"functionCall": {"name": "read_file", "args": {"path": "a"}}}
    answer = {"role": "user", "parts": [{"functionResponse": {"name": "read_file", "response": {"output": 1}}}]}
    status, body = post(url, json.dumps({"contents": [prompt, {"role": "model", "parts": [call]}, answer]}).encode(), {"x-goog-api-key": KEY})
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert "missing a thought_signature" in body["error"]["message"] and "position 2" in body["error"]["message"]
    forged = {**call, "thoughtSignature": base64.b64encode(b"other").decode()}
    status, body = post(url, json.dumps({"contents": [prompt, {"role": "model", "parts": [forged]}, answer]}).encode(), {"x-goog-api-key": KEY})
    assert (status, body["error"]["message"]) == (400, "Corrupted thought signature.")


def test_fake_speaks_the_api_error_shape(fake: FakeGemini) -> None:
    base = f"{fake.url}/v1beta/models/m:generateContent"
    good = json.dumps({"contents": [{"role": "user", "parts": [{"text": "x"}]}]}).encode()
    cases = [
        (f"{fake.url}/v1/models/m:countTokens", good, {"x-goog-api-key": KEY}, 404, "NOT_FOUND"),
        (base, good, {}, 403, "PERMISSION_DENIED"),
        (base, good, {"x-goog-api-key": "wrong"}, 400, "INVALID_ARGUMENT"),
        (base, b"{not json", {"x-goog-api-key": KEY}, 400, "INVALID_ARGUMENT"),
        (base, b'{"contents": []}', {"x-goog-api-key": KEY}, 400, "INVALID_ARGUMENT"),
        (base, b'{"contents": [{"role": "system", "parts": []}]}', {"x-goog-api-key": KEY}, 400, "INVALID_ARGUMENT"),
        (base, good, {"x-goog-api-key": KEY}, 500, "INTERNAL"),  # the empty script ran out
        (f"{base}?key={KEY}", good, {}, 500, "INTERNAL"),  # the key may come as a query parameter too
    ]
    for url, body, headers, code, status in cases:
        got, answer = post(url, body, headers)
        assert (got, answer["error"]["code"], answer["error"]["status"]) == (code, code, status), (url, body, headers)
    tools_and_json = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "tools": [{"functionDeclarations": [{"name": "t"}]}],
        "generationConfig": {"responseMimeType": "application/json"},
    }
    got, answer = post(base, json.dumps(tools_and_json).encode(), {"x-goog-api-key": KEY})
    assert (got, answer["error"]["message"]) == (400, "Tool use with a response mime type: 'application/json' is unsupported")


# -- the tool-call budget --------------------------------------------------------------------


async def test_spent_tool_budget_ends_with_one_summary_call(fake: FakeGemini, llm: LLM) -> None:
    fake.responder = ScriptedAgent(calls_per_answer=100, args={"read_file": {"path": "a"}, "list_dir": {"path": "b"}})
    reply = await llm.ask("T1", "sys", "Explore.", tools=TOOLS[:2], call_tool=Tools(), max_calls=3)
    assert reply.ok and reply.summarized
    assert reply.text == "Scripted answer 1."
    assert [c["name"] for c in reply.calls] == ["list_dir", "read_file", "list_dir"]
    assert len(fake.requests) == 4
    summary = fake.requests[-1]
    assert summary["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
    assert summary["contents"][-1]["parts"][-1]["text"].startswith("Your tool-call budget for this request is spent (3 calls).")


async def test_parallel_calls_past_the_budget_are_answered_not_run(fake: FakeGemini, llm: LLM) -> None:
    fake.responder = [function_calls(("read_file", {"path": "1"}), ("read_file", {"path": "2"}), ("read_file", {"path": "3"}), thought_signature=b"s"), text("two of three")]
    tools = Tools()
    reply = await llm.ask("T1", "", "Read.", tools=TOOLS, call_tool=tools, max_calls=2)
    assert (reply.text, reply.summarized, len(reply.calls), len(tools.ran)) == ("two of three", True, 2, 2)
    assert responses_in(fake.requests[1])[2]["response"] == {"error": "not run: the tool-call budget for this request is spent"}


async def test_tool_failures_go_back_to_the_model(fake: FakeGemini, llm: LLM) -> None:
    fake.responder = [
        function_calls(("no_such_tool", {"x": 1}), ("explode", {}), ("read_file", {"path": "missing.txt"})),
        text("Nothing worked."),
    ]
    reply = await llm.ask("T1", "", "Try things.", tools=TOOLS, call_tool=Tools())
    assert reply.ok and reply.text == "Nothing worked."
    assert [(c["name"], c["ok"]) for c in reply.calls] == [("no_such_tool", False), ("explode", False), ("read_file", False)]
    assert [r["response"] for r in responses_in(fake.requests[1])] == [
        {"error": "unknown tool 'no_such_tool'; the tools are: explode, list_dir, read_file"},
        {"error": "ToolError: the fuse was lit"},
        {"error": "no such file: missing.txt"},
    ]


async def test_huge_tool_output_is_cut(fake: FakeGemini) -> None:
    fake.responder = [function_call("read_file", {"path": "big"}), text("ok")]
    client = LLM(KEY, base_url=fake.url, max_tool_output=100)

    async def big(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"content": "x" * 10_000}

    reply = await client.ask("T1", "", "Read.", tools=TOOLS, call_tool=big)
    client.close()
    sent = responses_in(fake.requests[1])[0]["response"]
    assert reply.ok and sent["truncated"] is True and len(sent["output"]) == 100


async def test_guard_and_tool_call_budget_through_call_tool(fake: FakeGemini, llm: LLM) -> None:
    budgets = Budgets({"tool_calls": Limits(per_tick=4)}, repeat_limit=2)
    same = function_call("read_file", {"path": "same"})
    fake.responder = [same, same, same, *(function_call("read_file", {"path": str(n)}) for n in range(3)), text("stopped")]
    reply = await llm.ask("T1", "", "Loop.", tools=TOOLS, call_tool=Tools(budgets), max_calls=50)
    # The third identical call trips the guard; the sixth is past the tool-call budget, which ends the loop.
    assert [c["ok"] for c in reply.calls] == [True, True, False, True, True, False]
    assert reply.ok and reply.summarized and reply.text == "stopped"
    errors = [r["response"].get("error", "") for r in responses_in(fake.requests[-1])]
    assert errors[2] == "repeated action 'read_file': call 3 in a row with the same params (limit 2)"
    assert errors[5] == "tool_calls budget per tick exceeded: 4 used + 1 > limit 4"


# -- failures ---------------------------------------------------------------------------------


async def test_429_is_rate_limited_and_never_raised(fake: FakeGemini, llm: LLM) -> None:
    budgets = Budgets()
    fake.responder = [rate_limited("12s")]
    reply = await llm.ask("T1", "", "hi", budgets=budgets)
    assert reply.rate_limited and reply.retry_after == 12.0
    assert reply.error is not None and reply.error.startswith("rate limited: Gemini API 429 RESOURCE_EXHAUSTED")
    assert (reply.tokens_in, reply.tokens_out, budgets.day_used["tokens"]) == (0, 0, 0)


async def test_429_in_the_middle_of_a_tool_loop(fake: FakeGemini, llm: LLM) -> None:
    fake.responder = [function_call("read_file", {"path": "a"}, thought_signature=b"s"), rate_limited()]
    reply = await llm.ask("T1", "", "Read.", tools=TOOLS, call_tool=Tools())
    assert reply.rate_limited and reply.retry_after == 30.0 and reply.calls == [{"name": "read_file", "args": {"path": "a"}, "ok": True}]


async def test_malformed_and_error_replies_are_errors(fake: FakeGemini, llm: LLM) -> None:
    fake.responder = [
        malformed(),
        malformed(b"{not json"),
        error(500, "Internal error encountered."),
        error(400, "Request contains an invalid argument."),
        {"candidates": []},
        {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "SAFETY"}]},
        {"promptFeedback": {"blockReason": "SAFETY"}},
    ]
    errors = [(await llm.ask("T1", "", "hi")).error for _ in range(7)]
    assert errors[0] is not None and errors[0].startswith("malformed reply from Gemini: ValidationError")
    assert errors[1] is not None and errors[1].startswith("malformed reply from Gemini: JSONDecodeError")
    assert errors[2:] == [
        "Gemini API 500 INTERNAL: Internal error encountered.",
        "Gemini API 400 INVALID_ARGUMENT: Request contains an invalid argument.",
        "Gemini returned no content (finish reason none)",
        "Gemini returned no content (finish reason SAFETY)",
        "Gemini blocked the prompt (SAFETY)",
    ]


async def test_timeout_and_unreachable_server_are_errors(fake: FakeGemini) -> None:
    release = threading.Event()

    def stall(request: dict[str, Any]) -> dict[str, Any]:
        release.wait(30)
        return text("too late")

    fake.responder = stall
    client = LLM(KEY, base_url=fake.url, timeout=0.3)
    reply = await client.ask("T1", "", "hi")
    release.set()
    client.close()
    assert reply.error is not None and reply.error.startswith("timed out after 0.3 s")
    gone = FakeGemini().start()
    url = gone.url
    gone.close()
    client = LLM(KEY, base_url=url)
    reply = await client.ask("T1", "", "hi")
    client.close()
    assert reply.error is not None and reply.error.startswith("request failed: ConnectError")


# -- JSON answers ------------------------------------------------------------------------------


async def test_json_reply(fake: FakeGemini, llm: LLM) -> None:
    fake.responder = [
        text('Here it is:\n```json\n{"steps": [{"action": "think"}]}\n```'), text('[1, 2]'), text("I would rather not."), text("[" * 100_000),
    ]
    fenced = await llm.ask("T1", "", "Plan as JSON.", json_reply=True)
    assert fenced.ok and fenced.data == {"steps": [{"action": "think"}]}
    assert fake.requests[0]["generationConfig"] == {"responseMimeType": "application/json"}
    assert (await llm.ask("T1", "", "x", json_reply=True)).data == [1, 2]
    prose = await llm.ask("T1", "", "x", json_reply=True)
    assert prose.text == "I would rather not." and prose.data is None
    assert prose.error is not None and prose.error.startswith("the answer is not JSON: Expecting value")
    deep = await llm.ask("T1", "", "x", json_reply=True)  # would overflow the C stack under web3's recursion limit
    assert deep.error == "the answer is not JSON: JSON nested deeper than 128 levels" and deep.data is None


async def test_json_reply_with_tools_leaves_the_mime_type_out(fake: FakeGemini, llm: LLM) -> None:
    fake.responder = [function_call("read_file", {"path": "a"}), text('{"done": true}')]
    reply = await llm.ask("T1", "", "Read, then reply in JSON.", tools=TOOLS, call_tool=Tools(), json_reply=True)
    assert reply.data == {"done": True}
    assert [r.get("generationConfig") for r in fake.requests] == [{}, {}]


def test_parse_json_forms() -> None:
    assert parse_json(' {"a": 1} ') == {"a": 1}
    assert parse_json("```\n[true]\n```") == [True]
    assert parse_json("```JSON\n3\n```") == 3
    for bad in ("", "```json\n```", "{oops"):
        with pytest.raises(ValueError):
            parse_json(bad)


# -- budgets -------------------------------------------------------------------------------------


async def test_tokens_and_cost_are_charged(fake: FakeGemini, llm: LLM) -> None:
    budgets = Budgets()
    fake.responder = [
        function_call("read_file", {"path": "a"}, tokens=usage(1000, 100, thoughts_tokens=100)),
        text("done", tokens=usage(2000, 50)),
        text("pro", tokens=usage(1_000_000, 0)),
    ]
    reply = await llm.ask("T1", "", "Read.", tools=TOOLS, call_tool=Tools(), budgets=budgets)
    # flash: 3000 in x 0.30 USD/M + 250 out (thinking included) x 2.50 USD/M = 900 + 625 micro-USD
    assert (reply.tokens_in, reply.tokens_out, reply.micro_usd) == (3000, 250, 1525)
    assert (budgets.day_used["tokens"], budgets.day_used["llm_micro_usd"]) == (3250, 1525)
    pro = await llm.ask("T2", "", "Think.", budgets=budgets)
    assert pro.micro_usd == 1_250_000
    assert llm.cost("models/gemini-2.5-flash-lite-preview", 1_000_000, 1_000_000) == 500_000
    assert llm.cost("some-future-model", 1_000_000, 0) == 1_250_000  # unknown: the dearest known price


async def test_spent_budgets_stop_the_request(fake: FakeGemini, llm: LLM) -> None:
    fake.responder = [text("big", tokens=usage(500, 500)), text("never sent")]
    budgets = Budgets({"tokens": Limits(per_tick=100)})
    first = await llm.ask("T1", "", "hi", budgets=budgets)
    assert first.ok and budgets.tick_used["tokens"] == 1000  # recorded past the limit
    second = await llm.ask("T1", "", "hi", budgets=budgets)
    assert second.budget_exceeded and not second.rate_limited and second.requests == 0
    assert second.error == "budget: tokens budget per tick exceeded: 1000 used + 1 > limit 100"
    assert len(fake.requests) == 1
    money = Budgets({"llm_micro_usd": Limits(per_day=10)})
    money.spend("llm_micro_usd", 10)
    broke = await llm.ask("T1", "", "hi", budgets=money)
    assert broke.budget_exceeded and broke.error is not None and "llm_micro_usd budget per day" in broke.error
    assert len(fake.requests) == 1


async def test_budget_spent_mid_loop_stops_with_the_calls_made(fake: FakeGemini, llm: LLM) -> None:
    budgets = Budgets({"tokens": Limits(per_tick=20)})
    fake.responder = [function_call("read_file", {"path": "a"}, tokens=usage(15, 10)), text("unreached")]
    reply = await llm.ask("T1", "", "Read.", tools=TOOLS, call_tool=Tools(), budgets=budgets)
    assert reply.budget_exceeded and len(reply.calls) == 1 and reply.requests == 1 and len(fake.requests) == 1


# -- the key ----------------------------------------------------------------------------------------


async def test_the_key_never_shows(fake: FakeGemini, llm: LLM, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.responder = [
        function_call("explode", {}, thought_signature=b"s"),
        text("fine"),
        rate_limited(),
        error(400, f"API key not valid: {KEY}"),
        malformed(),
    ]
    replies = [await llm.ask("T1", "", "go", tools=TOOLS, call_tool=Tools()) for _ in range(4)]
    assert [r.ok for r in replies] == [True, False, False, False]
    assert "***" in (replies[2].error or "")
    wrong = LLM("not-the-key", base_url=fake.url)
    refused = await wrong.ask("T1", "", "hi")
    wrong.close()
    assert refused.error == "Gemini API 400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
    everything = caplog.text + repr(llm) + json.dumps([r.__dict__ for r in replies], default=str) + json.dumps(fake.requests)
    assert caplog.records and KEY not in everything
    with pytest.raises(ValueError, match="API key is required"):
        LLM("  ")


# -- the scripted agent --------------------------------------------------------------------------------


async def test_scripted_agent_runs_long_and_plans_in_json(fake: FakeGemini, llm: LLM) -> None:
    agent = ScriptedAgent(calls_per_answer=2)
    fake.responder = agent
    tools = Tools()
    for _ in range(10):
        reply = await llm.ask("T1", "", "Work.", tools=TOOLS[:2], call_tool=tools)
        assert reply.ok and len(reply.calls) == 2
    assert [name for name, _ in tools.ran[:4]] == ["list_dir", "read_file", "list_dir", "read_file"]
    assert tools.ran[0] == ("list_dir", {"path": "path-0"})
    plan = await llm.ask("T1", "", "Plan the next step.", json_reply=True)
    assert plan.data == {"steps": [{"action": "think", "params": {"thought": "what should plan 11 achieve?"}}], "confidence": 0.7, "why": "scripted plan 11"}
    assert (agent.calls, agent.answers) == (20, 11)


# -- hostile replies --------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
CALL = st.fixed_dictionaries(
    {"functionCall": st.fixed_dictionaries({"name": st.sampled_from(["read_file", "list_dir", "explode", "nope", ""])}, optional={"args": st.dictionaries(st.sampled_from(["path", "x"]), st.text(max_size=8) | JSON, max_size=2), "id": st.text(max_size=5)})},
    optional={"thoughtSignature": st.sampled_from(["c2ln", "", "-__-"])},
)
PART = st.one_of(
    CALL,
    st.fixed_dictionaries({"text": st.text(max_size=30)}, optional={"thought": st.booleans()}),
    st.dictionaries(st.sampled_from(["text", "thought", "functionCall", "functionResponse", "thoughtSignature", "inlineData"]), JSON, max_size=3),
)
CANDIDATE = st.fixed_dictionaries(
    {"content": st.fixed_dictionaries({"parts": st.lists(PART, min_size=1, max_size=3) | JSON}, optional={"role": st.sampled_from(["model", "user"]) | JSON})},
    optional={"finishReason": st.sampled_from(["STOP", "MAX_TOKENS", "CONTINUATION", "??"]) | JSON, "index": JSON},
)
REPLY = st.fixed_dictionaries(
    {"candidates": st.lists(CANDIDATE, min_size=1, max_size=2) | JSON},
    optional={
        "usageMetadata": st.dictionaries(st.sampled_from(["promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount"]), st.integers(-10, 10**12) | JSON) | JSON,
        "promptFeedback": st.fixed_dictionaries({}, optional={"blockReason": st.sampled_from(["SAFETY", "OTHER"]) | JSON}) | JSON,
        "modelVersion": JSON,
    },
)
STATUS = st.sampled_from([200] * 6 + [201, 400, 404, 429, 500, 503])
BODY = st.tuples(STATUS, REPLY | REPLY | JSON | st.binary(max_size=50))


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[FakeGemini, LLM]]:
    with FakeGemini([]) as server:
        client = LLM(KEY, base_url=server.url)
        yield server, client
        client.close()


@pytest.mark.filterwarnings("ignore:.* is not a valid :UserWarning")  # genai warns of unknown enum values, then carries on
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(BODY, min_size=1, max_size=4), json_reply=st.booleans())
def test_garbage_replies_never_raise(hostile: tuple[FakeGemini, LLM], bodies: list[tuple[int, Any]], json_reply: bool) -> None:
    server, client = hostile
    server.responder = list(bodies)
    reply = trio.run(lambda: client.ask("T1", "", "hi", tools=TOOLS, call_tool=Tools(), max_calls=2, json_reply=json_reply))
    assert isinstance(reply, Reply)
    assert reply.ok or reply.error
    assert reply.tokens_in >= 0 and reply.tokens_out >= 0 and reply.micro_usd >= 0
