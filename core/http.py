"""The plain request and response types of HTTP routes that plugins register (the gateway serves them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .rpc import loads


@dataclass
class Request:
    """One HTTP request as a route handler sees it; header names are lower-case."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    client: str = ""
    base_url: str = ""
    payment: dict[str, Any] | None = None  # set by the gateway once a payment verified: payer, amount, network

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not, or nests too deeply to parse safely)."""
        return loads(self.body or b"null")


@dataclass
class Response:
    """What a route handler returns; handlers may also return a dict, list, str or bytes."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A JSON response."""
        return cls(json.dumps(data, separators=(",", ":")).encode(), status, dict(headers or {}), "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
        """A text response."""
        return cls(text.encode(), status, {}, content_type)


def to_response(value: Any) -> Response:
    """Turn whatever a handler returned into a `Response` (TypeError for anything else)."""
    if isinstance(value, Response):
        return value
    if isinstance(value, (dict, list)):
        return Response.json(value)
    if isinstance(value, str):
        return Response.text(value)
    if isinstance(value, (bytes, bytearray)):
        return Response(bytes(value))
    raise TypeError(f"a route handler returned {type(value).__name__}; return a Response, dict, list, str or bytes")
