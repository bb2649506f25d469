"""Genesis fitness, matching and evolution with numbers worked by hand (digest §4.5 item 3)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from colony.plugins.cognition.rules import genesis as g

HOUR = 3600.0


def _template(**kw: object) -> g.PlanTemplate:
    base = dict(id=0, goal_keywords=["fix"], goal_summary="fix", step_types=["read_file", "edit_code"], fitness=0.5, uses=0,
                successes=0, source_agent="me", generation=0, parents=[], created_at=0.0, tags=[], substantive=True)
    base.update(kw)
    return g.PlanTemplate(**base)  # type: ignore[arg-type]


def test_fitness_formula() -> None:
    # 3/4 success, 168 h old, generation 2: 0.75 * 1/(1+1) * (1 + 0.1) = 0.4125
    assert g.compute_fitness(_template(uses=4, successes=3, generation=2), 168 * HOUR) == pytest.approx(0.4125)
    # Unused: 0.5; age floors at 1 h: 0.5 * 1/(1 + 1/168) = 0.5 * 168/169
    assert g.compute_fitness(_template(), 0.0) == pytest.approx(0.5 * 168 / 169)
    # Generation bonus caps at 1.5 (generation 20): 1.0 * 168/169 * 1.5
    assert g.compute_fitness(_template(uses=1, successes=1, generation=20), 0.0) == pytest.approx(1.5 * 168 / 169)
    # 6 uses, 1 success (0.1667 < 0.3): 0.1667 * 168/169 * 0.1
    assert g.compute_fitness(_template(uses=6, successes=1), 0.0) == pytest.approx(1 / 6 * 168 / 169 * 0.1)
    # Trivial templates cap at 0.1
    assert g.compute_fitness(_template(uses=1, successes=1, substantive=False), 0.0) == 0.1


def test_record_success_new_and_duplicate() -> None:
    pool = g.GenePool()
    t = g.record_success(pool, "Fix the compile error in brain module", ["read_file", "edit_code"], "me", True, 0.0)
    assert (t.fitness, t.uses, t.successes, t.goal_keywords) == (0.5, 1, 1, ["fix", "compile", "error", "brain", "module"])
    assert g.record_success(pool, "read notes", ["read_file"], "me", False, 0.0).fitness == 0.2
    again = g.record_success(pool, "fix compile error brain module", ["read_file", "edit_code"], "me", True, 0.0)
    # Same steps, same keywords (Jaccard 1 > 0.8): boosted, not added. 2/2 * 168/169
    assert again is t and (t.uses, t.successes) == (2, 2) and len(pool.templates) == 2
    assert t.fitness == pytest.approx(168 / 169)


def test_failure_counts_three_uses_and_culls() -> None:
    pool = g.GenePool(templates=[_template(uses=3, successes=0)])
    g.record_failure(pool, 0, 0.0)
    # 0/6 success -> fitness 0 < 0.05 with 6 uses: culled
    assert pool.templates == []


def test_suggest_templates_scores() -> None:
    pool = g.GenePool(templates=[_template(goal_keywords=["fix", "compile"], fitness=0.5), _template(id=1, goal_keywords=["deploy"], fitness=0.3)])
    (best, score), = g.suggest_templates(pool, "fix compile")
    # 0.7 * 1 + 0.3 * 0.5 = 0.85; the other scores 0.7*0 + 0.3*0.3 = 0.09 <= 0.2
    assert best.id == 0 and score == pytest.approx(0.85)
    assert g.suggest_templates(pool, "the a of") == []


def test_crossover_and_mutation() -> None:
    pool = g.GenePool(next_id=5)
    a = _template(id=1, step_types=["a1", "a2", "a3", "a4"], goal_keywords=["x"], fitness=0.6, generation=1)
    b = _template(id=2, step_types=["b1", "b2", "b3"], goal_keywords=["x", "y"], fitness=0.4, generation=3)
    child = g.crossover(pool, a, b, 10.0)
    # a[:2] + b[1:]; fitness (0.6+0.4)/2; generation max(1,3)+1
    assert child is not None
    assert child.step_types == ["a1", "a2", "b2", "b3"] and child.fitness == pytest.approx(0.5)
    assert (child.generation, child.parents, child.id, child.goal_keywords) == (4, [1, 2], 5, ["x", "y"])
    mutant = g.mutate(pool, a, 10.0, random.Random(3))
    assert mutant is not None and mutant.fitness == pytest.approx(0.48) and mutant.parents == [1]
    assert 3 <= len(mutant.step_types) <= 5
    assert g.mutate(pool, _template(step_types=["one"]), 0.0, random.Random(0)) is None


def test_evolve_counts() -> None:
    pool = g.GenePool()
    for i in range(10):
        pool.templates.append(_template(id=i, step_types=[f"s{i}", "edit_code", "commit"], uses=2, successes=2))
    pool.next_id = 10
    crossovers, mutations, pruned = g.evolve(pool, 0.0, random.Random(7))
    # 10 eligible: floor(3.0) = 3 crossovers, floor(2.0) = 2 mutations
    assert (crossovers, mutations, pruned) == (3, 2, 0)
    assert len(pool.templates) == 15 and pool.generation == 1


def test_selection_prunes_and_truncates() -> None:
    pool = g.GenePool(templates=[_template(id=0, uses=2, successes=0), _template(id=1, uses=1, successes=0)])
    # id 0: fitness 0 with 2 uses -> pruned; id 1 has one use only -> kept
    assert g.select(pool, 0.0) == 1 and [t.id for t in pool.templates] == [1]


def test_merge_imports_discounted_and_rate_zero_is_noop() -> None:
    peer = g.GenePool(templates=[_template(id=9, fitness=0.8, goal_summary="[imported from q] thing")])
    ours = g.GenePool()
    assert g.merge(ours, g.export(peer, "p"), 0.0) == 0 and ours.templates == []
    assert g.merge(ours, g.export(peer, "p"), 0.9) == 1
    # rate capped at 0.5: 0.8 * 0.5 = 0.4
    (t,) = ours.templates
    assert t.fitness == pytest.approx(0.4) and t.goal_summary == "[imported from p] thing" and t.id == 0
    assert g.merge(ours, g.export(peer, "p"), 0.5) == 0  # now a duplicate
    with pytest.raises(ValueError):
        g.merge(ours, {"templates": [{"id": "x"}]}, 0.3)


def test_diversity_and_seeds() -> None:
    pool = g.GenePool(templates=[_template(id=i) for i in range(4)])
    g.enforce_diversity(pool)
    assert len(pool.templates) == 2
    assert g.inject_seed_templates(g.GenePool(), "me", 0.0) == 3
    assert g.inject_seed_templates(pool, "me", 0.0) == 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from(["read_file", "edit_code", "commit", "think"]), min_size=1, max_size=6),
                          st.booleans()), max_size=30), st.integers(0, 1000))
def test_properties(plans: list[tuple[list[str], bool]], seed: int) -> None:
    pool = g.GenePool()
    rng = random.Random(seed)
    for i, (steps, ok) in enumerate(plans):
        t = g.record_success(pool, f"goal number {i % 4} thing", steps, "me", g.is_substantive(steps), float(i))
        if not ok:
            g.record_failure(pool, t.id, float(i))
        g.evolve(pool, float(i), rng)
        assert len(pool.templates) <= g.POOL_CAPACITY
        assert all(0.0 <= t.fitness <= 1.5 for t in pool.templates)
        assert all(t.fitness <= 0.1 for t in pool.templates if not t.substantive)
    assert g.GenePool.from_dict(pool.to_dict()).to_dict() == pool.to_dict()
