"""The cartridges screen and the live runner against a real node running the cartridges plugin, and the half-block renderer."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakenode import FakeNode
from rich.segment import Segment
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog
from tui_support import drive, wait_for, wait_until_thread

from colony.core.client import RPCError
from colony.testing import RunningNode
from colony.tui.app import ColonyApp, unix_opener
from colony.tui.cartridges import CartridgesScreen
from colony.tui.framebuffer import HALF, FrameView, HalfBlocks
from colony.tui.runner import RunnerScreen, key_code

# Fills the whole framebuffer with one colour: red counts the ticks, green is 0x40, blue is the last key pressed.
GLOW = """
(module
  (memory (export "memory") 1)
  (global $width (mut i32) (i32.const 0))
  (global $height (mut i32) (i32.const 0))
  (global $ticks (mut i32) (i32.const 0))
  (global $key (mut i32) (i32.const 0))
  (func $fill (local $at i32) (local $end i32) (local $pixel i32)
    (local.set $pixel (i32.or (i32.or (i32.const 0xFF004000) (i32.shl (i32.and (global.get $key) (i32.const 0xFF)) (i32.const 16)))
                              (i32.and (global.get $ticks) (i32.const 0xFF))))
    (local.set $end (i32.mul (i32.mul (global.get $width) (global.get $height)) (i32.const 4)))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
      (i32.store (local.get $at) (local.get $pixel))
      (local.set $at (i32.add (local.get $at) (i32.const 4)))
      (br $next))))
  (func (export "x402_init") (param $w i32) (param $h i32) (local $pages i32)
    (global.set $width (local.get $w))
    (global.set $height (local.get $h))
    (local.set $pages (i32.add (i32.shr_u (i32.mul (i32.mul (local.get $w) (local.get $h)) (i32.const 4)) (i32.const 16)) (i32.const 1)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then (drop (memory.grow (i32.sub (local.get $pages) (memory.size))))))
    (call $fill))
  (func (export "x402_tick") (global.set $ticks (i32.add (global.get $ticks) (i32.const 1))) (call $fill))
  (func (export "x402_key_down") (param $code i32) (global.set $key (local.get $code)) (call $fill))
  (func (export "x402_key_up") (param $code i32))
  (func (export "x402_get_framebuffer") (result i32) (i32.const 0)))
"""
# A generous deadline: on a busy machine a 20 ms tick can be descheduled past the default and end the session.
MANIFEST = 'slug = "glow"\nkind = "interactive"\nversion = "{version}"\nlang = "wat"\nsource = "glow.wat"\n\n[limits]\ndeadline_ms = 2000\n'


@pytest.fixture
def node(tmp_path: Path) -> Iterator[RunningNode]:
    with RunningNode(tmp_path / "home", plugins=["cartridges"]) as running:
        yield running


def cartridge_folder(root: Path, version: str, source: str = GLOW) -> Path:
    """The glow cartridge's folder, at `version`."""
    folder = root / "glow"
    folder.mkdir(exist_ok=True)
    (folder / "glow.wat").write_text(source)
    (folder / "cartridge.toml").write_text(MANIFEST.format(version=version))
    return folder


def listed(node: RunningNode) -> dict[str, dict[str, Any]]:
    return {row["slug"]: row for row in node.call("cartridges.list")}


def activity(app: ColonyApp) -> str:
    return "\n".join(strip.text for strip in app.screen.query_one("#cartridge-activity", RichLog).lines)


def cells(app: ColonyApp, column: str) -> list[str] | None:
    """One column of the cartridges table, as shown; None while another screen is."""
    if not isinstance(app.screen, CartridgesScreen):
        return None
    table = app.screen.query_one("#cartridge-table", DataTable)
    key = next(key for key, col in table.columns.items() if str(col.label) == column)
    return [str(table.get_cell(row, key)) for row in table.rows]


