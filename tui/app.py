"""ColonyApp: the Textual operator cockpit, a pure client of a node's control protocol."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import HelpPanel

from colony.core import rpc
from colony.core.client import Disconnected, ProtocolError, RPCError, open_ssh, open_unix

from .cartridges import CartridgesScreen
from .cognition import CognitionScreen
from .commands import ActionsProvider, NodesProvider
from .connection import Connection, Opener
from .dashboard import DashboardScreen
from .dialogs import ConfirmScreen
from .embedded import EmbeddedNode
from .events import EventsScreen
from .feed import Feed
from .format import as_dict, as_list, number, short
from .hosts import NodeAddress
from .keymap import load_keymap
from .plugins import PluginsScreen
from .soul import SoulScreen
from .theme import CSS
from .watch import watch

POLL = 1.0


def unix_opener(path: Path | str) -> Opener:
    """Connect to a node's Unix socket."""
    return lambda: open_unix(path)


def ssh_opener(host: str, remote_args: list[str]) -> Opener:
    """Reach a remote node through `ssh host colony bridge --stdio`."""
    return lambda: open_ssh(host, remote_args)


def opener_for(address: NodeAddress) -> Opener:
    """How to reach a node named in hosts.toml."""
    if address.host:
        return ssh_opener(address.host, ["--socket", address.socket] if address.socket else [])
    return unix_opener(address.socket)


