"""Tools plugins register for the node's agent: name and schema checks, and argument validation against the schema."""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import Registration

TOOL_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


class ToolError(Exception):
    """A tool's expected failure, with a message clear enough to show the agent or the operator."""


def schema_problem(parameters: Any) -> str | None:
    """Why `parameters` is not a tool's JSON-schema object, or None when it is."""
    if not isinstance(parameters, Mapping) or parameters.get("type") != "object":
        return 'parameters must be a JSON-schema object: {"type": "object", "properties": {...}}'
    properties = parameters.get("properties", {})
    if not isinstance(properties, Mapping) or not all(isinstance(p, Mapping) for p in properties.values()):
        return "parameters.properties must map each parameter name to a schema object"
    for name, prop in properties.items():
        declared = prop.get("type")
        if declared is not None and not all(isinstance(t, str) and t in JSON_TYPES for t in _types(declared)):
            return f"parameter {name!r} has unknown type {declared!r}"
        if "enum" in prop and not isinstance(prop["enum"], list):
            return f"parameter {name!r} has an enum that is not a list"
    required = parameters.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) and r in properties for r in required):
        return "parameters.required must list names declared in parameters.properties"
    return None


def _types(declared: Any) -> list[Any]:
    return declared if isinstance(declared, list) else [declared]


def _is(value: Any, json_type: str) -> bool:
    if isinstance(value, bool) and json_type in ("integer", "number"):
        return False
    return isinstance(value, JSON_TYPES[json_type])


def validate_arguments(parameters: Mapping[str, Any], args: Any) -> dict[str, Any]:
    """`args` as a dict if it fits the tool's `parameters` schema; raise `ToolError` saying what does not.

    Checks: an object; required keys present; no undeclared keys unless `additionalProperties`
    is true; each declared `type` (string, integer, number, boolean, array, object, null, or a
    list of them; booleans are not integers) and `enum`. Nested schemas are not descended into.
    """
    if not isinstance(args, Mapping):
        raise ToolError(f"arguments must be an object, not {type(args).__name__}")
    properties: Mapping[str, Any] = parameters.get("properties", {})
    missing = [name for name in parameters.get("required", []) if name not in args]
    if missing:
        raise ToolError(f"missing required argument{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if parameters.get("additionalProperties") is not True:
        unknown = sorted(str(name) for name in args if name not in properties)
        if unknown:
            raise ToolError(f"unknown argument{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)[:200]}")
    for name, value in args.items():
        prop = properties.get(name, {})
        declared = prop.get("type")
        if declared is not None and not any(_is(value, t) for t in _types(declared)):
            wanted = " or ".join(_types(declared))
            raise ToolError(f"argument {name!r} must be {wanted}, not {type(value).__name__}")
        if "enum" in prop and value not in prop["enum"]:
            raise ToolError(f"argument {name!r} must be one of {prop['enum']!r}"[:300])
    return dict(args)


async def invoke(reg: Registration, args: Any) -> Any:
    """Check `args` against the registered tool's schema and call it (awaiting an async tool)."""
    result = reg.value(**validate_arguments(reg.meta["parameters"], args))
    if inspect.isawaitable(result):
        result = await result
    return result