def shown_colour(app: ColonyApp) -> tuple[int, int, int] | None:
    """The colour of the cell drawn in the middle of the runner's view."""
    view = app.screen.query_one(FrameView)
    strip = view.render_line(view.size.height // 2)
    drawn = [segment for segment in strip if segment.text.startswith(HALF)]
    if not drawn or drawn[0].style is None or drawn[0].style.color is None:
        return None
    triplet = drawn[0].style.color.get_truecolor()
    return triplet.red, triplet.green, triplet.blue


async def deploy_from(app: ColonyApp, pilot: Pilot, path: Path) -> None:
    await pilot.press("s")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "PromptScreen")
    await pilot.press(*str(path), "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, CartridgesScreen))


def test_deploy_swap_rollback_run_and_remove(node: RunningNode, tmp_path: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.conn_state == "connected")
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, CartridgesScreen))
        await wait_for(pilot, lambda: "0 cartridges" in str(app.screen.query_one("#cartridge-status").content))

        await deploy_from(app, pilot, cartridge_folder(tmp_path, "1.0.0"))
        await wait_for(pilot, lambda: cells(app, "version") == ["1.0.0"], "version 1.0.0 in the table")
        assert cells(app, "kind") == ["interactive"] and cells(app, "previous") == ["-"]
        await deploy_from(app, pilot, cartridge_folder(tmp_path, "2.0.0"))
        await wait_for(pilot, lambda: (cells(app, "version"), cells(app, "previous")) == (["2.0.0"], ["1.0.0"]), "the swap to 2.0.0")
        await wait_for(pilot, lambda: "glow deployed 2.0.0 (previous 1.0.0)" in activity(app))

        await deploy_from(app, pilot, cartridge_folder(tmp_path, "3.0.0", source="(module (func $broken"))
        await wait_for(pilot, lambda: "deploy failed: build failed" in activity(app))
        assert (await asyncio.to_thread(listed, node))["glow"]["version"] == "2.0.0"  # the old version keeps serving

        await pilot.press("u")
        await wait_for(pilot, lambda: (cells(app, "version"), cells(app, "previous")) == (["1.0.0"], ["2.0.0"]), "the rollback")
        assert (await asyncio.to_thread(listed, node))["glow"]["version"] == "1.0.0"

        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
        runner = app.screen
        await wait_for(pilot, lambda: shown_colour(app) is not None, "a first frame")
        first = shown_colour(app)
        await wait_for(pilot, lambda: shown_colour(app) != first, "a frame that changed with the ticks")
        assert first is not None and first[1] == 0x40 and first[2] == 0
        assert "escape" in runner.active_bindings and not {"q", "d", "w"} & set(runner.active_bindings)  # letters go to the cartridge
        await pilot.press("r")  # not Run here: the cartridge gets it, as its keyCode 82
        await wait_for(pilot, lambda: (shown_colour(app) or (0, 0, 0))[2] == 82, "the key to reach the cartridge")
        await wait_for(pilot, lambda: "fps" in str(runner.query_one("#runner-status").content))
        session = runner.session
        assert session and runner.ticks >= 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CartridgesScreen))

        def closed() -> bool:
            try:
                node.call("cartridges.session.tick", session_id=session)
            except RPCError as exc:
                return "no open session" in exc.message
            return False

        await wait_until_thread(closed, pilot)
        assert (await asyncio.to_thread(listed, node))["glow"]["calls"] >= 3  # the ticks count as calls

        await pilot.press("l")
        await wait_for(pilot, lambda: "logs of glow" in activity(app))

        await pilot.press("x")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await wait_for(pilot, lambda: cells(app, "slug") == [], "the row to go")
        assert await asyncio.to_thread(listed, node) == {}

    drive(ColonyApp(unix_opener(node.socket)), scenario)


def test_a_node_without_the_plugin_says_so(tmp_path: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.conn_state == "connected")
        await pilot.press("w")
        await wait_for(pilot, lambda: "not running on this node" in str(app.screen.query_one("#cartridge-status").content))

    with RunningNode(tmp_path / "home", plugins=[]) as running:
        drive(ColonyApp(unix_opener(running.socket)), scenario)


ROWS = [
    {"slug": "hello", "kind": "backend", "version": "1.1.0", "previous": "1.0.0", "price": 1000, "calls": 1234, "errors": 2, "fuel": 4_560_000_000,
     "traps": {"fuel": 1, "deadline": 0, "other": 1}, "last_error": "fuel: all fuel consumed by WebAssembly"},
    {"slug": "life", "kind": "interactive", "version": "1.0.0", "previous": None, "price": None, "calls": 600, "errors": 0, "fuel": 81_000_000,
     "traps": {"fuel": 0, "deadline": 0, "other": 0}, "last_error": ""},
    {"slug": "lost", "kind": None, "version": None, "last_error": "the stored version did not load: the module is missing from the store"},
]


def test_readonly_hides_the_actions_that_change_the_node(short_dir: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.conn_state == "connected")
        await pilot.press("w")
        await wait_for(pilot, lambda: cells(app, "slug") == ["hello", "life", "lost"])
        shown = {b.binding.action for b in app.screen.active_bindings.values()}
        assert {"run", "logs"} <= shown and not shown & {"deploy", "rollback", "remove"}
        await pilot.press("s", "u", "x")
        assert not [w for w in app.workers if w.group == "cartridge-ops"]
        assert isinstance(app.screen, CartridgesScreen)

    with FakeNode(short_dir / "n.sock", results={"cartridges.list": ROWS}) as fake:
        drive(ColonyApp(unix_opener(fake.path), readonly=True), scenario)


