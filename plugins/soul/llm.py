"""The soul's Gemini client: google-genai's sync client in worker threads, the function-calling loop, budgets.

`LLM.ask` never raises for anything the API, the network or the model does: a 429 comes back as
`Reply(rate_limited=True)`, every other failure as `Reply(error=...)`. The API key lives only in
the genai client's request header; it is scrubbed from every error text this module produces.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import trio

from colony.core import BudgetError, BudgetExceeded, Budgets
from colony.core.rpc import loads

if TYPE_CHECKING:
    from google.genai import Client, types

log = logging.getLogger("colony.soul.llm")

DEFAULT_MODELS = {"T1": "gemini-2.5-flash", "T2": "gemini-2.5-pro"}
# micro-USD per million tokens (= USD per million tokens x 10^6): (input, output including thinking),
# Gemini API paid tier, prompts up to 200k tokens.
DEFAULT_PRICES: dict[str, tuple[int, int]] = {
    "gemini-2.5-flash-lite": (100_000, 400_000),
    "gemini-2.5-flash": (300_000, 2_500_000),
    "gemini-2.5-pro": (1_250_000, 10_000_000),
}
API_VERSION = "v1beta"
MAX_ERROR = 400  # characters of an upstream error message kept in a Reply
SUMMARY = "Your tool-call budget for this request is spent ({calls} calls). Do not call any tool; answer now with what you have."
FENCE = re.compile(r"```(?:json)?\s*\n?(.*?)```", re.DOTALL | re.IGNORECASE)

CallTool = Callable[[str, dict[str, Any]], Awaitable[Any]]


class Call(TypedDict):
    """One function call the model made: what it asked for and whether the tool succeeded."""

    name: str
    args: dict[str, Any]
    ok: bool


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and a JSON schema of its parameters."""

    name: str
    description: str
    parameters: Mapping[str, Any]

    def declaration(self) -> types.FunctionDeclaration:
        """The genai FunctionDeclaration for this tool."""
        from google.genai import types

        return types.FunctionDeclaration(name=self.name, description=self.description, parameters_json_schema=dict(self.parameters))


@dataclass
class Reply:
    """What `LLM.ask` got: the answer (and its JSON when asked for), the calls made, usage, and any failure."""

    text: str = ""
    data: Any = None
    calls: list[Call] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    micro_usd: int = 0
    model: str = ""
    tier: str = ""
    requests: int = 0
    summarized: bool = False
    rate_limited: bool = False
    retry_after: float | None = None
    budget_exceeded: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the model answered and nothing failed."""
        return self.error is None


class Failed(Exception):
    """One request's failure, already turned into the Reply fields that describe it."""

    def __init__(self, error: str, *, rate_limited: bool = False, retry_after: float | None = None, budget: bool = False) -> None:
        super().__init__(error)
        self.error, self.rate_limited, self.retry_after, self.budget = error, rate_limited, retry_after, budget


def parse_json(text: str) -> Any:
    """The JSON value in a model's answer, tolerating a ```json fence around it; ValueError if there is none."""
    fenced = FENCE.search(text)
    body = (fenced.group(1) if fenced else text).strip()
    if not body:
        raise ValueError("the answer is empty")
    return loads(body.encode())  # refuses deep nesting, which would overflow the C stack once web3 lifts the recursion limit


def _retry_after(details: Any) -> float | None:
    """The seconds a 429's RetryInfo asks to wait ("30s" -> 30.0), if it says."""
    error = details.get("error", details) if isinstance(details, Mapping) else None
    for detail in error.get("details", []) if isinstance(error, Mapping) and isinstance(error.get("details"), list) else []:
        delay = detail.get("retryDelay") if isinstance(detail, Mapping) else None
        if isinstance(delay, str) and re.fullmatch(r"\d+(\.\d+)?s", delay):
            return float(delay[:-1])
    return None


