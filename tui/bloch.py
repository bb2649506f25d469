"""A Bloch sphere drawn in braille: the limb, the equator, the axes and the state vector from (θ, φ)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rich.text import Text

# Seen from slightly above (elevation) and turned a little from +x toward +y (azimuth): +z up, +x
# toward the viewer and down to the left, +y to the right, as Bloch spheres are usually drawn.
ELEVATION = math.radians(20)
AZIMUTH = math.radians(25)
MARGIN = 3  # columns each side, for the `y` label
DOTTED = 3.0  # dots apart on dotted lines: the axes, the equator behind the sphere, the guides
BRAILLE = 0x2800
DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][column] within a cell
# Which role a cell takes when several draw in it: the later, the stronger.
ROLES = ("back", "axis", "sphere", "front", "guide", "vector", "label", "tip")
STYLES = {
    "back": "#4e5a6e",
    "axis": "#6c7a91",
    "sphere": "#5fafd7",
    "front": "#87afd7",
    "guide": "#8a8a8a",
    "vector": "bold #ff87d7",
    "label": "bold #c0c8d4",
    "tip": "bold #ff87d7",
}

Point = tuple[float, float, float]


@dataclass
class Drawing:
    """The sphere as text lines, with the role ("" for blank) of every cell, for colouring."""

    lines: list[str]
    roles: list[list[str]]
    center: tuple[int, int]  # (column, row) of the cell holding the sphere's centre

    def text(self, styles: Mapping[str, str] = STYLES) -> Text:
        """The drawing as one rich Text, each run of cells coloured by its role."""
        out = Text()
        for number, (line, roles) in enumerate(zip(self.lines, self.roles)):
            if number:
                out.append("\n")
            start = 0
            for end in range(1, len(line) + 1):
                if end == len(line) or roles[end] != roles[start]:
                    out.append(line[start:end], styles.get(roles[start], ""))
                    start = end
        return out


def project(point: Point) -> tuple[float, float, float]:
    """A point on or in the unit sphere as (right, up, toward the viewer), orthographically."""
    x, y, z = point
    sin_a, cos_a, sin_e, cos_e = math.sin(AZIMUTH), math.cos(AZIMUTH), math.sin(ELEVATION), math.cos(ELEVATION)
    right = -sin_a * x + cos_a * y
    up = -sin_e * cos_a * x - sin_e * sin_a * y + cos_e * z
    toward = cos_e * cos_a * x + cos_e * sin_a * y + sin_e * z
    return right, up, toward


def state_vector(theta: float, phi: float) -> Point:
    """The Bloch vector of (θ, φ): θ from +z, φ around z from +x toward +y."""
    return math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)


class Canvas:
    """A grid of braille cells whose dots each remember the strongest role drawn there."""

    def __init__(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self.bits = [[0] * cols for _ in range(rows)]
        self.rank = [[-1] * cols for _ in range(rows)]
        self.text: dict[tuple[int, int], tuple[str, str]] = {}

    def dot(self, x: float, y: float, role: str) -> None:
        """Set the dot nearest (x, y), in dots; outside the canvas it is dropped."""
        col, row = round(x), round(y)
        if 0 <= col < 2 * self.cols and 0 <= row < 4 * self.rows:
            cell_row, cell_col = row // 4, col // 2
            self.bits[cell_row][cell_col] |= DOT_BITS[row % 4][col % 2]
            self.rank[cell_row][cell_col] = max(self.rank[cell_row][cell_col], ROLES.index(role))

    def put(self, col: int, row: int, chars: str, role: str) -> None:
        """Write characters over cells, starting at (col, row)."""
        for offset, char in enumerate(chars):
            if 0 <= col + offset < self.cols and 0 <= row < self.rows:
                self.text[(col + offset, row)] = (char, role)

    def drawing(self, center: tuple[int, int]) -> Drawing:
        """The finished lines and roles."""
        lines, roles = [], []
        for row in range(self.rows):
            chars, kinds = [], []
            for col in range(self.cols):
                if (col, row) in self.text:
                    char, role = self.text[(col, row)]
                else:
                    bits, rank = self.bits[row][col], self.rank[row][col]
                    char, role = (chr(BRAILLE + bits), ROLES[rank]) if bits else (" ", "")
                chars.append(char)
                kinds.append(role)
            lines.append("".join(chars))
            roles.append(kinds)
        return Drawing(lines, roles, center)


class Sphere:
    """Draws points of the unit sphere onto a canvas, `radius` dots from its centre."""

    def __init__(self, canvas: Canvas, cx: float, cy: float, radius: float) -> None:
        self.canvas, self.cx, self.cy, self.radius = canvas, cx, cy, radius

    def at(self, point: Point, offset: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
        """Where a point lands, in dots (moved by `offset` dots)."""
        right, up, _ = project(point)
        return self.cx + right * self.radius + offset[0], self.cy - up * self.radius + offset[1]

    def cell(self, point: Point) -> tuple[int, int]:
        """The (column, row) of the cell a point lands in."""
        x, y = self.at(point)
        return round(x) // 2, round(y) // 4

    def path(self, points: Iterable[Point], role: str, hidden_role: str | None = None, dotted: bool = False, offset: tuple[float, float] = (0.0, 0.0)) -> None:
        """A polyline through `points`; its parts behind the sphere's centre plane take `hidden_role`, dotted."""
        walked, next_dot, last = 0.0, 0.0, None
        for point in points:
            x, y = self.at(point, offset)
            hidden = hidden_role is not None and project(point)[2] < 0
            if last is not None:
                length = math.hypot(x - last[0], y - last[1])
                steps = max(1, math.ceil(length * 2))
                for step in range(1, steps + 1):
                    walked += length / steps
                    if (dotted or hidden) and walked < next_dot:
                        continue
                    next_dot = walked + DOTTED
                    self.canvas.dot(last[0] + (x - last[0]) * step / steps, last[1] + (y - last[1]) * step / steps, hidden_role if hidden and hidden_role else role)
            last = (x, y)

    def segment(self, start: Point, end: Point, role: str, dotted: bool = False, offset: tuple[float, float] = (0.0, 0.0)) -> None:
        """A straight line between two points."""
        (x0, y0, z0), (x1, y1, z1) = start, end
        steps = [i / 24 for i in range(25)]
        self.path([(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, z0 + (z1 - z0) * t) for t in steps], role, dotted=dotted, offset=offset)


