"""Tools in the registry: `Registrar.tool` validation, and `validate_arguments` against a tool's schema."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.core import RegistrationError, ToolError, validate_arguments
from colony.core.context import Registrar, Registry

SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "file to read"},
        "limit": {"type": "integer"},
        "ratio": {"type": "number"},
        "follow": {"type": "boolean"},
        "tags": {"type": "array"},
        "extra": {"type": "object"},
        "mode": {"type": "string", "enum": ["text", "bytes"]},
        "maybe": {"type": ["string", "null"]},
    },
    "required": ["path"],
}


def read_file(path: str, limit: int = 100) -> dict[str, str]:
    return {"path": path}


def registrar() -> Registrar:
    return Registrar("tools", Registry())


def test_a_tool_registers_with_its_description_and_schema():
    reg = registrar()
    reg.tool("read_file", read_file, description="  Read a file.  ", parameters=SCHEMA)
    [tool] = reg.registry.items("tool")
    assert (tool.kind, tool.key, tool.value, tool.owner) == ("tool", "read_file", read_file, "tools")
    assert tool.meta == {"description": "Read a file.", "parameters": SCHEMA}
    with pytest.raises(RegistrationError, match="already registered"):
        Registrar("other", reg.registry).tool("read_file", read_file, description="again", parameters=SCHEMA)


@pytest.mark.parametrize("name", ["", "Read", "1read", "read-file", "read.file", "a" * 65, "_x", None, 42])
def test_bad_tool_names_are_refused(name):
    with pytest.raises(RegistrationError, match="tool name"):
        registrar().tool(name, read_file, description="d", parameters=SCHEMA)  # type: ignore[arg-type]


def test_longest_tool_name_is_accepted():
    registrar().tool("a" + "b" * 63, read_file, description="d", parameters={"type": "object"})


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (None, "JSON-schema object"),
        ({"type": "array"}, "JSON-schema object"),
        ({"properties": {}}, "JSON-schema object"),
        ({"type": "object", "properties": []}, "properties"),
        ({"type": "object", "properties": {"x": "string"}}, "properties"),
        ({"type": "object", "properties": {"x": {"type": "str"}}}, "unknown type"),
        ({"type": "object", "properties": {"x": {"type": ["string", 3]}}}, "unknown type"),
        ({"type": "object", "properties": {"x": {"type": "string", "enum": "abc"}}}, "enum that is not a list"),
        ({"type": "object", "properties": {"x": {"enum": 5}}}, "enum that is not a list"),
        ({"type": "object", "properties": {}, "required": ["x"]}, "required"),
        ({"type": "object", "properties": {"x": {}}, "required": "x"}, "required"),
    ],
)
def test_bad_schemas_are_refused(parameters, message):
    with pytest.raises(RegistrationError, match=message):
        registrar().tool("t", read_file, description="d", parameters=parameters)


@pytest.mark.parametrize("description", ["", "   ", None])
def test_a_description_is_required(description):
    with pytest.raises(RegistrationError, match="description"):
        registrar().tool("t", read_file, description=description, parameters=SCHEMA)  # type: ignore[arg-type]


def test_a_handler_must_be_callable():
    with pytest.raises(RegistrationError, match="callable"):
        registrar().tool("t", "not a function", description="d", parameters=SCHEMA)  # type: ignore[arg-type]


def test_valid_arguments_come_back_as_a_dict():
    args = {"path": "a", "limit": 3, "ratio": 1, "follow": False, "tags": [], "extra": {}, "mode": "text", "maybe": None}
    assert validate_arguments(SCHEMA, args) == args
    assert validate_arguments({"type": "object"}, {}) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "missing required argument: path"),
        ({"limit": 1}, "missing required argument: path"),
        ({"path": "a", "nope": 1, "zap": 2}, "unknown arguments: nope, zap"),
        ({"path": 3}, "argument 'path' must be string, not int"),
        ({"path": "a", "limit": True}, "argument 'limit' must be integer, not bool"),
        ({"path": "a", "limit": 1.5}, "must be integer"),
        ({"path": "a", "ratio": False}, "must be number"),
        ({"path": "a", "follow": 1}, "must be boolean"),
        ({"path": "a", "tags": "x"}, "must be array"),
        ({"path": "a", "extra": []}, "must be object"),
        ({"path": "a", "mode": "hex"}, "must be one of"),
        ({"path": "a", "maybe": 1}, "must be string or null"),
        ([("path", "a")], "arguments must be an object"),
        ("path=a", "arguments must be an object"),
        (None, "arguments must be an object"),
    ],
)
def test_bad_arguments_raise_a_clear_tool_error(args, message):
    with pytest.raises(ToolError, match=message):
        validate_arguments(SCHEMA, args)


def test_additional_properties_allows_unknown_keys():
    assert validate_arguments({**SCHEMA, "additionalProperties": True}, {"path": "a", "x": 1}) == {"path": "a", "x": 1}


@given(args=st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.lists(st.integers())), max_size=6))
def test_hostile_arguments_validate_or_raise_tool_error(args):
    try:
        checked = validate_arguments(SCHEMA, args)
    except ToolError as exc:
        assert str(exc)
    else:
        assert checked == args and "path" in checked
