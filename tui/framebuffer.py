"""RGBA framebuffers drawn with upper-half blocks in true colour: two pixels per cell, fast enough for 60 fps."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Sequence
from itertools import compress
from operator import is_not, itemgetter

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

HALF = "▀"  # the foreground paints the top pixel, the background the bottom one
NO_PIXEL = -1  # below the last row of an odd-height frame: that half of the cell keeps the widget's background
MOST_CELLS = 1 << 16  # a noisy frame can bring a new colour pair per cell; past this many the cache starts afresh

Cell = tuple[int, int]  # (top pixel, bottom pixel), each 0xAABBGGRR


def fit(width: int, height: int, cols: int, rows: int) -> tuple[int, int, float]:
    """The drawn size in pixels (at most `cols` wide and `2 * rows` high) and how many source pixels one drawn pixel spans."""
    step = max(width / max(cols, 1), height / max(2 * rows, 1), 1.0)
    return max(1, min(cols, int(width / step))), max(1, min(2 * rows, int(height / step))), step


def pixels_of(frame: bytes) -> array[int]:
    """The frame as 32-bit pixels with red in the low byte and alpha in the high byte, on any byte order."""
    pixels = array("I")
    pixels.frombytes(frame[: len(frame) // 4 * 4])
    if sys.byteorder == "big":
        pixels.byteswap()
    return pixels


def colour(pixel: int) -> Color | None:
    """One pixel's colour, blended over black by its alpha; None for `NO_PIXEL`."""
    if pixel == NO_PIXEL:
        return None
    alpha = pixel >> 24
    return Color.from_rgb((pixel & 0xFF) * alpha // 255, (pixel >> 8 & 0xFF) * alpha // 255, (pixel >> 16 & 0xFF) * alpha // 255)


def sampler(width: int, out_width: int, step: float) -> Callable[[Sequence[int]], Sequence[int]]:
    """Picks the `out_width` pixels of a row that a shrunk frame shows (nearest pixel)."""
    if out_width == width:
        return lambda row: row
    columns = [int(x * step) for x in range(out_width)]
    if out_width == 1:
        return lambda row: (row[columns[0]],)
    return itemgetter(*columns)


class HalfBlocks:
    """Turns RGBA frames into strips of `▀` cells, reusing one segment per (top, bottom) colour pair."""

    def __init__(self) -> None:
        self.cells: dict[Cell, Segment] = {}

    def cell(self, pair: Cell) -> Segment:
        """The segment for one cell, made on first sight."""
        segment = self.cells.get(pair)
        if segment is None:
            if len(self.cells) >= MOST_CELLS:
                self.cells.clear()
            segment = self.cells[pair] = Segment(HALF, Style.from_color(colour(pair[0]), colour(pair[1])))
        return segment

    def lines(self, frame: bytes, width: int, height: int, cols: int, rows: int) -> list[Strip]:
        """A `width` x `height` RGBA frame as at most `rows` strips of at most `cols` cells, shrunk to fit by nearest pixel."""
        if width <= 0 or height <= 0 or len(frame) < width * height * 4:
            return []
        pixels = pixels_of(frame)
        out_width, out_height, step = fit(width, height, cols, rows)
        pick = sampler(width, out_width, step)
        starts = [int(y * step) * width for y in range(out_height)]
        sampled = [pick(pixels[start : start + width]) for start in starts]
        if out_height % 2:
            sampled.append([NO_PIXEL] * out_width)
        return [self.strip(sampled[y], sampled[y + 1]) for y in range(0, out_height, 2)]

    def strip(self, top: Sequence[int], bottom: Sequence[int]) -> Strip:
        """One line of cells from their top and bottom pixels; runs of one colour pair become one segment."""
        try:
            cells = list(map(self.cells.__getitem__, zip(top, bottom)))
        except KeyError:  # new colours: the slower path that makes their segments
            cells = list(map(self.cell, zip(top, bottom)))
        width = len(cells)
        # Each colour pair has one segment object, so a run is a stretch of the same object.
        starts = list(compress(range(1, width), map(is_not, cells, cells[1:])))
        if 2 * len(starts) >= width:  # mostly short runs: merging would cost more than it saves when drawn
            return Strip(cells, width)
        bounds = [0, *starts, width]
        return Strip([Segment(HALF * (end - start), cells[start].style) for start, end in zip(bounds, bounds[1:])], width)


class FrameView(Widget):
    """Shows the latest frame, centred and shrunk to fit; the strips are made once per frame and size, when drawn."""

    DEFAULT_CSS = "FrameView { width: 1fr; height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.blocks = HalfBlocks()
        self.frame: tuple[bytes, int, int] | None = None
        self.drawn: tuple[tuple[bytes, int, int] | None, int, int] | None = None  # what `strips` were made for
        self.strips: list[Strip] = []
        self.frames_drawn = 0

    def show(self, frame: bytes, width: int, height: int) -> None:
        """Draw a new `width` x `height` RGBA frame."""
        self.frame = (frame, width, height)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        """One line of the view: the centred frame, blank around it."""
        cols, rows = self.size
        if self.drawn != (self.frame, cols, rows):
            self.layout_frame(cols, rows)
        return self.strips[y] if 0 <= y < len(self.strips) else Strip.blank(cols, self.rich_style)

    def layout_frame(self, cols: int, rows: int) -> None:
        """Make every line for the current frame and size: the frame's strips, centred, with background around them."""
        self.drawn = (self.frame, cols, rows)
        self.frames_drawn += 1
        background = self.rich_style  # computed once here: it walks the widget's ancestors
        lines = self.blocks.lines(*self.frame, cols, rows) if self.frame else []
        top = (rows - len(lines)) // 2
        blank = Strip.blank(cols, background)
        centred = [Strip([*pad((cols - line.cell_length) // 2, background), *line, *pad((cols - line.cell_length + 1) // 2, background)], cols) for line in lines]
        self.strips = [blank] * top + centred + [blank] * (rows - top - len(lines))


def pad(width: int, style: Style) -> list[Segment]:
    """`width` blank cells (none for 0)."""
    return [Segment(" " * width, style)] if width > 0 else []
