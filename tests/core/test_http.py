"""The plain HTTP types plugins' route handlers see."""

from __future__ import annotations

import sys

import pytest

from colony.core.http import Request, Response, to_response


def test_request_json_refuses_nesting_too_deep_to_parse_safely() -> None:
    # web3 lifts the recursion limit this far; a plain json.loads would then overflow the C stack.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(ValueError, match="nested deeper"):
            Request("POST", "/", body=b"[" * 1_000_000).json()
    finally:
        sys.setrecursionlimit(limit)
    assert Request("POST", "/", body=b'{"a": [1, 2]}').json() == {"a": [1, 2]}
    assert Request("GET", "/").json() is None


def test_handlers_may_return_plain_values() -> None:
    assert to_response({"a": 1}).content_type == "application/json"
    assert to_response("hi").body == b"hi"
    assert to_response(b"\x00").body == b"\x00"
    with pytest.raises(TypeError, match="return a Response"):
        to_response(42)
    assert to_response(Response(b"x", 201)).status == 201