class ColonyApp(App[None]):
    """Dashboard, plugins, events, cartridges, soul and cognition screens over one self-healing connection."""

    TITLE = "colony"
    CSS = CSS
    COMMANDS = App.COMMANDS | {ActionsProvider, NodesProvider}
    BINDINGS = [
        Binding("d", "show('dashboard')", "Dashboard", id="screen.dashboard"),
        Binding("p", "show('plugins')", "Plugins", id="screen.plugins"),
        Binding("e", "show('events')", "Events", id="screen.events"),
        # Kept out of the footer, which every screen shares and which is full; `?` and the palette list them.
        Binding("w", "show('cartridges')", "Cartridges", show=False, id="screen.cartridges"),
        Binding("o", "show('soul')", "Soul", show=False, id="screen.soul"),
        Binding("m", "show('cognition')", "Cognition", show=False, id="screen.cognition"),
        Binding("question_mark", "toggle_keys", "Keys", id="app.keys"),
        Binding("b", "dismiss_banner", "Dismiss error", show=False, id="app.dismiss_banner"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    conn_state: reactive[str] = reactive("connecting")
    conn_detail: reactive[str] = reactive("")
    banner: reactive[str] = reactive("")
    data_version: reactive[int] = reactive(0)

    def __init__(
        self,
        opener: Opener,
        *,
        target: str = "",
        readonly: bool = False,
        keymap_path: Path | None = None,
        nodes: list[NodeAddress] | None = None,
        embedded: EmbeddedNode | None = None,
        watch_path: Path | None = None,
        remote: bool = False,
        offer_node: Callable[[], EmbeddedNode] | None = None,
    ) -> None:
        super().__init__()
        self.target = target + ("  [read-only]" if readonly else "")
        self.readonly = readonly
        self.keymap_path = keymap_path
        self.nodes = nodes or []
        self.embedded = embedded
        self.watch_path = watch_path
        self.remote = remote
        self.offer_node = offer_node  # builds a node to start here when none answers at first
        # One bad connection can raise several errors in turn; dismissing hides all of them.
        self.raised: set[str] = set()  # banner texts shown since the last dismissal
        self.dismissed: set[str] = set()
        self.ever_connected = False
        self.feed = Feed()
        self.hello: dict[str, Any] = {}
        self.status: dict[str, Any] = {}
        self.plugins: list[dict[str, Any]] = []
        self.panels: dict[str, dict[str, Any]] = {}
        self.panels_supported = True
        self.tick_rate = 0.0
        self._tick_mark: tuple[float, float] = (0.0, 0.0)
        self.connection = Connection(opener, self.on_connection_state, self.feed.push, self.show_error)

    def on_mount(self) -> None:
        """Apply the user's keymap, open the dashboard, connect, and poll."""
        keymap, problem = load_keymap(self.keymap_path)
        if keymap:
            self.set_keymap(keymap)
        if problem:
            self.notify(problem, title="keymap", severity="warning")
        screens = (
            ("dashboard", DashboardScreen()),
            ("plugins", PluginsScreen()),
            ("events", EventsScreen()),
            ("cartridges", CartridgesScreen()),
            ("soul", SoulScreen()),
            ("cognition", CognitionScreen()),
        )
        for name, screen in screens:
            self.install_screen(screen, name)
        self.push_screen("dashboard")
        self.run_worker(self.connect(), name="connection", group="connection", exit_on_error=False)
        if self.watch_path is not None:
            self.run_worker(watch(self.watch_path, self.swap_saved), name="watch", group="watch", exit_on_error=False)
        self.set_interval(POLL, self.poll_now)

    async def connect(self) -> None:
        """Start the embedded node first when there is one, then stay connected."""
        if self.embedded is not None:
            try:
                await self.embedded.start()
            except Exception as exc:
                self.show_error(f"the embedded node did not start: {type(exc).__name__}: {exc}")
                return
        await self.connection.run()

    async def offer_to_start(self, build: Callable[[], EmbeddedNode]) -> None:
        """No node answered: offer to run one inside this TUI; the connection then finds it."""
        question = f"No node is answering at {self.target}. Start one inside this TUI (stopped when you quit)?"
        if not await self.push_screen_wait(ConfirmScreen(question)):
            return
        node = build()
        try:
            await node.start()
        except Exception as exc:
            self.show_error(f"the node did not start: {type(exc).__name__}: {exc}")
            return
        self.embedded = node
        self.notify("node started inside this TUI", title="colony")

    async def action_quit(self) -> None:
        """Quit; an embedded node is stopped cleanly first (its plugins' colony_stop included)."""
        if self.embedded is not None:
            await self.embedded.stop()
        self.exit()

    async def switch_node(self, address: NodeAddress) -> None:
        """Operate another node named in hosts.toml."""
        self.target = address.describe() + ("  [read-only]" if self.readonly else "")
        self.remote = bool(address.host)
        await self.connection.switch(opener_for(address))

    async def swap_saved(self, path: Path) -> None:
        """`--watch`: swap the saved drop-in into the node (or load it the first time); failures show in place."""
        name = path.stem
        running = any(row.get("name") == name and row.get("state") == "running" for row in self.plugins)
        try:
            if running:
                where = {"source": path.read_text()} if self.remote else {"path": str(path.resolve())}
                row = as_dict(await self.connection.call("plugins.swap", name=name, **where))
            else:
                row = as_dict(await self.connection.call("plugins.load", name=name))
        except RPCError as exc:
            self.notify(exc.message, title=f"{name}: not swapped in", severity="error", timeout=15)
            return
        except (Disconnected, TimeoutError, OSError) as exc:
            self.notify(str(exc), title=f"{name}: not swapped in", severity="error")
            return
        self.notify(f"{name} {row.get('version', '')} is {row.get('state', '?')}", title=f"saved {path.name}")
        self.poll_now()

    # -- connection ------------------------------------------------------------------------

    def on_connection_state(self, state: str, detail: str, hello: dict[str, Any]) -> None:
        """The connection moved: show it, and fetch fresh data once connected."""
        self.conn_state = state
        self.conn_detail = detail
        if state == "disconnected" and not self.ever_connected and self.offer_node is not None:
            offer, self.offer_node = self.offer_node, None  # ask once
            self.run_worker(self.offer_to_start(offer), group="offer", exit_on_error=False)
        if state == "connected":
            self.ever_connected = True
            self.dismissed = set()
            self.hello = as_dict(hello)
            self.sub_title = f"{short(self.hello.get('name', ''), 30)} · {short(self.hello.get('node', ''), 40)}"
            self.panels_supported = True
            self.poll_now()

    def show_error(self, message: str) -> None:
        """Raise the error banner (the node sent something we cannot use), unless this one was dismissed."""
        text = short(message, 300)
        if text not in self.dismissed:
            self.banner = text
            self.raised.add(text)

    @work(exclusive=True, group="poll")
    async def poll_now(self) -> None:
        """Fetch status, plugins and panels; a bad reply becomes a banner, never a crash."""
        connection = self.connection
        connection.check_protocol_errors()
        if connection.stream is not None:
            self.feed.client_dropped = connection.stream.dropped
            self.feed.node_dropped = connection.stream.node_dropped
        self.feed.update_rate()
        try:
            self.status = as_dict(await connection.call("node.status"))
            rows = [as_dict(row) for row in as_list(await connection.call("plugins.list"))]
            self.plugins = list({row["name"]: row for row in rows if isinstance(row.get("name"), str)}.values())
            self.panels = await self.fetch_panels() if self.panels_supported else {}
        except (Disconnected, TimeoutError):
            return
        except ProtocolError as exc:
            self.show_error(str(exc))
            return
        except RPCError as exc:
            self.show_error(f"the node refused a status call: {exc.message}")
            return
        self.measure_tick_rate()
        self.data_version += 1

    async def fetch_panels(self) -> dict[str, dict[str, Any]]:
        """Every plugin panel's data (hidden when the node does not serve panels)."""
        try:
            listed = as_list(await self.connection.call("panels.list"))
        except RPCError as exc:
            if exc.code != rpc.METHOD_NOT_FOUND:
                raise
            self.panels_supported = False
            return {}
        panels = {}
        for entry in map(as_dict, listed):
            name = str(entry.get("name", ""))
            try:
                panels[name] = as_dict(await self.connection.call("panels.get", name=name))
            except RPCError as exc:  # unloaded meanwhile, or its render failed
                panels[name] = {**entry, "data": {"text": f"unavailable: {exc.message}"}}
        return panels

    def measure_tick_rate(self) -> None:
        """Ticks per second between the last two polls."""
        ticks = number(as_dict(self.status.get("heartbeat")).get("tick_number"))
        now = time.monotonic()
        then, before = self._tick_mark
        if then and now > then and ticks >= before:
            self.tick_rate = (ticks - before) / (now - then)
        self._tick_mark = (now, ticks)

    # -- actions ---------------------------------------------------------------------------

    async def action_show(self, name: str) -> None:
        """Switch to a main screen (closing any details screen on top)."""
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        if self.screen is not self.get_screen(name):
            await self.switch_screen(name)

    def action_toggle_keys(self) -> None:
        """Show or hide the key panel."""
        if self.screen.query(HelpPanel):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_dismiss_banner(self) -> None:
        """Hide the error banner; the same error stays hidden across reconnects until another appears."""
        self.dismissed, self.raised, self.banner = self.dismissed | self.raised, set(), ""
