"""The command palette lists every key-bound action available on the current screen."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import ActiveBinding


class ActionsProvider(Provider):
    """One command per enabled binding of the screen the palette was opened from."""

    def bindings(self) -> Iterator[ActiveBinding]:
        """The screen's enabled, described bindings, once per action."""
        seen: set[str] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if active.enabled and binding.description and binding.action not in seen and binding.action != "command_palette":
                seen.add(binding.action)
                yield active

    def help_for(self, active: ActiveBinding) -> str:
        """`id [key]`, shown under the command."""
        return f"{active.binding.id or active.binding.action}  [{self.app.get_key_display(active.binding)}]"

    async def discover(self) -> Hits:
        """Everything, before the user types."""
        for active in self.bindings():
            run = partial(self.app.run_action, active.binding.action, active.node)
            yield DiscoveryHit(active.binding.description, run, help=self.help_for(active))

    async def search(self, query: str) -> Hits:
        """Fuzzy-match descriptions and binding ids."""
        matcher = self.matcher(query)
        for active in self.bindings():
            text = f"{active.binding.description} ({active.binding.id or active.binding.action})"
            score = matcher.match(text)
            if score > 0:
                run = partial(self.app.run_action, active.binding.action, active.node)
                yield Hit(score, matcher.highlight(text), run, help=self.help_for(active))


class NodesProvider(Provider):
    """One "Switch to node" command per node named in hosts.toml."""

    async def search(self, query: str) -> Hits:
        """Fuzzy-match node names and addresses."""
        matcher = self.matcher(query)
        for address in getattr(self.app, "nodes", ()):
            text = f"Switch to node {address.describe()}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self.app.switch_node, address), help="hosts.toml")  # type: ignore[attr-defined]

    async def discover(self) -> Hits:
        """Every node, before the user types."""
        for address in getattr(self.app, "nodes", ()):
            yield DiscoveryHit(f"Switch to node {address.describe()}", partial(self.app.switch_node, address), help="hosts.toml")  # type: ignore[attr-defined]
