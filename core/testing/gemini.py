"""A fake Gemini: a loopback HTTP server speaking the `generateContent` REST API, for tests.

Point `google-genai` (or any Gemini REST client) at `FakeGemini.url` with API version `v1beta`.
The fake answers `POST /v1beta/models/{model}:generateContent` with whatever its responder
returns and enforces what the real API enforces on a request's history: known roles, one
function response per function call, no JSON mime type together with tools, and thought
signatures echoed back on the function calls it issued with one (the real API 400s otherwise).
Everything else gets the API's error shape: `{"error": {"code", "message", "status"}}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# A reply: a GenerateContentResponse dict (HTTP 200), or (status, body) where body is JSON-able
# or raw bytes sent as they are.
Reply = dict[str, Any] | tuple[int, Any]
Responder = Callable[[dict[str, Any]], Reply]

ROUTE = re.compile(r"^/v1beta/models/([^/:?]+):generateContent(?:\?.*)?$")
STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
ROLES = ("user", "model")
MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, function "
    "call `default_api:{name}` , position {position}. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
CORRUPTED_SIGNATURE = "Corrupted thought signature."
RESPONSE_COUNT = (
    "Please ensure that the number of function response parts is equal to the number of function call parts "
    "of the function call turn."
)
JSON_WITH_TOOLS = "Tool use with a response mime type: 'application/json' is unsupported"


# -- replies -------------------------------------------------------------------------------


def usage(prompt_tokens: int = 10, output_tokens: int = 5, thoughts_tokens: int = 0) -> dict[str, int]:
    """A `usageMetadata` object with these token counts."""
    meta = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens}
    if thoughts_tokens:
        meta["thoughtsTokenCount"] = thoughts_tokens
    meta["totalTokenCount"] = prompt_tokens + output_tokens + thoughts_tokens
    return meta


def content_reply(parts: list[dict[str, Any]], *, finish_reason: str = "STOP", tokens: Mapping[str, int] | None = None) -> dict[str, Any]:
    """A GenerateContentResponse with one candidate made of `parts`."""
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish_reason, "index": 0}],
        "usageMetadata": dict(tokens) if tokens is not None else usage(),
    }


def text(answer: str, *, tokens: Mapping[str, int] | None = None) -> dict[str, Any]:
    """A reply whose answer is `answer`."""
    return content_reply([{"text": answer}], tokens=tokens)


def signature_text(signature: bytes | str) -> str:
    """A thought signature as the API writes it: base64 of the bytes (a str is taken as raw bytes)."""
    raw = signature.encode() if isinstance(signature, str) else signature
    return base64.b64encode(raw).decode("ascii")


def function_calls(
    *calls: tuple[str, Mapping[str, Any]], thought_signature: bytes | str | None = None, tokens: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """A reply calling `(name, args)` functions in parallel; the signature goes on the first call, as the API does."""
    parts: list[dict[str, Any]] = [{"functionCall": {"name": name, "args": dict(args)}} for name, args in calls]
    if thought_signature is not None and parts:
        parts[0]["thoughtSignature"] = signature_text(thought_signature)
    return content_reply(parts, tokens=tokens)


def function_call(
    name: str, args: Mapping[str, Any] | None = None, *, thought_signature: bytes | str | None = None, tokens: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """A reply calling one function, optionally with a thought signature the client must echo."""
    return function_calls((name, args or {}), thought_signature=thought_signature, tokens=tokens)


def error(code: int, message: str, status: str | None = None, details: list[dict[str, Any]] | None = None) -> tuple[int, dict[str, Any]]:
    """An API error reply in the API's shape."""
    body: dict[str, Any] = {"code": code, "message": message, "status": status or STATUS.get(code, "UNKNOWN")}
    if details:
        body["details"] = details
    return code, {"error": body}


def rate_limited(retry_delay: str = "30s") -> tuple[int, dict[str, Any]]:
    """HTTP 429 RESOURCE_EXHAUSTED, as the API sends when a quota is spent."""
    return error(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more information on "
        "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests"}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
        ],
    )


