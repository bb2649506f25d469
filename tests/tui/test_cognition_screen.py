"""The cognition screen against a fake node answering `cognition.overview` as the issue 7 contract shapes it."""

from __future__ import annotations

import copy
import re
from pathlib import Path

from fakenode import OVERVIEW, FakeNode
from rendered import text_of
from textual.pilot import Pilot
from textual.widgets import Static
from tui_support import drive, wait_for

from colony.testing import RunningNode
from colony.tui.app import ColonyApp, unix_opener
from colony.tui.cognition import NINE, CognitionScreen, gauge_rows
from colony.tui.soul import SoulScreen


def cards(app: ColonyApp) -> dict[str, str]:
    """Each system card's title and subtitle."""
    return {str(card.border_title): str(card.border_subtitle) for card in app.screen.query("#cog-systems Static").results(Static)}


async def open_cognition(app: ColonyApp, pilot: Pilot, ready: str = "tick") -> None:
    await wait_for(pilot, lambda: app.conn_state == "connected")
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(app.screen, CognitionScreen))
    await wait_for(pilot, lambda: ready in text_of(app, "#cog-status"), f"{ready!r} in the status line")


def test_all_nine_systems_a_tenth_and_the_colony_state(short_dir: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await open_cognition(app, pilot)
        status = text_of(app, "#cog-status")
        assert "tick 1234" in status and "9 of 9 systems reporting" in status and "also tenth" in status
        shown = cards(app)
        assert list(shown) == ["Free energy", "Cortex", "Brain", "Genesis", "Hivemind", "Synthesis", "Evaluation", "Feedback", "Autonomy", "Tenth"]
        assert not any(shown.values())  # every one reported
        assert re.search(r"accuracy +█+.* 0\.710", text_of(app, "#sys-cortex")) and "EXPLORE" in text_of(app, "#sys-cortex")
        assert re.search(r"brain +█+.* 0\.310", text_of(app, "#sys-synthesis"))  # nested weights, indented
        assert "4: read_file, search_code" in text_of(app, "#sys-hivemind") and "yes" in text_of(app, "#sys-brain")
        assert re.search(r"mood +█+.* 0\.660", text_of(app, "#sys-tenth"))
        headline = text_of(app, "#cog-headline")
        assert re.search(r"F +0\.4213 ↘ -0\.0121", headline) and re.search(r"regime +LEARN", headline)
        assert re.search(r"Ψ +0\.3127 ↗ \+0\.0042", headline) and "fitness 0.5811" in headline
        assert "brain_training, peer_sync" in headline
        bloch = text_of(app, "#cog-bloch")
        assert "|0⟩" in bloch and "|1⟩" in bloch and ("●" in bloch or "○" in bloch)
        assert "θ 1.120 (64°)" in bloch and "φ 2.300 (132°)" in bloch and "exploration 0.356  LEARN" in bloch

    with FakeNode(short_dir / "n.sock", results={"cognition.overview": OVERVIEW}) as fake:
        drive(ColonyApp(unix_opener(fake.path)), scenario)


def test_systems_that_did_not_report_and_extras_that_left(short_dir: Path) -> None:
    served = {"overview": OVERVIEW}

    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await open_cognition(app, pilot, "also tenth")
        later = copy.deepcopy(OVERVIEW)
        for name in ("brain", "hivemind", "tenth"):
            del later["systems"][name]
        served["overview"] = {**later, "tick": 1235}
        await wait_for(pilot, lambda: "7 of 9 systems reporting" in text_of(app, "#cog-status"), "the next overview")
        await wait_for(pilot, lambda: "Tenth" not in cards(app))
        shown = cards(app)
        assert shown["Brain"] == shown["Hivemind"] == "not reporting" and shown["Cortex"] == ""
        assert "no observation last tick" in text_of(app, "#sys-brain")
        assert len(app.screen.history["F"]) == 2  # one point per tick, however often it fetched

    with FakeNode(short_dir / "n.sock", results={"cognition.overview": lambda params: served["overview"]}) as fake:
        drive(ColonyApp(unix_opener(fake.path)), scenario)


def test_a_node_without_colony_state_says_so(short_dir: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await open_cognition(app, pilot, "not running")
        assert "the colony_state plugin is not running on this node" in text_of(app, "#cog-status")
        assert set(cards(app).values()) == {"not reporting"} and len(cards(app)) == len(NINE)
        assert "no Bloch state" in text_of(app, "#cog-bloch") and "●" not in text_of(app, "#cog-bloch")

    with FakeNode(short_dir / "n.sock") as fake:
        drive(ColonyApp(unix_opener(fake.path)), scenario)


def test_a_real_node_without_the_plugins(tmp_path: Path) -> None:
    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await open_cognition(app, pilot, "not running")
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, SoulScreen))
        await wait_for(pilot, lambda: "the soul plugin is not running" in text_of(app, "#soul-state"))

    with RunningNode(tmp_path / "home", plugins=[]) as running:
        drive(ColonyApp(unix_opener(running.socket)), scenario)


def test_hostile_overviews_are_shown_not_crashed_on(short_dir: Path) -> None:
    hostile = {
        "tick": float("inf"), "F": "high", "regime": 7, "psi": None, "psi_trend": [1], "fitness": float("inf"), "fired": "all",
        "bloch": {"theta": "up", "phi": 1.0}, "systems": {"brain": 3, "cortex": {"accuracy": float("nan"), "deep": {"a": {"b": 1}}}, "x" * 500: {}, "odd name!": {"v": -2.5}},
    }

    async def scenario(app: ColonyApp, pilot: Pilot) -> None:
        await open_cognition(app, pilot)
        await wait_for(pilot, lambda: "also" in text_of(app, "#cog-status"))
        assert "no Bloch state" in text_of(app, "#cog-bloch") and "nan" in text_of(app, "#sys-cortex")
        assert cards(app)["Brain"] == "not reporting" and "-2.5" in text_of(app, "#sys-odd_name_")

    with FakeNode(short_dir / "n.sock", results={"cognition.overview": hostile}) as fake:
        drive(ColonyApp(unix_opener(fake.path)), scenario)


def test_gauges_flatten_one_level() -> None:
    rows = gauge_rows({"weights": {"brain": 0.5}, "warm": False, "n": 3, "big": 12.5, "drive": "exploit", "covered": [], "loss": None, "trend": 0.25})
    assert [label for label, _ in rows] == ["weights", "  brain", "warm", "n", "big", "drive", "covered", "loss", "trend"]
    assert [str(value) for _, value in rows[2:]] == ["no", "3", "12.5", "EXPLOIT", "0", "-", "+0.2500"]


def test_cognition_screen_snapshot(snap_compare, short_dir: Path) -> None:
    async def settle(pilot: Pilot) -> None:
        app = pilot.app
        await open_cognition(app, pilot, "also tenth")  # type: ignore[arg-type]
        await wait_for(pilot, lambda: len(cards(app)) == 10 and "fired" in text_of(app, "#cog-headline"))  # type: ignore[arg-type]
        await pilot.wait_for_scheduled_animations()

    with FakeNode(short_dir / "n.sock", results={"cognition.overview": OVERVIEW}) as fake:
        assert snap_compare(ColonyApp(unix_opener(fake.path), target="fake.sock"), terminal_size=(150, 40), run_before=settle)
