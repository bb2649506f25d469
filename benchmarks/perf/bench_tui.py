"""`colony tui` under an event flood: events consumed and rendered per second, and key-to-screen latency.

Ours: ColonyApp headless (`app.run_test()`), attached to a real `colony serve` whose drop-in plugin
publishes events at a set rate. Baselines, in the same run: the bare protocol client consuming the same
stream with no UI, and an empty Textual app with the same two switchable screens.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path
from time import perf_counter
from typing import Any

from _common import Table, parse_args, percentiles, progress, ratio, report
from bench_control import child
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, RichLog

from colony.core.client import Client, open_unix
from colony.tui.app import ColonyApp, unix_opener

RATES = (2000, 10000)  # events per second the node publishes
WINDOW = 3.0  # seconds each throughput figure covers (after WARMUP)
WARMUP = 0.5
PRESSES = 50  # key presses per latency figure, alternating two screens

FLOOD = '''
"""flood: publishes `flood.event` at the rate `flood.rate` sets, from a background task."""
import time
import trio
from colony.core import Manifest

PLUGIN = Manifest(name="flood", version="1.0.0")
_rate = {"value": 0.0}


def colony_register(registrar):
    registrar.rpc("flood.rate", set_rate)


def set_rate(rate=0.0):
    _rate["value"] = float(rate)
    return _rate["value"]


async def colony_start(ctx):
    ctx.start_task(publish, ctx)


async def publish(ctx):
    current, mark, sent, n = 0.0, time.monotonic(), 0, 0
    while True:
        now = time.monotonic()
        if _rate["value"] != current:
            current, mark, sent = _rate["value"], now, 0
        due = int(current * (now - mark)) - sent
        if due > current * 0.05:  # fell behind by over 50 ms: publish what is due, then start afresh
            current = -1.0
        for _ in range(max(0, due)):
            n += 1
            ctx.publish("flood.event", {"n": n, "text": "the quick brown fox jumps over the lazy dog"})
        sent += max(0, due)
        await trio.sleep(0.002)
'''


# -- the node ------------------------------------------------------------------------------


def start_node(folder: Path):
    """`colony serve` with only the flood plugin, no heartbeat (a context manager yielding its socket)."""
    import os
    from contextlib import contextmanager

    home = folder / "home"
    (home / "plugins").mkdir(parents=True)
    (home / "plugins" / "flood.py").write_text(FLOOD)
    path = folder / "node.sock"
    env = {
        **os.environ,
        "COLONY_HOME": str(home),
        "COLONY_CONTROL__SOCKET": str(path),
        "COLONY_HEARTBEAT__ENABLED": "0",
        "COLONY_LOAD_PLUGINS": "flood",
    }

    @contextmanager
    def running():
        with child([sys.executable, "-m", "colony.core.cli", "serve", "--log-level", "warning"], path, env):
            yield path

    return running()


async def published(control: Client) -> int:
    return int((await control.call("node.status"))["events"]["published"])


# -- (a) throughput ------------------------------------------------------------------------


async def loop_lag(stop: asyncio.Event, samples: list[float]) -> None:
    """How late a 10 ms sleep wakes up: the event loop's responsiveness while the flood runs."""
    while not stop.is_set():
        start = perf_counter()
        await asyncio.sleep(0.01)
        samples.append(perf_counter() - start - 0.01)


async def bare_client(path: Path, control: Client, rate: int) -> dict[str, Any]:
    """The floor: our protocol client subscribed to everything, as the TUI is, counting events and nothing else."""
    count = 0
    async with await open_unix(path) as client:
        await client.handshake("bench-floor")
        async with client.subscribe([]) as stream:

            async def consume() -> None:
                nonlocal count
                async for _ in stream:
                    count += 1

            task = asyncio.ensure_future(consume())
            await control.call("flood.rate", rate=rate)
            await asyncio.sleep(WARMUP)
            first, pub0, t0 = count, await published(control), perf_counter()
            await asyncio.sleep(WINDOW)
            got, pub1, elapsed = count - first, await published(control), perf_counter() - t0
            await control.call("flood.rate", rate=0)
            task.cancel()
            dropped, node_dropped = stream.dropped, stream.node_dropped
    return {"offered": (pub1 - pub0) / elapsed, "received": got / elapsed, "client_dropped": dropped, "node_dropped": node_dropped}


