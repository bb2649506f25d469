"""Runs an interactive cartridge live: ticks it at up to 60 fps, draws its framebuffer and forwards the keys."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import anyio
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from colony.core.client import Disconnected, ProtocolError, RPCError

from .base import ColonyScreen
from .format import as_dict, number, short
from .framebuffer import FrameView

FPS = 60
STATUS_EVERY = 0.25  # seconds between redraws of the status line
MAX_SIDE = 1024  # the node's limit on each side of a frame
CLOSE_WAIT = 2.0  # seconds to wait for `cartridges.session.close` when leaving
# Browser `KeyboardEvent.keyCode` values (US layout), which a cartridge running in a web page gets:
# the code names the key, so a shifted character has its key's code ("!" is 49, like "1").
SHIFTED = ((";:", 186), ("=+", 187), (",<", 188), ("-_", 189), (".>", 190), ("/?", 191), ("`~", 192), ("[{", 219), ("\\|", 220), ("]}", 221), ("'\"", 222))
KEY_CODES: dict[str, int] = {
    "backspace": 8, "tab": 9, "enter": 13, "space": 32, "pageup": 33, "pagedown": 34, "end": 35, "home": 36,
    "left": 37, "up": 38, "right": 39, "down": 40, "insert": 45, "delete": 46, **{f"f{n}": 111 + n for n in range(1, 13)},
    **{char: code for chars, code in SHIFTED for char in chars},
    **{char: 48 + digit for digit, shifted in enumerate(")!@#$%^&*(") for char in (str(digit), shifted)},
}


def key_code(key: str, character: str | None) -> int | None:
    """The browser keyCode of a key (a letter's capital, either case), or None for keys a cartridge does not get."""
    if key in KEY_CODES:
        return KEY_CODES[key]
    if character is not None and len(character) == 1:
        if character in KEY_CODES:
            return KEY_CODES[character]
        if character.isascii() and character.isalpha():
            return ord(character.upper())
    return None


class CartridgeView(FrameView):
    """The frame, focused: it takes every key that has a code, so the app's bindings for those keys step aside."""

    can_focus = True

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """Keys with a code go to the cartridge."""
        return key_code(key, character) is not None


class RunnerScreen(ColonyScreen):
    """One session of an interactive cartridge; Escape ends it, every other mapped key goes to the cartridge."""

    DEFAULT_CSS = "#runner-status { height: 1; padding: 0 1; }"
    AUTO_FOCUS = "#runner-view"
    BINDINGS = [Binding("escape", "app.pop_screen", "Stop", id="runner.stop")]

    def __init__(self, slug: str) -> None:
        super().__init__()
        self.slug = slug
        self.session: str | None = None
        self.stopped = False
        self.presses: list[int] = []  # key codes pressed since the last tick
        self.releases: list[int] = []  # released on the tick after their press
        self.reply: dict[str, Any] = {}
        self.ticks = 0
        self.fuel = 0
        self.rates = (0.0, 0.0)  # frames drawn and ticks, per second
        self.last_key = ""
        self.problem = ""
        self._mark = (time.monotonic(), 0, 0)

    def body(self) -> ComposeResult:
        yield Static(f"starting {self.slug}…", id="runner-status")
        yield CartridgeView(id="runner-view")

    def on_mount(self) -> None:
        """Start the session once the view has its size, and keep the status line current."""
        super().on_mount()
        self.set_interval(STATUS_EVERY, self.show_status)
        self.call_after_refresh(self.start)

    def start(self) -> None:
        """Open a session as large as the view (two pixels per cell vertically), then tick it.

        The loop runs as an app worker, not this screen's, so leaving the screen lets the call in flight
        finish and the session close instead of cancelling it halfway.
        """
        cols, rows = self.query_one(FrameView).size
        width, height = min(max(cols, 1), MAX_SIDE), min(max(2 * rows, 2), MAX_SIDE)
        self.app.run_worker(self.play(width, height), name=f"cartridge {self.slug}", group="cartridge-session", exit_on_error=False)

    def on_unmount(self) -> None:
        """Leaving: the loop stops after its current tick and closes the session."""
        self.stopped = True

    async def play(self, width: int, height: int) -> None:
        """Open the session, tick at up to `FPS`, and close the session when the screen goes away or the cartridge fails."""
        call = self.colony.connection.call
        try:
            self.take(await call("cartridges.session.open", slug=self.slug, width=width, height=height))
            self.session = str(self.reply.get("session", ""))
            while not self.stopped:
                due = time.monotonic() + 1 / FPS
                keys = [[code, False] for code in self.releases] + [[code, True] for code in self.presses]
                self.releases, self.presses = list(dict.fromkeys(self.presses)), []
                reply = await call("cartridges.session.tick", session_id=self.session, keys=keys)
                if self.stopped:
                    break
                self.take(reply)
                await anyio.sleep(max(0.0, due - time.monotonic()))
        except (RPCError, Disconnected, ProtocolError, TimeoutError, ValueError) as exc:
            self.problem = str(exc) or type(exc).__name__
            if not self.stopped:
                self.show_status()
        finally:
            if self.session:
                with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_WAIT):
                    try:
                        await call("cartridges.session.close", session_id=self.session)
                    except (RPCError, Disconnected, ProtocolError, TimeoutError):
                        pass  # the node closes idle sessions itself

    def take(self, reply: Any) -> None:
        """Count one tick and draw its frame (null when unchanged); a frame that does not decode is a ValueError."""
        self.reply = as_dict(reply)
        self.ticks += 1
        self.fuel += int(number(self.reply.get("fuel")))
        frame = self.reply.get("frame")
        if frame is None:
            return
        try:
            pixels = base64.b64decode(str(frame), validate=True)
        except binascii.Error:
            raise ValueError("the node sent a frame that is not base64") from None
        self.query_one(FrameView).show(pixels, int(number(self.reply.get("width"))), int(number(self.reply.get("height"))))

    def show_status(self) -> None:
        """The line above the frame: cartridge, size, frames drawn and ticks per second, fuel, time per tick, the last key sent."""
        now, drawn = time.monotonic(), self.query_one(FrameView).frames_drawn
        then, drawn_then, ticks_then = self._mark
        if now > then:
            self.rates = ((drawn - drawn_then) / (now - then), (self.ticks - ticks_then) / (now - then))
        self._mark = (now, drawn, self.ticks)
        status = self.query_one("#runner-status", Static)
        if self.problem:
            status.update(Text(f"session ended: {short(self.problem, 300)}  (Escape to go back)", style="bold red"))
            return
        reply = self.reply
        if not reply:
            return
        status.update(
            f"{short(reply.get('slug', self.slug), 40)} {short(reply.get('version', ''), 16)}  "
            f"{int(number(reply.get('width')))}×{int(number(reply.get('height')))} px  "
            f"{self.rates[0]:.1f} fps ({self.rates[1]:.1f} ticks/s)  "
            f"fuel {number(reply.get('fuel')):,.0f}/tick ({self.fuel:,} total)  {number(reply.get('ms')):.2f} ms/tick"
            + (f"  key {self.last_key}" if self.last_key else "")
        )

    def on_key(self, event: events.Key) -> None:
        """Send the key to the cartridge; Escape and keys without a code keep their usual meaning."""
        code = key_code(event.key, event.character)
        if code is None:
            return
        event.stop()
        event.prevent_default()
        self.presses.append(code)
        self.last_key = f"{event.key} ({code})"
