"""Import boundaries: core never imports textual or any plugin; `colony serve` never loads textual."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from colony.core.manifest import manifest_of

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_imports_no_plugin_tui_or_textual():
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "core").rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in ("textual", "rich") or name.startswith(("colony.plugins", "colony.tui"))
    }
    assert not offenders


def test_plugins_import_only_core_or_what_they_require():
    requires = {ep.name: manifest_of(ep.load()).requires for ep in entry_points(group="colony") if ep.dist and ep.dist.name == "colony"}
    for path in (ROOT / "plugins").rglob("*.py"):
        own = path.relative_to(ROOT / "plugins").parts[0]
        if own not in requires and path.name != "__init__.py":
            # A package that is not a plugin yet declares what it may import in its REQUIRES.
            requires[own] = tuple(getattr(importlib.import_module(f"colony.plugins.{own}"), "REQUIRES"))
        for name in imported_modules(path):
            assert not name.startswith(("colony.tui", "textual", "rich")), f"{path}: {name}"
            if name.startswith("colony.plugins."):
                other = name.split(".")[2]
                assert other == own or other in requires.get(own, ()), f"{path} imports plugin {other!r} without requiring it"


def test_importing_core_and_running_a_node_never_imports_textual(tmp_path):
    script = f"""
import sys, trio
from pathlib import Path
import colony.core, colony.core.cli, colony.core.kernel, colony.testing
from colony.core.config import Config
from colony.core.kernel import Kernel

async def main():
    kernel = Kernel(Config(environ={{}}, overrides={{"control": {{"socket": "{tmp_path / 's.sock'}"}}, "plugins": {{"load": None}}}}), Path("{tmp_path}"))
    async with trio.open_nursery() as nursery:
        await nursery.start(kernel.run)
        await kernel.heartbeat.tick()
        kernel.request_stop()

trio.run(main)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
assert not loaded, loaded
print("clean")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "clean" in result.stdout, result.stderr