async def tui_throughput(app: ColonyApp, control: Client, rate: int, written: list[int]) -> dict[str, Any]:
    """Events the app receives, and lines it writes to the event log, per second of flood."""
    screen = app.get_screen("events")
    lag: list[float] = []
    stop = asyncio.Event()
    lagger = asyncio.ensure_future(loop_lag(stop, lag))
    await control.call("flood.rate", rate=rate)
    await asyncio.sleep(WARMUP)
    rec0, lines0, rdrop0, pub0, t0 = app.feed.received, written[0], screen.render_dropped, await published(control), perf_counter()
    await asyncio.sleep(WINDOW)
    elapsed = perf_counter() - t0
    got, lines, rdrop, pub1 = app.feed.received - rec0, written[0] - lines0, screen.render_dropped - rdrop0, await published(control)
    stop.set()
    await lagger
    status = str(screen.query_one("#event-status").content)
    shown = re.search(r"dropped: (\d+) rendering, (\d+) client, (\d+) node", status)
    return {
        "offered": (pub1 - pub0) / elapsed,
        "received": got / elapsed,
        "rendered": lines / elapsed,
        "render_dropped": rdrop,
        "shown": "/".join(shown.groups()) if shown else status[:60],
        "lag_p99_ms": percentiles(lag)["p99"] * 1000 if lag else 0.0,
    }


# -- (b) key latency -----------------------------------------------------------------------


def watch_paints(app: App[Any]) -> dict[int, float]:
    """Record when each screen last produced a frame (the compositor update the driver would write)."""
    painted: dict[int, float] = {}
    display = app._display

    def recording(screen: Screen[Any], renderable: Any) -> None:
        if renderable is not None:
            painted[id(screen)] = perf_counter()
        display(screen, renderable)

    app._display = recording  # type: ignore[method-assign]
    return painted


async def show(app: App[Any], painted: dict[int, float], key: str, name: str, timeout: float = 10.0) -> float:
    """Press `key` as the terminal driver would deliver it; seconds until screen `name` is active and painted.

    Not `pilot.press`: that also waits (up to 1 s, twice) for the process to go idle, which never
    happens under a flood, so it would time Textual's test harness rather than the app.
    """
    target = app.get_screen(name)
    start = perf_counter()
    key_event = events.Key(key, key if len(key) == 1 else None)
    key_event.set_sender(app)
    app._driver.send_message(key_event)  # type: ignore[union-attr]
    while not (app.screen is target and painted.get(id(target), 0) > start):
        if perf_counter() > start + timeout:
            raise TimeoutError(f"screen {name!r} not painted {timeout:g} s after pressing {key!r}")
        await asyncio.sleep(0.0005)
    return perf_counter() - start


async def key_latency(app: App[Any], painted: dict[int, float], keys: dict[str, str]) -> list[float]:
    """Seconds from pressing a screen key to the first frame of that screen, alternating between the screens."""
    samples = []
    order = list(keys.items())
    for i in range(PRESSES):
        key, name = order[i % len(order)]
        samples.append(await show(app, painted, key, name))
        await asyncio.sleep(0.02)  # let the app breathe (and the flood render) between presses
    return samples


class PlainScreen(Screen[None]):
    def __init__(self, widget: Any) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield Header()
        yield self.widget
        yield Footer()


class EmptyApp(App[None]):
    """The floor: the same two screens (a table, a log) with the same keys, and no data."""

    BINDINGS = [Binding("p", "switch_screen('plugins')", "Plugins"), Binding("e", "switch_screen('events')", "Events")]

    def on_mount(self) -> None:
        table: DataTable[Any] = DataTable()
        table.add_columns("name", "state")
        self.install_screen(PlainScreen(table), "plugins")
        self.install_screen(PlainScreen(RichLog()), "events")
        self.push_screen("events")


async def empty_app_latency() -> list[float]:
    app = EmptyApp()
    async with app.run_test(size=(160, 48)) as pilot:
        painted = watch_paints(app)
        await pilot.pause()
        return await key_latency(app, painted, {"p": "plugins", "e": "events"})


# -- the run -------------------------------------------------------------------------------


