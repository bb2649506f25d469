"""The reference docs stay complete: every hook, RPC method, CLI command, config option and event.

Project rule: every hook, RPC method, CLI command and config option is documented in docs/, and a
test fails if one is missing. Each test below also fails on stale entries (a section for something
that no longer exists) and names the item in its message.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import tomllib
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import pytest

from colony.core import events, hookspecs
from colony.core.cli import cli
from colony.core.config import KERNEL_OPTIONS, Config, Option
from colony.core.kernel import Kernel
from colony.core.manifest import Manifest, manifest_of
from colony.testing import RunningNode

DOCS = Path(__file__).resolve().parent.parent / "docs"
HEADING = re.compile(r"^(#{1,6}) +(.+?) *$")


# -- helpers ----------------------------------------------------------------------------


def read(name: str) -> str:
    path = DOCS / name
    assert path.is_file(), f"docs/{name} is missing"
    return path.read_text()


def sections(name: str) -> dict[str, str]:
    """Every `### ` heading of a doc (outside code fences) mapped to its text up to the next heading."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    fenced = False
    for line in read(name).splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match and len(match.group(1)) <= 3:
            current = None
            if len(match.group(1)) == 3:
                title = match.group(2)
                assert title not in found, f"docs/{name} has two sections titled {title!r}"
                current = found[title] = []
            continue
        if current is not None:
            current.append(line)
    return {title: "\n".join(lines) for title, lines in found.items()}


def backticked(title: str) -> str | None:
    """`x.y` from a heading written as `` `x.y` ``."""
    match = re.fullmatch(r"`([^`]+)`", title)
    return match.group(1) if match else None


def builtin_manifests() -> dict[str, Manifest]:
    """The manifests of the plugins the colony distribution itself ships (entry-point group "colony")."""
    found: dict[str, Manifest] = {}
    for ep in entry_points(group="colony"):
        if ep.dist is not None and ep.dist.name.lower() == "colony":
            found[ep.name] = manifest_of(ep.load())
    assert found, "no built-in plugins found in entry-point group 'colony' (is colony installed?)"
    return found


# -- (1) hooks ---------------------------------------------------------------------------


def hook_specs() -> dict[str, Any]:
    return {
        name: getattr(hookspecs, name)
        for name in dir(hookspecs)
        if name.startswith("colony_") and inspect.isfunction(getattr(hookspecs, name))
    }


def expected_mode(name: str, spec: Any) -> str:
    if name in hookspecs.LIFECYCLE:
        return "lifecycle"
    opts = getattr(spec, f"{hookspecs.PROJECT}_spec", None) or {}
    return "firstresult" if opts.get("firstresult") else "collect"


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    specs = hook_specs()
    assert specs, "found no colony_* hook specs"
    docs = {title: body for title, body in sections("hooks.md").items() if title.startswith("colony_")}
    missing = sorted(set(specs) - set(docs))
    assert not missing, f"docs/hooks.md has no `### <hook>` section for: {', '.join(missing)}"
    stale = sorted(set(docs) - set(specs))
    assert not stale, f"docs/hooks.md documents hooks that do not exist: {', '.join(stale)}"
    for name, spec in specs.items():
        signature = f"{name}{inspect.signature(spec)}"
        assert signature in docs[name], f"docs/hooks.md, ### {name}: the signature must read exactly {signature}"
        mode = re.search(r"^- \*\*Mode:\*\* (\w+)", docs[name], re.M)
        assert mode, f"docs/hooks.md, ### {name}: no '- **Mode:** ...' line"
        assert mode.group(1) == expected_mode(name, spec), (
            f"docs/hooks.md, ### {name}: mode is {mode.group(1)!r}, the code says {expected_mode(name, spec)!r}"
        )
        assert "```python" in docs[name], f"docs/hooks.md, ### {name}: no example"


# -- (2) RPC methods ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_methods(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """`rpc.methods` of a real node running every built-in plugin."""
    builtins = sorted(builtin_manifests())
    with RunningNode(tmp_path_factory.mktemp("docs-node"), plugins=builtins) as node:
        states = {row["name"]: (row["state"], row["reason"]) for row in node.call("plugins.list")}
        methods = node.call("rpc.methods")
    broken = [f"{name} ({states.get(name)})" for name in builtins if states.get(name, ("",))[0] != "running"]
    assert not broken, f"built-in plugins did not start, so their methods cannot be checked: {', '.join(broken)}"
    return {method["name"]: method for method in methods}


def kernel_methods(home: Path) -> set[str]:
    """The kernel's own methods, read from a kernel that is built but never run."""
    config = Config(environ={}, overrides={"plugins": {"load": ["pulse"]}, "control": {"socket": ""}})
    kernel = Kernel(config, home)
    try:
        return {reg.key for reg in kernel.registry.items("rpc")}
    finally:
        kernel.store.close()


def test_every_rpc_method_is_documented(tmp_path: Path, served_methods: dict[str, dict[str, Any]]) -> None:
    kernel = kernel_methods(tmp_path / "home")
    assert {"rpc.hello", "node.status", "plugins.swap"} <= kernel
    real = kernel | set(served_methods)
    docs = {name: body for title, body in sections("protocol.md").items() if (name := backticked(title))}
    missing = sorted(real - set(docs))
    assert not missing, f"docs/protocol.md has no ### `<method>` section for: {', '.join(missing)}"
    stale = sorted(set(docs) - real)
    assert not stale, f"docs/protocol.md documents methods that no node registers: {', '.join(stale)}"