def draw(theta: float | None, phi: float | None, size: int = 10) -> Drawing:
    """The sphere `size` rows tall (plus a label row above and below) with the state vector at (θ, φ).

    θ = 0 points up (|0⟩), θ = π down (|1⟩), and φ turns the vector around the vertical axis, from +x
    (toward the viewer) to +y (right). The tip is `●` in front of the sphere's centre plane and `○`
    behind it. Without a finite θ and φ only the sphere is drawn.
    """
    size = max(4, size)
    radius = 2 * size - 1  # in dots: the disc is 4·size − 1 dots across, `size` rows and 2·size columns
    cols, rows = 2 * size + 2 * MARGIN, size + 2
    canvas = Canvas(cols, rows)
    sphere = Sphere(canvas, 2 * MARGIN + radius, 4 + radius, radius)
    ring = [2 * math.pi * i / 240 for i in range(241)]
    for start, end in (((0, 0, 0), (1, 0, 0)), ((0, 0, 0), (0, 1, 0)), ((0, 0, -1), (0, 0, 1))):  # +x, +y and the z axis
        sphere.segment(start, end, "axis", dotted=True)
    sphere.path(((math.cos(t), math.sin(t), 0.0) for t in ring), "front", hidden_role="back")
    for t in ring:  # the outline
        canvas.dot(sphere.cx + radius * math.cos(t), sphere.cy + radius * math.sin(t), "sphere")
    top_col, _ = sphere.cell((0, 0, 1))
    canvas.put(top_col - 1, 0, "|0⟩", "label")
    canvas.put(top_col - 1, rows - 1, "|1⟩", "label")
    for label, point in (("x", (1.3, 0.0, 0.0)), ("y", (0.0, 1.25, 0.0))):
        col, row = sphere.cell(point)
        canvas.put(col, row, label, "label")
    center = sphere.cell((0, 0, 0))
    if theta is None or phi is None or not (math.isfinite(theta) and math.isfinite(phi)):
        return canvas.drawing(center)
    theta = min(max(theta, 0.0), math.pi)
    tip = state_vector(theta, phi)
    if math.sin(theta) > 0.05:  # the vector's shadow on the equator plane, and the drop to it, show φ and θ
        foot = (tip[0], tip[1], 0.0)
        sphere.segment((0, 0, 0), foot, "guide", dotted=True)
        sphere.segment(foot, tip, "guide", dotted=True)
    right, up, _ = project(tip)
    for nudge in ((0.0, 0.0), (0.0, 1.0) if abs(right) > abs(up) else (1.0, 0.0)):  # two dots thick, to stand out from the wireframe
        sphere.segment((0, 0, 0), tip, "vector", offset=nudge)
    col, row = sphere.cell(tip)
    canvas.put(col, row, "●" if project(tip)[2] >= 0 else "○", "tip")
    return canvas.drawing(center)
