"""The hivemind plugin on a real node: trails laid on outcomes, evaporation, votes, recall and peer import, worked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugins.cognition.cognition_harness import cognition_node, exported, merge_state, ticks


def trails(node) -> dict[tuple[str, str], dict]:
    """The hivemind's strongest trails by (category, resource); figures are rounded to 4 places."""
    return {(t["category"], t["resource"]): t for t in node.call("hivemind.state")["strongest"]}


def test_deposits_evaporate_and_vote(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "hivemind", plan=["read_file:ok:src/app.py", "run_shell:fail"],
                        goal="refactor parser module", planner="soul") as node:
        [first] = ticks(node, 1)
        assert first["steps"][0]["appraisals"]["hivemind"]["reason"] == "no trail"
        found = trails(node)
        # A new trail starts at 0.3, then the tick's evaporation: 0.3 × 0.95.
        assert found[("action", "read_file")]["intensity"] == pytest.approx(0.285, abs=1e-4)
        assert found[("action", "read_file")]["valence"] == 0.5
        assert found[("file", "src/app.py")]["valence"] == 0.5
        assert found[("action", "run_shell")]["valence"] == -0.5
        assert found[("error", "shell")]["valence"] == -0.5  # "exit code" is a shell error
        assert {("goal", k) for k in ("refactor", "parser", "module")} <= set(found)
        [second] = ticks(node, 1)
        # The vote: valence × min(intensity, 1), as confident as the trail is strong.
        assert second["steps"][0]["appraisals"]["hivemind"] == {"vote": 0.1425, "confidence": 0.285, "reason": ""}
        assert second["steps"][1]["appraisals"]["hivemind"]["vote"] == -0.1425
        assert second["memories"]["hivemind"]["trails"] == {"read_file": 0.1425, "run_shell": -0.1425}
        assert second["memories"]["hivemind"]["files"] == {"src/app.py": [0.5, 0.285]}
        # Reinforced: (0.285 + 0.3) × 0.95.
        assert trails(node)[("action", "read_file")]["intensity"] == pytest.approx(0.55575, abs=1e-4)
        observed = ticks(node, 1)[0]["observations"]["hivemind"]
        assert observed["covered_actions"] == ["read_file", "run_shell"] and observed["coverage"] == 0.25


def test_trails_fade_away_without_deposits(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "home", "hivemind", plan=["think:ok"]) as node:
        ticks(node, 1)
        assert trails(node)[("action", "think")]["intensity"] == pytest.approx(0.285, abs=1e-4)
    # 0.285 × 0.95ⁿ < 0.01 from n = 66 on: a planner that stops depositing lets the trail go.
    with cognition_node(tmp_path / "home", "hivemind", plan=[]) as node:
        ticks(node, 65)
        assert ("action", "think") in trails(node)
        ticks(node, 1)
        assert trails(node) == {} and node.call("hivemind.state")["trails"] == 0


def test_peer_trails_come_in_weighted_by_reputation(tmp_path: Path) -> None:
    with cognition_node(tmp_path / "a", "hivemind", plan=["read_file:ok"]) as teacher:
        ticks(teacher, 1)
        snapshot = exported(teacher, "hivemind")
    assert [(t["resource"], t["intensity"]) for t in snapshot["trails"]] == [("read_file", 0.285)]
    with cognition_node(tmp_path / "b", "hivemind", plan=["think:ok"]) as pupil:
        ticks(pupil, 1)
        merge_state(pupil, "hivemind", snapshot, rate=0.1)  # the rate does not matter: reputation does
        imported = trails(pupil)[("action", "read_file")]
        assert imported["intensity"] == pytest.approx(0.285 * 0.5, abs=1e-4)  # an unknown peer's reputation is 0.5
        assert imported["source_agent"] == "peer-a"
        merge_state(pupil, "hivemind", snapshot)
        assert trails(pupil)[("action", "read_file")]["intensity"] == pytest.approx(0.1425 + 0.3 * 0.1425, abs=1e-4)