def test_rpc_sections_match_params_and_destructiveness(served_methods: dict[str, dict[str, Any]]) -> None:
    docs = {name: body for title, body in sections("protocol.md").items() if (name := backticked(title))}
    for name, method in served_methods.items():
        body = docs.get(name)
        if body is None:
            continue  # reported by test_every_rpc_method_is_documented
        flag = re.search(r"^- Destructive: (yes|no)\b", body, re.M)
        assert flag, f"docs/protocol.md, ### `{name}`: no '- Destructive: yes|no' line"
        expected = "yes" if method["destructive"] else "no"
        assert flag.group(1) == expected, f"docs/protocol.md, ### `{name}`: destructive should be {expected}"
        for param in method["params"]:
            pname = re.match(r"\w+", param).group(0)  # type: ignore[union-attr]
            assert f"`{pname}`" in body, f"docs/protocol.md, ### `{name}`: parameter `{pname}` is not described"
        assert f'"method":"{name}"' in body, f"docs/protocol.md, ### `{name}`: no example request line"


# -- (3) CLI commands --------------------------------------------------------------------


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    # list_commands/get_command, not .commands: they include commands mounted through entry points.
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"colony {' '.join((*prefix, name))} cannot be loaded"
        path = (*prefix, name)
        yield " ".join(path), command
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


def test_every_cli_command_is_documented() -> None:
    commands = dict(command_paths(cli))
    assert {"serve", "plugins swap", "audit verify", "tui"} <= set(commands)
    docs = {title.removeprefix("colony "): body for title, body in sections("cli.md").items() if title.startswith("colony ")}
    missing = sorted(set(commands) - set(docs))
    assert not missing, "docs/cli.md has no section for: " + ", ".join(f"### colony {path}" for path in missing)
    stale = sorted(set(docs) - set(commands))
    assert not stale, "docs/cli.md documents commands that do not exist: " + ", ".join(f"colony {p}" for p in stale)
    for path, command in commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                spelled = max(param.opts, key=len)
            else:
                spelled = param.human_readable_name
            assert spelled in docs[path], f"docs/cli.md, ### colony {path}: {spelled} is not described"


def test_global_options_are_documented() -> None:
    text = read("cli.md")
    for param in cli.params:
        if isinstance(param, click.Option):
            spelled = max(param.opts, key=len)
            assert f"`{spelled}" in text, f"docs/cli.md: global option {spelled} is not described"


# -- (4) config options ------------------------------------------------------------------


ROW = re.compile(r"^\| `([^`]+)` \| (.+?) \| (.+?) \|$", re.M)


def documented_options() -> dict[str, str]:
    return {key: default for key, default, _ in ROW.findall(read("config.md"))}


def plugin_options() -> dict[str, Option]:
    return {
        f"plugin.{name}.{key}": option
        for name, manifest in builtin_manifests().items()
        for key, option in manifest.config.items()
    }


def parse_default(cell: str) -> Any:
    if cell == "unset":
        return None
    match = re.fullmatch(r"`(.+)`", cell)
    assert match, f"a default must be `a TOML value` or unset, not {cell!r}"
    return tomllib.loads(f"v = {match.group(1)}")["v"]


def test_every_config_option_is_documented_with_its_default() -> None:
    rows = documented_options()
    options = {**KERNEL_OPTIONS, **plugin_options()}
    assert "plugin.pulse.window" in options
    missing = sorted(set(options) - set(rows))
    assert not missing, "docs/config.md has no `| `key` | default | help |` row for: " + ", ".join(missing)
    stale = sorted(set(rows) - set(options))
    assert not stale, f"docs/config.md documents options that do not exist: {', '.join(stale)}"
    for key, option in options.items():
        documented = parse_default(rows[key])
        assert documented == option.default, f"docs/config.md: `{key}` defaults to {option.default!r}, not {rows[key]}"


def test_config_examples_are_valid() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", read("config.md"), re.S)
    assert blocks, "docs/config.md has no ```toml example"
    manifests = builtin_manifests()
    for block in blocks:
        values = tomllib.loads(block)
        config = Config(values, environ={})
        for name in values.get("plugin", {}):
            assert name in manifests, f"docs/config.md example configures unknown plugin {name!r}"
            config.plugin_section(name, manifests[name].config)


# -- (5) events --------------------------------------------------------------------------


def event_types() -> list[type[events.Event]]:
    """Event subclasses of colony.core.events with a fixed topic (Notice picks its topic at run time)."""
    return [
        cls
        for cls in vars(events).values()
        if isinstance(cls, type)
        and issubclass(cls, events.Event)
        and cls is not events.Event
        and cls.__module__ == events.__name__
        and "topic" not in {f.name for f in dataclasses.fields(cls)}
    ]


def test_every_event_topic_is_documented_with_its_fields() -> None:
    types = event_types()
    assert types, "found no Event subclasses"
    docs = {name: body for title, body in sections("events.md").items() if (name := backticked(title))}
    missing = sorted(cls.topic for cls in types if cls.topic not in docs)
    assert not missing, f"docs/events.md has no ### `<topic>` section for: {', '.join(missing)}"
    for cls in types:
        for field in dataclasses.fields(cls):
            assert f"`{field.name}`" in docs[cls.topic], (
                f"docs/events.md, ### `{cls.topic}`: field `{field.name}` of {cls.__name__} is not described"
            )
    # Topics the kernel audits by default that are not globs (such as rpc.audit) are built-in too.
    fixed = [topic for topic in KERNEL_OPTIONS["audit.topics"].default if not any(c in topic for c in "*?[")]
    missing = sorted(topic for topic in fixed if topic not in docs)
    assert not missing, f"docs/events.md has no ### `<topic>` section for: {', '.join(missing)}"