async def measure(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with await open_unix(path) as control:
        await control.handshake("bench-control")
        return await measure_with(path, control)


async def measure_with(path: Path, control: Client) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    floors = {}
    for rate in RATES:
        progress(f"bare client, {rate}/s …")
        floors[rate] = await bare_client(path, control, rate)
    progress("empty Textual app key latency …")
    empty = percentiles(await empty_app_latency())

    flood_rows, key_rows = [], []
    app = ColonyApp(unix_opener(path), target=str(path))
    async with app.run_test(size=(160, 48)) as pilot:
        deadline = perf_counter() + 20
        while app.conn_state != "connected" or not app.plugins:
            if perf_counter() > deadline:
                raise TimeoutError(f"the TUI did not connect: {app.conn_state} {app.conn_detail}")
            await pilot.pause(0.05)
        painted = watch_paints(app)
        await show(app, painted, "e", "events")
        log = app.get_screen("events").query_one("#event-log", RichLog)
        written = [0]
        write = log.write

        def counting(content: Any, *args: Any, **kwargs: Any) -> Any:
            # The events screen writes each frame's lines as one multi-line Text.
            written[0] += str(content).count("\n") + 1
            return write(content, *args, **kwargs)

        log.write = counting  # type: ignore[method-assign]
        progress("TUI key latency, no flood …")
        key_rows.append(("none", percentiles(await key_latency(app, painted, {"p": "plugins", "e": "events"}))))
        for rate in RATES:
            progress(f"TUI under {rate}/s …")
            await show(app, painted, "e", "events")
            ours = await tui_throughput(app, control, rate, written)
            await control.call("flood.rate", rate=rate)
            key_rows.append((f"{rate}/s", percentiles(await key_latency(app, painted, {"p": "plugins", "e": "events"}))))
            await control.call("flood.rate", rate=0)
            floor = floors[rate]
            flood_rows.append(
                {
                    "rate": f"{rate}/s",
                    "offered": ours["offered"],
                    "received": ours["received"],
                    "rendered": ours["rendered"],
                    "floor_offered": floor["offered"],
                    "floor_received": floor["received"],
                    "recv_ratio": ratio(ours["received"], floor["received"]),
                    "render_dropped": ours["render_dropped"],
                    "shown": ours["shown"],
                    "floor_drops": f"{floor['client_dropped']}/{floor['node_dropped']}",
                    "lag_p99_ms": ours["lag_p99_ms"],
                }
            )
            await asyncio.sleep(0.5)  # let the backlog drain before the next figure
    rows = [
        {
            "flood": flood,
            "p50_ms": p["p50"] * 1000,
            "p99_ms": p["p99"] * 1000,
            "empty_p50_ms": empty["p50"] * 1000,
            "empty_p99_ms": empty["p99"] * 1000,
            "p50_ratio": ratio(p["p50"], empty["p50"]),
            "p99_ratio": ratio(p["p99"], empty["p99"]),
        }
        for flood, p in key_rows
    ]
    return flood_rows, rows


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory(prefix="colony-bt-", dir="/tmp") as folder, start_node(Path(folder)) as path:
        flood_rows, key_rows = asyncio.run(measure(path))
    throughput = Table(
        "(a) events under a flood: ColonyApp on the events screen vs the bare client (events/s)",
        {
            "rate": "target",
            "offered": "published/s",
            "received": "TUI recv/s",
            "rendered": "TUI lines/s",
            "floor_offered": "floor pub/s",
            "floor_received": "floor recv/s",
            "recv_ratio": "recv ratio",
            "render_dropped": "render drops",
            "shown": "shown drops r/c/n",
            "floor_drops": "floor drops c/n",
            "lag_p99_ms": "loop lag p99 ms",
        },
        flood_rows,
        [
            f"A `colony serve` child publishes `flood.event` from a drop-in plugin's task; each figure covers {WINDOW:g} s "
            f"after {WARMUP:g} s of warm-up. published/s is the node's own count (node.status) over the window.",
            "The floor is colony.core.client subscribed to every topic (as the TUI is), counting events in an asyncio "
            "loop with no UI; it runs first, alone, at the same rates.",
            "recv ratio = TUI received / floor received (1.0 = the UI costs no throughput). TUI lines/s counts lines "
            "written to the event log (at most 100 per 100 ms frame by design); the rest are 'render drops'.",
            "shown drops: the events screen's own status line, cumulative: rendering / client buffer / node.",
            "loop lag: how late a 10 ms asyncio sleep wakes up in the app's loop during the window.",
        ],
    )
    latency = Table(
        f"(b) key to screen: pressing p / e alternately, {PRESSES} presses (ms)",
        {
            "flood": "flood",
            "p50_ms": "p50",
            "p99_ms": "p99",
            "empty_p50_ms": "empty p50",
            "empty_p99_ms": "empty p99",
            "p50_ratio": "p50 ratio",
            "p99_ratio": "p99 ratio",
        },
        key_rows,
        [
            "From handing the key event to the app's driver (as a terminal would) until the pressed screen is active "
            "and has produced its first frame (App._display called for it; headless, so nothing reaches a terminal). "
            "Not pilot.press(): it waits for the process to go idle, which a flood never allows.",
            "The floor is an empty Textual app with the same two screens (Header, a DataTable or a RichLog, Footer) "
            "and the same keys, measured in the same run without a node.",
            "ratio = ColonyApp / empty app (lower is better).",
        ],
    )
    report("bench_tui", [throughput, latency], args.json)


if __name__ == "__main__":
    main()