def test_cartridges_screen_snapshot(snap_compare, short_dir: Path) -> None:
    async def settle(pilot: Pilot) -> None:
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CartridgesScreen) and cells(pilot.app, "slug") == ["hello", "life", "lost"])
        await wait_for(pilot, lambda: "3 cartridges" in str(pilot.app.screen.query_one("#cartridge-status").content))
        await pilot.wait_for_scheduled_animations()

    with FakeNode(short_dir / "n.sock", results={"cartridges.list": ROWS}) as fake:
        assert snap_compare(ColonyApp(unix_opener(fake.path), target="fake.sock"), terminal_size=(150, 30), run_before=settle)


def test_hostile_replies_are_shown_not_crashed_on(short_dir: Path) -> None:
    odd = {"slug": "odd", "kind": "interactive", "price": True, "fuel": "lots", "traps": ["x"], "calls": None, "last_error": {"a": 1}}
    results = {
        "cartridges.list": [1, "two", None, {"slug": 5}, odd],
        "cartridges.session.open": {"session": "s1", "slug": "odd", "width": 10**12, "height": -3, "frame": base64.b64encode(b"\xff" * 64).decode()},
        "cartridges.session.tick": {"session": "s1", "width": 4, "height": 4, "frame": "not base64!"},
    }

    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await wait_for(pilot, lambda: app.conn_state == "connected")
        await pilot.press("w")
        await wait_for(pilot, lambda: cells(app, "slug") == ["odd"])
        assert cells(app, "price") == ["-"] and cells(app, "fuel") == ["0"] and cells(app, "traps") == ["-"]
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen) and app.screen.problem)
        assert "not base64" in str(app.screen.query_one("#runner-status").content)
        assert shown_colour(app) is None  # the first frame was not the size it claimed: nothing drawn
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CartridgesScreen))

    with FakeNode(short_dir / "n.sock", results=results) as fake:
        drive(ColonyApp(unix_opener(fake.path)), scenario)


def rgba(*pixels: int) -> bytes:
    """Pixels given as 0xRRGGBB, opaque."""
    return b"".join(bytes((p >> 16, p >> 8 & 0xFF, p & 0xFF, 0xFF)) for p in pixels)


def drawn(segment: Segment) -> tuple[str, tuple[int, int, int] | None, tuple[int, int, int] | None]:
    style = segment.style
    assert style is not None
    colours = [None if c is None else tuple(c.get_truecolor()) for c in (style.color, style.bgcolor)]
    return segment.text, colours[0], colours[1]  # type: ignore[return-value]


def test_half_blocks_put_the_top_pixel_in_front_and_the_bottom_one_behind() -> None:
    frame = rgba(0xFF0000, 0x00FF00, 0x0000FF, 0xFFFFFF)  # top row red, green; bottom row blue, white
    [line] = HalfBlocks().lines(frame, 2, 2, 80, 24)
    assert [drawn(s) for s in line] == [(HALF, (255, 0, 0), (0, 0, 255)), (HALF, (0, 255, 0), (255, 255, 255))]
    assert line.cell_length == 2


def test_half_blocks_merge_runs_shrink_to_fit_and_leave_an_odd_last_row_open() -> None:
    blocks = HalfBlocks()
    [line] = blocks.lines(rgba(*[0x102030] * 8, *[0x405060] * 8), 8, 2, 80, 24)
    assert [drawn(s) for s in line] == [(HALF * 8, (0x10, 0x20, 0x30), (0x40, 0x50, 0x60))]
    # 4x4 into 2 columns and 1 row: every other pixel of every other row.
    frame = rgba(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
    [line] = blocks.lines(frame, 4, 4, 2, 1)
    assert [drawn(s) for s in line] == [(HALF, (0, 0, 1), (0, 0, 9)), (HALF, (0, 0, 3), (0, 0, 11))]
    top, last = blocks.lines(rgba(1, 2, 3), 1, 3, 80, 24)
    assert drawn(list(last)[0]) == (HALF, (0, 0, 3), None)
    assert blocks.lines(b"\x00" * 7, 2, 1, 80, 24) == []  # shorter than its size says: nothing drawn


def test_key_codes_are_browser_key_codes() -> None:
    assert [key_code("r", "r"), key_code("R", "R"), key_code("space", " "), key_code("up", None), key_code("enter", "\r")] == [82, 82, 32, 38, 13]
    assert [key_code("exclamation_mark", "!"), key_code("full_stop", "."), key_code("f1", None)] == [49, 190, 112]
    assert key_code("escape", "\x1b") is None and key_code("ctrl+r", "\x12") is None and key_code("é", "é") is None
