"""`create_cartridge` and `deploy_cartridge`: the soul's tools for writing, building and deploying cartridges from its workspace."""

from __future__ import annotations

import base64
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any

import trio

from colony.core import PluginContext, RPCError, ToolError

from .manifest import KINDS, SLUG, ManifestError
from .toolchain import SOURCES, TEMPLATED, BuildError, Built, build, scaffold

MAX_SOURCE = 256 << 10
BUILDS = trio.CapacityLimiter(1)  # a zig build takes a core or more; one at a time
SLUG_SHAPE = "lowercase letters, digits and '-', 1 to 63 characters"

Deploy = Callable[..., Awaitable[dict[str, Any]]]


class CartridgeTools:
    """Cartridge projects under `<home>/workspace/cartridges/<name>`, built off the trio loop and deployed with `cartridges.deploy`."""

    def __init__(self, home: Path, deploy: Deploy) -> None:
        self.workspace = (home / "workspace").resolve()
        self.projects = self.workspace / "cartridges"
        self.deploy = deploy

    def _project(self, name: str) -> Path:
        if not SLUG.fullmatch(name):
            raise ToolError(f"a cartridge name is a slug: {SLUG_SHAPE}, not {name[:80]!r}")
        return self.projects / name

    async def create_cartridge(self, name: str, language: str, source: str = "", kind: str = "backend") -> dict[str, Any]:
        """Write a cartridge project from the template (its source replaced by `source` when given) and build it."""
        project = self._project(name)
        if len(source) > MAX_SOURCE:
            raise ToolError(f"the source is over {MAX_SOURCE} characters")
        try:
            source.encode()
        except UnicodeEncodeError:
            raise ToolError("the source is not valid text (a lone surrogate)") from None

        def write_and_build() -> Built:
            if project.exists():
                self._check_existing(project, name, language)
            else:
                scaffold(name, kind, language, self.projects)
            if source:
                (project / f"{name}{SOURCES[language]}").write_text(source)
            return build(project)

        built = await self._built(write_and_build)
        manifest = built.manifest
        return {
            "name": name,
            "path": project.relative_to(self.workspace).as_posix(),
            "slug": manifest["slug"],
            "kind": manifest["kind"],
            "language": manifest["lang"],
            "wasm_bytes": len(built.wasm),
            "sha256": manifest["sha256"],
        }

    @staticmethod
    def _check_existing(project: Path, name: str, language: str) -> None:
        """An existing project takes a new source only in its own language and file, as the template made it."""
        try:
            data = tomllib.loads((project / "cartridge.toml").read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ToolError(f"cartridges/{name} exists but its cartridge.toml is unreadable: {exc}") from None
        if data.get("lang") != language or data.get("source") != f"{name}{SOURCES[language]}":
            raise ToolError(f"cartridges/{name} is a {data.get('lang')!r} project with source {data.get('source')!r}; edit it with write_file, or pick another name")

    async def deploy_cartridge(self, name: str = "", path: str = "", slug: str = "") -> dict[str, Any]:
        """Build a workspace cartridge (a project `name`, or a folder or source file at `path`) and deploy it, under `slug` when given."""
        if bool(name) == bool(path):
            raise ToolError("give either name (a project under cartridges/) or path (relative to the workspace)")
        target = self._project(name) if name else self._inside(path)
        if slug and not SLUG.fullmatch(slug):
            raise ToolError(f"slug must be {SLUG_SHAPE}, not {slug[:80]!r}")
        built = await self._built(lambda: build(target))
        manifest = {**built.manifest, "slug": slug or built.manifest["slug"]}
        try:
            info = await self.deploy(wasm=base64.b64encode(built.wasm).decode(), manifest=manifest)
        except RPCError as exc:
            raise ToolError(exc.message) from None
        return {**info, "url": f"/c/{manifest['slug']}"}

    def _inside(self, path: str) -> Path:
        """`path` resolved within the workspace, or a ToolError."""
        try:
            if "\0" in path or PurePosixPath(path).is_absolute():
                raise ValueError("it is absolute or holds a NUL byte")
            target = (self.workspace / path).resolve()
        except (ValueError, OSError, RuntimeError) as exc:
            raise ToolError(f"bad path {path[:200]!r}: {exc}") from None
        if not target.is_relative_to(self.workspace):
            raise ToolError(f"{path[:200]!r} leads outside the workspace")
        return target

    @staticmethod
    async def _built(job: Callable[[], Built]) -> Built:
        """Run a build in a worker thread; its failures become ToolErrors with the compiler's message."""
        try:
            return await trio.to_thread.run_sync(job, limiter=BUILDS)
        except (BuildError, ManifestError, ValueError, FileExistsError, OSError) as exc:
            raise ToolError(f"build failed: {exc}") from None


def register(ctx: PluginContext, deploy: Deploy) -> None:
    """Offer `create_cartridge` and `deploy_cartridge` to the soul."""
    tools = CartridgeTools(ctx.home, deploy)
    ctx.registrar.tool("create_cartridge", tools.create_cartridge, description=(
        "Create (or update) a WASM cartridge project in the workspace folder cartridges/<name> from the template and build it; "
        "give source to replace the template's code. Deploy it with deploy_cartridge."
    ), parameters={
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": f"Project name and default slug: {SLUG_SHAPE}."},
            "language": {"type": "string", "enum": list(TEMPLATED), "description": "Source language: c, zig or wat."},
            "source": {"type": "string", "description": "The full source file (using the cartridge SDK); empty keeps the template's."},
            "kind": {"type": "string", "enum": list(KINDS), "description": "What the cartridge is. Default backend (an HTTP handler at /c/<slug>)."},
        },
        "required": ["name", "language"],
    })
    ctx.registrar.tool("deploy_cartridge", tools.deploy_cartridge, description=(
        "Build a cartridge from the workspace and deploy it to this node, hot-swapping any running version; a backend then serves at /c/<slug>."
    ), parameters={
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "A project under the workspace's cartridges/ folder (as create_cartridge made it)."},
            "path": {"type": "string", "description": "Instead of name: a cartridge folder or .c/.zig/.wat/.wasm file, relative to the workspace."},
            "slug": {"type": "string", "description": f"Deploy under this slug ({SLUG_SHAPE}); default the manifest's."},
        },
    })
