"""tools: the built-in tools the soul's plans and LLM call: workspace files, code search, a sandboxed shell, think."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from colony.core import BudgetError, Manifest, Option, PluginContext, RPCError, ToolError, invoke, validate_arguments
from colony.core.rpc import INVALID_PARAMS, OPERATION_FAILED

from .search import Search
from .shell import Isolation, Limits, Sandbox, Shell, isolation
from .workspace import Workspace

PLUGIN = Manifest(
    name="tools",
    version="1.0.0",
    description="The soul's built-in tools: read, write, list and search workspace files, a sandboxed shell, and think.",
    config={
        "workspace": Option("", "Folder the file tools and the shell work in; empty means <home>/workspace, a relative path is under the home."),
        "max_read": Option(256 << 10, "Most bytes one read_file call returns."),
        "max_write": Option(1 << 20, "Most bytes one write_file call writes."),
        "max_entries": Option(1000, "Most entries one list_dir call returns."),
        "max_matches": Option(200, "Most matching lines one search_code call returns."),
        "max_search_file": Option(1 << 20, "search_code skips files larger than this many bytes."),
        "max_thought": Option(8000, "Longest thought the think tool takes, in characters."),
        "shell": Option(True, "Offer run_shell; false leaves it unregistered."),
        "timeout": Option(60.0, "Seconds a run_shell command (the default and the most a call may ask for) or a search may run before its process group is killed."),
        "max_output": Option(32 << 10, "Bytes of a command's stdout, and again of its stderr, that run_shell returns (head and tail; the middle is cut)."),
        "cpu_seconds": Option(60, "CPU seconds a command may use (RLIMIT_CPU); 0 is unlimited."),
        "memory_mib": Option(2048, "Address space a command's processes may map, in MiB (RLIMIT_AS); 0 is unlimited."),
        "file_mib": Option(64, "Largest file a command may write, in MiB (RLIMIT_FSIZE); 0 is unlimited."),
        "path": Option("/usr/local/bin:/usr/bin:/bin", "PATH of sandboxed commands, the only variable besides HOME (the workspace) and LANG=C."),
        "shell_isolation": Option("auto", (
            "How run_shell and search_code are isolated from the node: namespace (Linux user, mount, pid, network and IPC "
            "namespaces hide its home, keys, sockets and network; refuse to run without them), auto (namespaces when the "
            "kernel allows them, else plain processes), none (plain processes)."
        )),
    },
)
_state: dict[str, Isolation] = {}


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _flag(description: str) -> dict[str, Any]:
    return {"type": "boolean", "description": description + " Default false."}


def _object(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


WHERE = "A path relative to the workspace folder."


class Calls:
    """The control protocol's way to the tools: list every plugin's, and call one as the soul does."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    async def list(self) -> list[dict[str, Any]]:
        """Every tool any plugin registered: name, owner, description and JSON-schema parameters."""
        return [
            {"name": reg.key, "owner": reg.owner, "description": reg.meta["description"], "parameters": reg.meta["parameters"]}
            for reg in sorted(self.ctx.registrations("tool"), key=lambda reg: reg.key)
        ]

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        """Call a tool as the soul does: arguments checked against its schema, then the tool_calls budget and the repeat guard."""
        reg = next((reg for reg in self.ctx.registrations("tool") if reg.key == name), None)
        if reg is None:
            raise RPCError(INVALID_PARAMS, f"no tool {name!r}; tools.list names them")
        try:
            args = validate_arguments(reg.meta["parameters"], {} if arguments is None else arguments)
        except ToolError as exc:
            raise RPCError(INVALID_PARAMS, f"{name}: {exc}") from None
        try:
            self.ctx.budgets.admit(name, args)
            return await invoke(reg, args)
        except (ToolError, BudgetError) as exc:
            raise RPCError(OPERATION_FAILED, f"{name}: {exc}") from None