def _count(value: Any) -> int:
    """A token count from usage metadata: a non-negative int whatever the reply said."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _name(value: Any) -> str:
    """An enum's value (genai's enums are str enums), or the thing itself as text."""
    return str(getattr(value, "value", value))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class LLM:
    """A Gemini client for the soul: tiers map to models, `ask` runs one function-calling exchange.

    `models` maps tiers ("T1", "T2") to model names; `prices` maps model names (or prefixes) to
    `(input, output)` micro-USD per million tokens over `DEFAULT_PRICES`; an unknown model is
    charged at the dearest known price. `base_url` points at another Gemini endpoint (FakeGemini
    in tests). genai's own retries are off: a 429 comes straight back for the soul to pace itself.
    """

    def __init__(
        self,
        api_key: str,
        models: Mapping[str, str] | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 60.0,
        prices: Mapping[str, Sequence[int]] | None = None,
        concurrency: int = 2,
        max_tool_output: int = 16_000,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("an API key is required (set GEMINI_API_KEY or soul.api_key)")
        self.models = dict(DEFAULT_MODELS if models is None else models)
        self.prices = dict(DEFAULT_PRICES)
        for model, price in (prices or {}).items():
            pair = tuple(price)
            if len(pair) != 2 or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in pair):
                raise ValueError(f"price of {model!r}: (input, output) micro-USD per million tokens, non-negative ints")
            self.prices[model] = (pair[0], pair[1])
        self.base_url = base_url
        self.timeout = timeout
        self.max_tool_output = max_tool_output
        self._secret = api_key.strip()
        self._limiter = trio.CapacityLimiter(concurrency)
        self._client = self._make_client()

    def __repr__(self) -> str:
        return f"LLM(models={self.models!r}, base_url={self.base_url!r})"

    def _make_client(self) -> Client:
        # google.genai takes about a second to import; a node without a key never needs it.
        from google import genai
        from google.genai import types

        options = types.HttpOptions(
            base_url=self.base_url,
            api_version=API_VERSION,
            timeout=max(1, round(self.timeout * 1000)),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        return genai.Client(api_key=self._secret, vertexai=False, http_options=options)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def price(self, model: str) -> tuple[int, int]:
        """(input, output) micro-USD per million tokens for `model`: exact name, else longest known prefix, else the dearest."""
        name = model.removeprefix("models/")
        if name in self.prices:
            return self.prices[name]
        prefixes = [known for known in self.prices if name.startswith(known)]
        if prefixes:
            return self.prices[max(prefixes, key=len)]
        return max(self.prices.values(), key=lambda pair: pair[0] + pair[1])

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> int:
        """Micro-USD for this usage of `model`, rounded up."""
        price_in, price_out = self.price(model)
        return -(-(tokens_in * price_in + tokens_out * price_out) // 1_000_000)

    def redact(self, text: str) -> str:
        """`text` with the API key blanked out."""
        return text.replace(self._secret, "***")

    async def ask(
        self,
        tier: str,
        system: str,
        prompt: str,
        *,
        tools: Sequence[ToolSpec] = (),
        call_tool: CallTool | None = None,
        max_calls: int = 8,
        budgets: Budgets | None = None,
        json_reply: bool = False,
    ) -> Reply:
        """Ask the tier's model; run its function calls through `call_tool` (at most `max_calls`) until it answers.

        The model's turns go back into the history exactly as they came (thought signatures
        included). When `max_calls` calls are spent, one last request without tools asks for
        an answer. `call_tool(name, args)` returns the tool's JSON result; raising, or
        returning a dict with an "error" key, is reported to the model as a failed call.
        With `json_reply`, the answer is parsed into `Reply.data`.
        """
        if tools and call_tool is None:
            raise TypeError("ask(tools=...) needs call_tool to run them")
        model = self.models.get(tier, "")
        reply = Reply(model=model, tier=tier)
        if not model:
            reply.error = f"no model for tier {tier!r}; the tiers are {', '.join(sorted(self.models)) or 'none'}"
            return reply
        try:
            await self._exchange(reply, system, prompt, tools, call_tool, max_calls, budgets, json_reply)
        except Failed as failure:
            reply.error = self.redact(failure.error)
            reply.rate_limited, reply.retry_after, reply.budget_exceeded = failure.rate_limited, failure.retry_after, failure.budget
            log.log(logging.INFO if failure.budget else logging.WARNING, "Gemini %s (%s): %s", tier, model, reply.error)
        else:
            log.debug("Gemini %s (%s): %d requests, %d calls, %d+%d tokens, %d micro-USD", tier, model, reply.requests, len(reply.calls), reply.tokens_in, reply.tokens_out, reply.micro_usd)
        return reply

    async def _exchange(
        self,
        reply: Reply,
        system: str,
        prompt: str,
        tools: Sequence[ToolSpec],
        call_tool: CallTool | None,
        max_calls: int,
        budgets: Budgets | None,
        json_reply: bool,
    ) -> None:
        from google.genai import types

        known = {tool.name for tool in tools}
        declarations = [tool.declaration() for tool in tools]
        contents = [types.Content(role="user", parts=[types.Part(text=prompt)])]
        spent = 0
        while True:
            summarize = spent >= max_calls
            if summarize and (tools or spent):
                reply.summarized = True
                nudge = SUMMARY.format(calls=spent) + (" Reply with JSON only." if json_reply else "")
                contents[-1].parts = [*(contents[-1].parts or []), types.Part(text=nudge)]
            config = types.GenerateContentConfig(
                system_instruction=system or None,
                tools=[types.Tool(function_declarations=declarations)] if declarations else None,
                tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="NONE")) if declarations and summarize else None,
                # The API refuses a JSON mime type together with tools; the prompt asks for JSON then.
                response_mime_type="application/json" if json_reply and not declarations else None,
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
                automatic_continuation=False,
            )
            content = await self._request(reply, contents, config, budgets)
            calls = [part.function_call for part in content.parts or [] if part.function_call is not None]
            if not calls or summarize:
                self._answer(reply, content, json_reply, bool(calls))
                return
            contents.append(content)
            responses = []
            for call in calls:
                if spent >= max_calls:
                    response = {"error": "not run: the tool-call budget for this request is spent"}
                else:
                    spent += 1
                    ok, response, stop = await self._run(call, known, call_tool)
                    reply.calls.append(Call(name=call.name or "", args=_jsonable(call.args or {}), ok=ok))
                    if stop:
                        spent = max_calls
                responses.append(types.Part(function_response=types.FunctionResponse(id=call.id, name=call.name or "", response=response)))
            contents.append(types.Content(role="user", parts=responses))

    async def _run(self, call: types.FunctionCall, known: set[str], call_tool: CallTool | None) -> tuple[bool, dict[str, Any], bool]:
        """Run one function call: (ok, the function response, whether the tool budget is now spent)."""
        name = call.name or ""
        if name not in known or call_tool is None:
            return False, {"error": f"unknown tool {name!r}; the tools are: {', '.join(sorted(known)) or 'none'}"}, False
        try:
            result = _jsonable(await call_tool(name, dict(call.args or {})))
        except BudgetError as exc:
            return False, {"error": self.redact(str(exc))}, isinstance(exc, BudgetExceeded)
        except Exception as exc:
            return False, {"error": self.redact(f"{type(exc).__name__}: {exc}")}, False
        if isinstance(result, dict) and "error" in result:
            return False, self._bounded({"error": result["error"]}), False
        return True, self._bounded({"output": result}), False

    def _bounded(self, response: dict[str, Any]) -> dict[str, Any]:
        """`response`, cut to `max_tool_output` characters of JSON so one tool cannot flood the context."""
        text = json.dumps(response)
        if len(text) <= self.max_tool_output:
            return response
        key = next(iter(response))
        return {key: text[: self.max_tool_output], "truncated": True}

    async def _request(self, reply: Reply, contents: list[types.Content], config: types.GenerateContentConfig, budgets: Budgets | None) -> types.Content:
        """One generateContent: budgets checked first, usage charged after; the candidate's content, or Failed."""
        if budgets is not None:
            try:
                budgets.check("tokens")
                budgets.check("llm_micro_usd")
            except BudgetExceeded as exc:
                raise Failed(f"budget: {exc}", budget=True) from None
        history = list(contents)
        reply.requests += 1
        try:
            response = await trio.to_thread.run_sync(
                lambda: self._client.models.generate_content(model=reply.model, contents=history, config=config),
                limiter=self._limiter,
                abandon_on_cancel=True,
            )
        except Exception as exc:
            raise self._failure(exc) from None
        self._charge(reply, response, budgets)
        return self._content(response)

    def _failure(self, exc: Exception) -> Failed:
        """The Failed that describes an exception from the genai client."""
        from google.genai import errors

        if isinstance(exc, errors.APIError):
            message = f"Gemini API {exc.code} {exc.status}: {str(exc.message or exc.details)[:MAX_ERROR]}"
            if exc.code == 429 or exc.status == "RESOURCE_EXHAUSTED":
                return Failed(f"rate limited: {message}", rate_limited=True, retry_after=_retry_after(exc.details))
            return Failed(message)
        detail = f"{type(exc).__name__}: {str(exc)[:MAX_ERROR]}"
        if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
            return Failed(f"timed out after {self.timeout:g} s ({detail})")
        if isinstance(exc, ValueError | TypeError | KeyError | AttributeError):
            return Failed(f"malformed reply from Gemini: {detail}")
        return Failed(f"request failed: {detail}")

    def _charge(self, reply: Reply, response: Any, budgets: Budgets | None) -> None:
        """Add the response's usage to the reply and spend it from the budgets (after the fact, past any limit)."""
        usage = getattr(response, "usage_metadata", None)
        tokens_in = _count(getattr(usage, "prompt_token_count", 0)) + _count(getattr(usage, "tool_use_prompt_token_count", 0))
        tokens_out = _count(getattr(usage, "candidates_token_count", 0)) + _count(getattr(usage, "thoughts_token_count", 0))
        micro_usd = self.cost(reply.model, tokens_in, tokens_out)
        reply.tokens_in += tokens_in
        reply.tokens_out += tokens_out
        reply.micro_usd += micro_usd
        if budgets is not None:
            budgets.spend("tokens", tokens_in + tokens_out, strict=False)
            budgets.spend("llm_micro_usd", micro_usd, strict=False)

    def _content(self, response: Any) -> types.Content:
        """The first candidate's content (its role set to model if the reply left it out), or Failed."""
        feedback = getattr(response, "prompt_feedback", None)
        if getattr(feedback, "block_reason", None):
            raise Failed(f"Gemini blocked the prompt ({_name(feedback.block_reason)})")
        candidates = getattr(response, "candidates", None)
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        content = getattr(candidate, "content", None)
        if content is None or not content.parts:
            reason = getattr(candidate, "finish_reason", None)
            raise Failed(f"Gemini returned no content (finish reason {_name(reason) if reason else 'none'})")
        return content if content.role == "model" else content.model_copy(update={"role": "model"})

    def _answer(self, reply: Reply, content: types.Content, json_reply: bool, still_calling: bool) -> None:
        """Fill the reply's text (and data) from the model's final turn."""
        reply.text = "".join(part.text for part in content.parts or [] if part.text and not part.thought)
        if not reply.text:
            reply.error = "the model kept calling tools after its tool budget was spent" if still_calling else "the model answered with no text"
        elif json_reply:
            try:
                reply.data = parse_json(reply.text)
            except ValueError as exc:
                reply.error = f"the answer is not JSON: {exc}"