def malformed(body: Any = None) -> tuple[int, Any]:
    """HTTP 200 with a body that is not a valid GenerateContentResponse (`parts` is not a list, by default)."""
    return 200, body if body is not None else {"candidates": [{"content": {"role": "model", "parts": "not-a-list"}}]}


# -- reading requests ----------------------------------------------------------------------


def _field(mapping: Any, camel: str, snake: str) -> Any:
    """A field under its JSON (camelCase) or proto (snake_case) name; the API accepts both."""
    if not isinstance(mapping, Mapping):
        return None
    return mapping.get(camel, mapping.get(snake))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def declared_tools(request: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The function declarations of a request: name -> JSON schema of its parameters."""
    tools: dict[str, dict[str, Any]] = {}
    for tool in _list(request.get("tools")):
        for decl in _list(_field(tool, "functionDeclarations", "function_declarations")):
            if isinstance(decl, Mapping) and isinstance(decl.get("name"), str):
                schema = decl.get("parameters") or _field(decl, "parametersJsonSchema", "parameters_json_schema")
                tools[decl["name"]] = dict(schema) if isinstance(schema, Mapping) else {}
    return tools


def calling_mode(request: Mapping[str, Any]) -> str:
    """The function-calling mode the request asks for (AUTO unless set)."""
    config = _field(_field(request, "toolConfig", "tool_config"), "functionCallingConfig", "function_calling_config")
    mode = _field(config, "mode", "mode")
    return mode.upper() if isinstance(mode, str) else "AUTO"


def json_mime(request: Mapping[str, Any]) -> bool:
    """Whether the request sets the JSON response mime type."""
    config = _field(request, "generationConfig", "generation_config")
    return _field(config, "responseMimeType", "response_mime_type") == "application/json"


def _texts(content: Any) -> list[str]:
    """The text parts of one turn."""
    parts = _list(_field(content, "parts", "parts"))
    return [part["text"] for part in parts if isinstance(part, Mapping) and isinstance(part.get("text"), str)]


def last_prompt(request: Mapping[str, Any]) -> str:
    """The text of the last user turn that has any: the prompt, or the summary request, not the function responses after it."""
    for content in reversed(_list(request.get("contents"))):
        texts = _texts(content) if isinstance(content, Mapping) and content.get("role", "user") == "user" else []
        if texts:
            return "\n".join(texts)
    return ""


def wants_json(request: Mapping[str, Any]) -> bool:
    """Whether the request asks for a JSON answer (by mime type, or by saying JSON in its last prompt)."""
    return json_mime(request) or "JSON" in last_prompt(request)


def _call_key(call: Mapping[str, Any]) -> str:
    return json.dumps([call.get("name"), call.get("args") or {}], sort_keys=True, default=str)


def _decode_signature(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


# -- the server ----------------------------------------------------------------------------


class Script:
    """Replies handed out in order; once they run out every request gets a 500 saying so."""

    def __init__(self, replies: Iterable[Reply | Responder]) -> None:
        self.replies: deque[Reply | Responder] = deque(replies)

    def __call__(self, request: dict[str, Any]) -> Reply:
        if not self.replies:
            return error(500, "FakeGemini: the scripted replies ran out")
        reply = self.replies.popleft()
        return reply(request) if callable(reply) else reply


class FakeGemini:
    """A loopback Gemini REST server in a daemon thread; use it as a context manager.

    `responder` is a callable `(request_json) -> reply` or a list of replies (each a reply or
    such a callable) answered in order; by default a `ScriptedAgent`. `api_key`, when given,
    is required on every request (`x-goog-api-key` header or `?key=`), as the API does.
    `requests` holds every JSON body received, `models` the model named by each.
    """

    def __init__(self, responder: Responder | Iterable[Reply | Responder] | None = None, *, api_key: str | None = None) -> None:
        self.responder = responder if responder is not None else ScriptedAgent()
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.models: list[str] = []
        self._issued: dict[str, set[bytes | None]] = {}  # each function call it sent -> its signatures (None: unsigned)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def responder(self) -> Responder:
        """What answers valid requests; set a callable or a list of replies."""
        return self._responder

    @responder.setter
    def responder(self, value: Responder | Iterable[Reply | Responder]) -> None:
        self._responder = value if callable(value) else Script(value)

    @property
    def url(self) -> str:
        """The base URL to give the client (`http_options.base_url`)."""
        if self._server is None:
            raise RuntimeError("FakeGemini is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGemini:
        """Listen on a free loopback port and serve in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-gemini", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answer(self, path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, Any]:
        """The status and body for one POST (what the HTTP handler sends back)."""
        route = ROUTE.match(path)
        if route is None:
            return error(404, f"Method not found: {path.split('?')[0]}")
        if self.api_key is not None:
            given = headers.get("x-goog-api-key") or parse_qs(urlsplit(path).query).get("key", [""])[0]
            if not given:
                return error(403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
            if given != self.api_key:
                return error(400, "API key not valid. Please pass a valid API key.")
        try:
            request = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return error(400, "Invalid JSON payload received. Unexpected token.")
        if not isinstance(request, dict):
            return error(400, "Invalid JSON payload received. Expected an object.")
        with self._lock:
            self.requests.append(request)
            self.models.append(route.group(1))
            problem = self._problem(request)
        if problem is not None:
            return error(400, problem)
        try:
            reply = self.responder(request)
            status, body = reply if isinstance(reply, tuple) else (200, reply)
            if not isinstance(status, int) or not 200 <= status <= 599:
                raise ValueError(f"bad HTTP status {status!r}")
        except Exception as exc:  # a broken responder is the test's bug: answer it visibly
            return error(500, f"FakeGemini responder failed: {type(exc).__name__}: {exc}")
        if status == 200:
            with self._lock:
                self._remember_calls(body)
        return status, body

    def _problem(self, request: Mapping[str, Any]) -> str | None:
        """What the real API would reject in this request, or None."""
        contents = request.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified"
        if declared_tools(request) and json_mime(request):
            return JSON_WITH_TOOLS
        calls_pending = 0
        for position, content in enumerate(contents, start=1):
            if not isinstance(content, Mapping) or content.get("role", "user") not in ROLES:
                return "Please use a valid role: user, model."
            parts = [p for p in _list(content.get("parts")) if isinstance(p, Mapping)]
            responses = sum(1 for p in parts if _field(p, "functionResponse", "function_response") is not None)
            if calls_pending and responses != calls_pending:
                return RESPONSE_COUNT
            calls = [p for p in parts if isinstance(_field(p, "functionCall", "function_call"), Mapping)]
            calls_pending = len(calls) if content.get("role") == "model" else 0
            for part in calls:
                issued = self._issued.get(_call_key(_field(part, "functionCall", "function_call")), set())
                signed = issued - {None}
                signature = _field(part, "thoughtSignature", "thought_signature")
                if signature is None and signed and None not in issued:
                    return MISSING_SIGNATURE.format(name=_field(part, "functionCall", "function_call").get("name"), position=position)
                if signature is not None and signed and _decode_signature(signature) not in signed:
                    return CORRUPTED_SIGNATURE
        return None

    def _remember_calls(self, body: Any) -> None:
        if not isinstance(body, Mapping):
            return
        for candidate in _list(body.get("candidates")):
            content = candidate.get("content") if isinstance(candidate, Mapping) else None
            for part in _list(content.get("parts") if isinstance(content, Mapping) else None):
                call = _field(part, "functionCall", "function_call")
                if isinstance(call, Mapping):
                    signature = _decode_signature(_field(part, "thoughtSignature", "thought_signature"))
                    self._issued.setdefault(_call_key(call), set()).add(signature)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = self.headers.get("content-length", "0")
                if not length.isdigit():
                    self._send(*error(400, "Invalid Content-Length."))
                    return
                self._send(*fake.answer(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(int(length))))

            def do_GET(self) -> None:
                self._send(*error(404, f"Method not found: {self.path.split('?')[0]}"))

            def _send(self, status: int, body: Any) -> None:
                try:
                    data = body if isinstance(body, bytes) else json.dumps(body).encode()
                except (TypeError, ValueError) as exc:
                    status, data = 500, json.dumps(error(500, f"FakeGemini reply is not JSON: {exc}")[1]).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # tests read fake.requests, not stderr

        return Handler


# -- a deterministic model for long runs ---------------------------------------------------


def fill(schema: Mapping[str, Any], n: int) -> dict[str, Any]:
    """Arguments for a parameters schema: each required property gets a value of its type (or its first enum)."""
    properties = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    args: dict[str, Any] = {}
    for name in _list(schema.get("required")):
        prop = properties.get(name) if isinstance(properties.get(name), Mapping) else {}
        declared = prop.get("type")
        kind = declared[0] if isinstance(declared, list) and declared else declared
        if _list(prop.get("enum")):
            args[name] = prop["enum"][0]
        elif kind in ("integer", "number"):
            args[name] = n
        elif kind == "boolean":
            args[name] = n % 2 == 0
        elif kind == "array":
            args[name] = []
        elif kind == "object":
            args[name] = {}
        else:
            args[name] = f"{name}-{n}"
    return args


def default_plan(n: int, request: Mapping[str, Any]) -> dict[str, Any]:
    """The plan `ScriptedAgent` gives by default: one `think` step (the tools plugin's) that names the plan's number."""
    return {"steps": [{"action": "think", "params": {"thought": f"what should plan {n} achieve?"}}], "confidence": 0.7, "why": f"scripted plan {n}"}


def _rounds_since_prompt(contents: Sequence[Any]) -> int:
    """Function-call turns since the last user turn that was a prompt (not function responses)."""
    rounds = 0
    for content in reversed(contents):
        if not isinstance(content, Mapping):
            break
        parts = [p for p in _list(content.get("parts")) if isinstance(p, Mapping)]
        if content.get("role") == "model" and any(_field(p, "functionCall", "function_call") for p in parts):
            rounds += 1
        elif content.get("role", "user") == "user" and not any(_field(p, "functionResponse", "function_response") for p in parts):
            break
    return rounds


class ScriptedAgent:
    """A deterministic model: calls the declared tools in turn, then answers with text or a JSON plan.

    For each prompt it makes `calls_per_answer` function-call turns (cycling through the
    declared tools, or those of them named in `tools`; arguments from `args[name]` or made up
    from the schema; each call signed when `signatures`), then answers: a JSON plan
    (`plan(n, request)`, by default `default_plan`) when the request asks for JSON, else a
    short text. Token counts are a deterministic estimate from the request's size; `tokens`
    adds up those it reported.
    """

    def __init__(
        self,
        *,
        calls_per_answer: int = 1,
        args: Mapping[str, Mapping[str, Any]] | None = None,
        plan: Callable[[int, Mapping[str, Any]], Any] = default_plan,
        signatures: bool = True,
        tools: Iterable[str] | None = None,
    ) -> None:
        self.calls_per_answer = calls_per_answer
        self.args = dict(args or {})
        self.plan = plan
        self.signatures = signatures
        self.tools = None if tools is None else frozenset(tools)
        self.calls = 0
        self.answers = 0
        self.tokens = 0
        self._lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            return self._reply(request)

    def _reply(self, request: dict[str, Any]) -> Reply:
        declared = declared_tools(request)
        tools = sorted(name for name in declared if self.tools is None or name in self.tools)
        contents = _list(request.get("contents"))
        prompt_tokens = max(1, len(json.dumps(contents, default=str)) // 4)
        if tools and calling_mode(request) != "NONE" and _rounds_since_prompt(contents) < self.calls_per_answer:
            name = tools[self.calls % len(tools)]
            args = dict(self.args[name]) if name in self.args else fill(declared[name], self.calls)
            signature = f"scripted-{self.calls}" if self.signatures else None
            self.calls += 1
            return self._count(function_call(name, args, thought_signature=signature, tokens=usage(prompt_tokens, 8)))
        self.answers += 1
        answer = json.dumps(self.plan(self.answers, request)) if wants_json(request) else f"Scripted answer {self.answers}."
        return self._count(text(answer, tokens=usage(prompt_tokens, max(1, len(answer) // 4))))

    def _count(self, reply: dict[str, Any]) -> dict[str, Any]:
        self.tokens += reply["usageMetadata"]["totalTokenCount"]
        return reply