async def colony_start(ctx: PluginContext) -> None:
    config = ctx.config
    root = ctx.home / Path(str(config["workspace"]) or "workspace").expanduser()
    await trio.to_thread.run_sync(lambda: root.mkdir(parents=True, exist_ok=True))
    files = Workspace(root, max_read=int(config["max_read"]), max_write=int(config["max_write"]), max_entries=int(config["max_entries"]))
    limits = Limits(
        timeout=float(config["timeout"]), output=int(config["max_output"]), cpu_seconds=int(config["cpu_seconds"]),
        memory=int(config["memory_mib"]) << 20, file_size=int(config["file_mib"]) << 20,
    )
    isolated = await isolation(str(config["shell_isolation"]), files.root, ctx.home)
    if isolated.problem:
        ctx.log.warning("run_shell and search_code are %s", isolated.summary)
    _state["isolation"] = isolated
    sandbox = Sandbox(files.root, limits, str(config["path"]), isolated)
    search = Search(files, sandbox, int(config["max_matches"]), int(config["max_search_file"]))
    max_thought = int(config["max_thought"])

    def think(thought: str) -> dict[str, Any]:
        if len(thought) > max_thought:
            raise ToolError(f"a thought is at most {max_thought} characters")
        return {"thought": thought}

    tool = ctx.registrar.tool
    tool("read_file", files.read_file, description=(
        f"Read a text file of the workspace, at most {files.max_read} bytes a call; page through a larger one with offset."
    ), parameters=_object(
        ["path"],
        path=_string(WHERE),
        offset={"type": "integer", "description": "Byte offset to start at. Default 0."},
        limit={"type": "integer", "description": f"Most bytes to return (at most {files.max_read})."},
    ))
    tool("write_file", files.write_file, description=(
        f"Write text to a workspace file, replacing it or appending, creating folders; at most {files.max_write} bytes a call."
    ), parameters=_object(["path", "content"], path=_string(WHERE), content=_string("The text to write."), append=_flag("Append instead of replacing.")))
    tool("list_dir", files.list_dir, description=(
        f"List a workspace folder: the name, type (file, dir, link, other) and size of each entry, at most {files.max_entries}."
    ), parameters=_object([], path=_string("A folder relative to the workspace. Default '.'."), recursive=_flag("Also list every folder below it.")))
    tool("search_code", search.search_code, description=(
        f"Find the lines of the workspace's text files that contain a string, or match a Python regex; at most {search.max_matches} matches. "
        f"Runs {isolated.summary}."
    ), parameters=_object(
        ["pattern"],
        pattern=_string("The text to find (a Python regular expression when regex is true)."),
        path=_string("A file or folder relative to the workspace to search. Default '.'."),
        regex=_flag("Treat pattern as a regular expression."),
    ))
    tool("think", think, description="Write down a thought: reason about the situation or a plan without acting. Returns the thought.",
         parameters=_object(["thought"], thought=_string("The reasoning to record.")))
    if config["shell"]:
        shell = Shell(sandbox)
        tool("run_shell", shell.run_shell, description=(
            f"Run a /bin/sh command in the workspace folder with a cleared environment, no stdin and resource limits; it and its "
            f"children are killed after {limits.timeout:g} s. Returns ok, exit_code, stdout and stderr (each cut to {limits.output} bytes). "
            f"Runs {isolated.summary}."
        ), parameters=_object(
            ["command"],
            command=_string("The shell command."),
            timeout={"type": "number", "description": f"Seconds before it is killed (at most {limits.timeout:g})."},
        ))
    calls = Calls(ctx)
    ctx.registrar.rpc("tools.list", calls.list)
    ctx.registrar.rpc("tools.call", calls.call, destructive=True)


async def colony_stop(ctx: PluginContext) -> None:
    _state.clear()


async def colony_health(ctx: PluginContext) -> bool | str:
    """Unhealthy only when the sandbox refuses to run: namespaces are required and unavailable."""
    isolated = _state.get("isolation")
    if isolated is None:
        return "not running"
    return isolated.refusal or True
