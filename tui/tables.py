"""Keyed DataTables that redraw in place, so the highlighted row stays highlighted across refreshes."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable


def selected_key(table: DataTable[Any]) -> str | None:
    """The key of the highlighted row; None when the table is empty."""
    if not table.row_count:
        return None
    row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
    return row_key.value


def fill(table: DataTable[Any], rows: dict[str, list[Any]]) -> None:
    """Show `rows` (key to cells): updated in place when the keys are the same, else redrawn with the same key highlighted."""
    keys = list(rows)
    if [key.value for key in table.rows] == keys:
        for key, cells in rows.items():
            for column, value in zip(table.columns, cells):
                table.update_cell(key, column, value)
        return
    selected = selected_key(table)
    table.clear()
    for key, cells in rows.items():
        table.add_row(*cells, key=key)
    if selected in rows:
        table.move_cursor(row=keys.index(selected), animate=False)
