"""The Bloch sphere renderer: where the state vector's tip lands for given θ and φ, and what frames it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colony.tui.bloch import draw, project, state_vector

TIPS = "●○"


def tip(theta: float, phi: float, size: int = 10) -> tuple[int, int, str]:
    """(column, row, mark) of the vector's tip, as drawn."""
    lines = draw(theta, phi, size).lines
    found = [(col, row, char) for row, line in enumerate(lines) for col, char in enumerate(line) if char in TIPS]
    assert len(found) == 1, "\n".join(lines)
    return found[0]


def test_theta_zero_points_straight_up_and_pi_straight_down() -> None:
    drawing = draw(0.0, 0.0)
    center_col, center_row = drawing.center
    col, row, mark = tip(0.0, 0.0)
    assert (col, mark) == (center_col, "●") and row == 1  # the top of the sphere, in front: seen from slightly above
    col, row, mark = tip(math.pi, 0.0)
    assert (col, mark) == (center_col, "○") and row == len(drawing.lines) - 2  # the bottom, just behind the equator plane
    assert drawing.lines[0].strip() == "|0⟩" and drawing.lines[-1].strip() == "|1⟩"


@pytest.mark.parametrize("phi", [0.0, 1.0, math.pi / 2, 2.5, math.pi, 4.0, 3 * math.pi / 2, 6.0])
def test_phi_turns_the_vector_around_the_vertical_axis(phi: float) -> None:
    # The poles stay put whatever φ is.
    assert tip(0.0, phi)[:2] == tip(0.0, 0.0)[:2] and tip(math.pi, phi)[:2] == tip(math.pi, 0.0)[:2]
    # φ and φ + 2π are the same state; turning by φ keeps the height of the tip's point on the sphere.
    assert tip(1.0, phi) == tip(1.0, phi + 2 * math.pi)
    assert state_vector(1.0, phi)[2] == pytest.approx(math.cos(1.0))


def test_phi_sweeps_the_equator_through_x_y_and_back() -> None:
    center_col, center_row = draw(0.0, 0.0).center
    toward_x, toward_y, away_x, away_y = (tip(math.pi / 2, phi) for phi in (0.0, math.pi / 2, math.pi, 3 * math.pi / 2))
    assert toward_x[2] == "●" and toward_x[0] < center_col and toward_x[1] >= center_row  # +x: toward the viewer, down left
    assert toward_y[0] > center_col + 7  # +y: far to the right
    assert away_x[2] == "○" and away_x[0] > center_col and away_x[1] <= center_row  # −x: behind, up right
    assert away_y[0] < center_col - 7  # −y: far to the left
    assert max(abs(t[1] - center_row) for t in (toward_x, toward_y, away_x, away_y)) <= 2  # all on the flattened equator


def test_the_frame_is_drawn_without_a_state() -> None:
    drawing = draw(None, None)
    assert not any(char in TIPS for line in drawing.lines for char in line)
    assert drawing.lines == draw(math.nan, 0.0).lines == draw(0.0, math.inf).lines
    assert "y" in "".join(drawing.lines) and "x" in "".join(drawing.lines)
    assert len({len(line) for line in drawing.lines}) == 1  # a rectangle of cells
    assert [len(roles) for roles in drawing.roles] == [len(line) for line in drawing.lines]


def test_the_projection_keeps_z_up_and_x_toward_the_viewer() -> None:
    right, up, toward = project((0.0, 0.0, 1.0))
    assert right == pytest.approx(0.0) and up > 0.9 and toward > 0
    assert project((1.0, 0.0, 0.0))[2] > 0.8 and project((0.0, 1.0, 0.0))[0] > 0.8


def test_the_text_colours_the_vector() -> None:
    text = draw(0.5, 0.5).text({"vector": "red", "tip": "red"})
    assert text.plain == "\n".join(draw(0.5, 0.5).lines)
    assert any(span.style == "red" for span in text.spans)


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-5, max_value=30))
def test_any_input_draws_a_rectangle(theta: float, phi: float, size: int) -> None:
    lines = draw(theta, phi, size).lines
    assert len({len(line) for line in lines}) == 1 and len(lines) >= 6
