"""JSON-RPC 2.0 pieces shared by the server and the client: codes, errors, encoding, binding."""

from __future__ import annotations

import dataclasses
import logging
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("colony.rpc")

PROTOCOL_VERSION = 1

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNAUTHORIZED = -32001
OVERLOADED = -32002
OPERATION_FAILED = -32010


class RPCError(Exception):
    """An error a method returns to its caller as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        """The JSON-RPC error object."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def to_jsonable(value: Any) -> Any:
    """`json.dumps` fallback: dataclasses, paths, sets and bytes become plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def encode(message: dict[str, Any]) -> bytes:
    """One protocol line."""
    return json.dumps(message, default=to_jsonable, separators=(",", ":")).encode() + b"\n"


def response(id_: Any, result: Any) -> dict[str, Any]:
    """A success response."""
    return {"jsonrpc": "2.0", "id": id_, "result": result}


def error_response(id_: Any, error: RPCError) -> dict[str, Any]:
    """An error response."""
    return {"jsonrpc": "2.0", "id": id_, "error": error.to_dict()}


MAX_DEPTH = 128


def nesting(line: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(line: bytes) -> Any:
    """`json.loads` that refuses nesting deeper than `MAX_DEPTH` with a ValueError.

    The C decoder recurses once per level and trusts Python's recursion limit to stop it;
    libraries such as web3 raise that limit to 100,000, past the C stack, so deep input
    would crash the process instead of raising.
    """
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH and nesting(line) > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return json.loads(line)


def decode(line: bytes) -> Any:
    """Parse one line; any failure is a JSON-RPC parse error."""
    try:
        value = loads(line)
        if SURROGATE_ESCAPE.search(line):
            # JSON may escape a lone UTF-16 surrogate, which no store, log or hash can encode later
            json.dumps(value, ensure_ascii=False).encode()
        return value
    except UnicodeEncodeError:
        raise RPCError(PARSE_ERROR, "parse error: a string holds a lone UTF-16 surrogate") from None
    except (ValueError, RecursionError) as exc:
        raise RPCError(PARSE_ERROR, f"parse error: {exc}"[:200]) from None


def valid_id(value: Any) -> bool:
    """JSON-RPC ids are strings, integers or null."""
    return value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


@dataclass(frozen=True)
class Method:
    """A callable RPC method with its signature checked up front."""

    name: str
    handler: Callable[..., Any]
    owner: str
    destructive: bool
    signature: inspect.Signature
    hints: dict[str, Any]
    wants_session: bool

    @classmethod
    def build(cls, name: str, handler: Callable[..., Any], owner: str, destructive: bool) -> Method:
        """Inspect `handler` once; a parameter named `session` receives the caller's session."""
        signature = inspect.signature(handler)
        try:
            hints = typing.get_type_hints(handler)
        except Exception as exc:  # e.g. annotations naming types imported only under TYPE_CHECKING
            log.warning("RPC method %s: parameter types not checked (%s: %s)", name, type(exc).__name__, exc)
            hints = {}
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()):
            raise TypeError(f"RPC method {name} must not take *args or **kwargs")
        wants_session = "session" in signature.parameters
        if wants_session:
            signature = signature.replace(parameters=[p for n, p in signature.parameters.items() if n != "session"])
        return cls(name, handler, owner, destructive, signature, hints, wants_session)

    def bind(self, params: Any) -> inspect.BoundArguments:
        """Bind JSON params (object or array) to the handler, checking names and simple types."""
        try:
            if params is None:
                bound = self.signature.bind()
            elif isinstance(params, dict):
                bound = self.signature.bind(**params)
            elif isinstance(params, list):
                bound = self.signature.bind(*params)
            else:
                raise RPCError(INVALID_PARAMS, "params must be an object or an array")
        except TypeError as exc:
            raise RPCError(INVALID_PARAMS, f"invalid params for {self.name}: {exc}") from None
        for key, value in bound.arguments.items():
            expected = self.hints.get(key)
            if expected is not None and not matches(value, expected):
                raise RPCError(
                    INVALID_PARAMS, f"invalid params for {self.name}: {key!r} must be {describe(expected)}"
                )
        return bound

    def describe(self) -> dict[str, Any]:
        """Plain data for `rpc.methods`."""
        return {
            "name": self.name,
            "owner": self.owner,
            "destructive": self.destructive,
            "params": [str(p) for p in self.signature.parameters.values()],
            "doc": (inspect.getdoc(self.handler) or "").split("\n")[0],
        }


_SIMPLE = {str: (str,), int: (int,), float: (int, float), bool: (bool,), dict: (dict,), list: (list,)}


def matches(value: Any, expected: Any) -> bool:
    """Whether a JSON value fits a simple annotation; unknown annotations accept anything."""
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(expected) or (Any,)
        return all(matches(v, item) for v in value)
    if origin is not None:
        expected = origin
    if expected in _SIMPLE:
        if isinstance(value, bool) and expected is not bool:
            return False
        return isinstance(value, _SIMPLE[expected])
    return True


def describe(expected: Any) -> str:
    """Human spelling of an annotation."""
    return getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
