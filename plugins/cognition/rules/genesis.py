"""Genesis: the gene pool of plan templates (digest §4.5 item 3): fitness, matching, crossover, mutation, selection, peer import.

Every function here is pure apart from mutating the `GenePool` it is given: no I/O, no clock (`now` is
Unix seconds), randomness only from the `random.Random` passed in.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

from .numbers import finite

POOL_CAPACITY = 200
MIN_FITNESS = 0.1
MIN_USES_BEFORE_PRUNE = 2
CROSSOVER_RATE = 0.3
MUTATION_RATE = 0.2
MAX_CROSSOVERS = 5
MAX_MUTATIONS = 3
EVOLVE_MIN_FITNESS = 0.3  # a parent needs fitness above this ...
EVOLVE_MIN_USES = 2  # ... and at least this many uses
MATCH_THRESHOLD = 0.2
MATCH_KEYWORD_WEIGHT = 0.7
MATCH_FITNESS_WEIGHT = 0.3
PROMPT_INJECTION_COUNT = 3
UNUSED_SUCCESS_RATE = 0.5
RECENCY_HOURS = 168.0  # a week
MIN_AGE_HOURS = 1.0
GENERATION_BONUS = 0.05
MAX_GENERATION_BONUS = 0.5
FAILING_USES = 5  # more uses than this ...
FAILING_SUCCESS = 0.3  # ... and a success rate under this ...
FAILING_PENALTY = 0.1  # ... multiply fitness by this
TRIVIAL_FITNESS_CAP = 0.1
NEW_FITNESS = 0.5
NEW_TRIVIAL_FITNESS = 0.2
DEDUP_SIMILARITY = 0.8
MERGE_DEDUP_SIMILARITY = 0.7
MERGE_RATE_MAX = 0.5
MUTANT_FITNESS = 0.8
MAX_TEMPLATE_STEPS = 20
FAILURE_USES = 3  # a failed plan counts as three uses
CULL_FITNESS = 0.05
EXPORT_TEMPLATES = 50
MAX_KEYWORDS = 15
MAX_SUMMARY = 100
DIVERSITY_COPIES = 2
SECONDS_PER_HOUR = 3600.0
IMPORTED_PREFIX = "[imported from "
# Steps that only look or think: a plan made of these alone is trivial.
TRIVIAL_STEPS = frozenset({"read_file", "search_code", "list_dir", "think"})
COMMON_STEPS = ("read_file", "search_code", "cargo_check", "think", "list_dir")
SEED_TEMPLATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Fix a compile error in existing code", ("read_file", "search_code", "edit_code", "cargo_check", "commit")),
    ("Create a new script endpoint with tests", ("think", "create_script_endpoint", "test_script_endpoint")),
    ("Improve code quality in a module", ("read_file", "search_code", "edit_code", "cargo_check", "edit_code", "cargo_check", "commit")),
)
STOP_WORDS = frozenset(
    "the a an is are was were be been being have has had do does did will would could should may might "
    "shall can need dare ought used to of in for on with at by from as into through during before after "
    "above below between out off over under again further then once here there when where why how all "
    "both each few more most other some such no nor not only own same so than too very just and but or "
    "if that this it its my your our their what which who whom".split()
)
_WORD_SPLIT = re.compile(r"[^\w-]+")


def plain(record: Any) -> dict[str, Any]:
    """A flat dataclass record (scalars, lists and dicts of scalars) as plain data: `asdict` without its slow deep copies."""
    return {k: list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v for k, v in vars(record).items()}


@dataclass
class PlanTemplate:
    """An abstract plan (its step types) that once reached a goal."""

    id: int
    goal_keywords: list[str]
    goal_summary: str
    step_types: list[str]
    fitness: float
    uses: int
    successes: int
    source_agent: str
    generation: int
    parents: list[int]
    created_at: float
    tags: list[str]
    substantive: bool

    @property
    def step_count(self) -> int:
        """Number of steps."""
        return len(self.step_types)

    @property
    def success_rate(self) -> float:
        """successes / uses, 0.5 while unused."""
        return self.successes / self.uses if self.uses else UNUSED_SUCCESS_RATE


@dataclass
class GenePool:
    """The template population and its counters; `to_dict` is its stored form."""

    templates: list[PlanTemplate] = field(default_factory=list)
    next_id: int = 0
    total_created: int = 0
    total_pruned: int = 0
    generation: int = 0
    total_crossovers: int = 0
    total_mutations: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        counters = {k: v for k, v in vars(self).items() if k != "templates"}
        return {"templates": [plain(t) for t in self.templates], **counters}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenePool:
        """Rebuild from `to_dict` output; ValueError on malformed data."""
        try:
            return cls(
                templates=[template_from_dict(t) for t in data.get("templates", [])],
                **{k: int(data.get(k, 0)) for k in ("next_id", "total_created", "total_pruned", "generation", "total_crossovers", "total_mutations")},
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad gene pool: {exc}") from exc


def template_from_dict(d: dict[str, Any]) -> PlanTemplate:
    """One template from plain data (ValueError, KeyError or TypeError when malformed)."""
    fitness = float(d["fitness"])
    if not math.isfinite(fitness):
        raise ValueError("fitness is not finite")
    return PlanTemplate(
        id=int(d["id"]),
        goal_keywords=[str(k) for k in d["goal_keywords"]],
        goal_summary=str(d["goal_summary"])[:MAX_SUMMARY],
        step_types=[str(s) for s in d["step_types"]],
        fitness=fitness,
        uses=max(int(d["uses"]), 0),
        successes=max(int(d["successes"]), 0),
        source_agent=str(d["source_agent"]),
        generation=max(int(d["generation"]), 0),
        parents=[int(p) for p in d["parents"]],
        created_at=finite(d["created_at"]),
        tags=[str(t) for t in d["tags"]],
        substantive=bool(d["substantive"]),
    )


def extract_keywords(text: str) -> list[str]:
    """Lower-case words longer than 2 characters that are not stop words, first 15 distinct."""
    words = [w for w in _WORD_SPLIT.split(text.lower()) if len(w) > 2 and w not in STOP_WORDS]
    return list(dict.fromkeys(words))[:MAX_KEYWORDS]


def jaccard(a: list[str], b: list[str]) -> float:
    """|A ∩ B| / |A ∪ B| of two word lists; 0 when either is empty."""
    sa, sb = set(a), set(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def is_substantive(step_types: list[str]) -> bool:
    """Whether a plan does more than read and think."""
    return any(step not in TRIVIAL_STEPS for step in step_types)


def step_tags(step_types: list[str]) -> list[str]:
    """What domain a step sequence covers: coding, deployment, coordination, endpoint, review, research."""
    steps = set(step_types)
    coding = bool(steps & {"generate_code", "edit_code"})
    tags = [
        ("coding", coding),
        ("deployment", "commit" in steps),
        ("coordination", bool(steps & {"call_peer", "discover_peers"})),
        ("endpoint", "create_script_endpoint" in steps),
        ("review", "review_peer_pr" in steps),
        ("research", bool(steps & {"read_file", "search_code", "list_dir"}) and not coding),
    ]
    return [name for name, present in tags if present]


def compute_fitness(t: PlanTemplate, now: float) -> float:
    """success × 1/(1 + age_h/168) × (1 + min(0.05·generation, 0.5)), ×0.1 when failing, capped at 0.1 when trivial."""
    age_hours = max(max(now - t.created_at, 0.0) / SECONDS_PER_HOUR, MIN_AGE_HOURS)
    recency = 1.0 / (1.0 + age_hours / RECENCY_HOURS)
    bonus = 1.0 + min(t.generation * GENERATION_BONUS, MAX_GENERATION_BONUS)
    fitness = t.success_rate * recency * bonus
    if t.uses > FAILING_USES and t.success_rate < FAILING_SUCCESS:
        fitness *= FAILING_PENALTY
    return fitness if t.substantive else min(fitness, TRIVIAL_FITNESS_CAP)


def _new_template(pool: GenePool, keywords: list[str], summary: str, steps: list[str], fitness: float,
                  source: str, generation: int, parents: list[int], now: float, substantive: bool) -> PlanTemplate:
    """A fresh template with the next id."""
    steps = steps[:MAX_TEMPLATE_STEPS]
    template = PlanTemplate(pool.next_id, keywords, summary[:MAX_SUMMARY], steps, fitness, 0, 0, source,
                            generation, parents, now, step_tags(steps), substantive)
    pool.next_id += 1
    pool.total_created += 1
    return template


def _find_similar(pool: GenePool, steps: list[str], keywords: list[str], above: float) -> PlanTemplate | None:
    """The first template with the same steps and keyword similarity above `above`."""
    return next((t for t in pool.templates if t.step_types == steps and jaccard(t.goal_keywords, keywords) > above), None)


def record_success(pool: GenePool, goal: str, step_types: list[str], source_agent: str, substantive: bool, now: float) -> PlanTemplate:
    """Add a successful plan as a template (fitness 0.5, 0.2 if trivial), or count a success on its near-duplicate."""
    keywords = extract_keywords(goal)
    existing = _find_similar(pool, step_types, keywords, DEDUP_SIMILARITY)
    if existing is not None:
        existing.uses += 1
        existing.successes += 1
        existing.fitness = compute_fitness(existing, now)
        return existing
    template = _new_template(pool, keywords, goal, list(step_types), NEW_FITNESS if substantive else NEW_TRIVIAL_FITNESS,
                             source_agent, 0, [], now, substantive)
    template.uses = template.successes = 1
    pool.templates.append(template)
    if len(pool.templates) > POOL_CAPACITY:
        select(pool, now)
    return template


def record_template_success(pool: GenePool, template_id: int, now: float) -> None:
    """A plan built from this template succeeded."""
    for t in pool.templates:
        if t.id == template_id:
            t.uses += 1
            t.successes += 1
            t.fitness = compute_fitness(t, now)


def record_failure(pool: GenePool, template_id: int, now: float) -> None:
    """A plan built from this template failed: three uses, no success; cull templates tried 3+ times under fitness 0.05."""
    for t in pool.templates:
        if t.id == template_id:
            t.uses += FAILURE_USES
            t.fitness = compute_fitness(t, now)
    pool.templates = [t for t in pool.templates if t.fitness >= CULL_FITNESS or t.uses < FAILURE_USES]


def match_score(t: PlanTemplate, keywords: list[str]) -> float:
    """0.7 × keyword Jaccard + 0.3 × fitness."""
    return MATCH_KEYWORD_WEIGHT * jaccard(keywords, t.goal_keywords) + MATCH_FITNESS_WEIGHT * t.fitness


def suggest_templates(pool: GenePool, goal: str, top_n: int = PROMPT_INJECTION_COUNT) -> list[tuple[PlanTemplate, float]]:
    """The best templates for a goal with their match scores, scores above 0.2 only, best first."""
    keywords = extract_keywords(goal)
    if not keywords:
        return []
    scored = [(t, match_score(t, keywords)) for t in pool.templates]
    scored = [(t, s) for t, s in scored if s > MATCH_THRESHOLD]
    scored.sort(key=lambda item: item[1], reverse=True)
    return scored[:top_n]


def crossover(pool: GenePool, a: PlanTemplate, b: PlanTemplate, now: float) -> PlanTemplate | None:
    """First half of a's steps + second half of b's (≤ 20), keywords united, fitness the parents' mean."""
    steps = a.step_types[: len(a.step_types) // 2] + b.step_types[len(b.step_types) // 2 :]
    if not a.step_types or not b.step_types or not steps:
        return None
    keywords = list(dict.fromkeys(a.goal_keywords + b.goal_keywords))
    summary = f"[crossover] {a.goal_summary[:40]} + {b.goal_summary[:40]}"
    return _new_template(pool, keywords, summary, steps, (a.fitness + b.fitness) / 2, a.source_agent,
                         max(a.generation, b.generation) + 1, [a.id, b.id], now, a.substantive or b.substantive)


def mutate(pool: GenePool, parent: PlanTemplate, now: float, rng: random.Random) -> PlanTemplate | None:
    """Swap two steps, insert a common step, or remove one (keeping 2); the mutant starts at 0.8 × the parent's fitness."""
    steps = list(parent.step_types)
    if len(steps) < 2:
        return None
    kind = rng.randrange(3)
    if kind == 0:
        i, j = rng.randrange(len(steps)), rng.randrange(len(steps))
        steps[i], steps[j] = steps[j], steps[i]
    elif kind == 1:
        steps.insert(rng.randrange(len(steps) + 1), rng.choice(COMMON_STEPS))
    elif len(steps) > 2:
        del steps[rng.randrange(len(steps))]
    return _new_template(pool, list(parent.goal_keywords), f"[mutant] {parent.goal_summary[:80]}", steps,
                         parent.fitness * MUTANT_FITNESS, parent.source_agent, parent.generation + 1, [parent.id], now,
                         parent.substantive)


def select(pool: GenePool, now: float) -> int:
    """Refresh fitness, drop templates under 0.1 once used twice, keep the fittest 200; return how many went."""
    before = len(pool.templates)
    for t in pool.templates:
        t.fitness = compute_fitness(t, now)
    survivors = [t for t in pool.templates if t.fitness >= MIN_FITNESS or t.uses < MIN_USES_BEFORE_PRUNE]
    if len(survivors) > POOL_CAPACITY:
        survivors = sorted(survivors, key=lambda t: t.fitness, reverse=True)[:POOL_CAPACITY]
    pool.templates = survivors
    pruned = before - len(survivors)
    pool.total_pruned += pruned
    return pruned


def evolve(pool: GenePool, now: float, rng: random.Random) -> tuple[int, int, int]:
    """One generation: ⌊0.3·eligible⌋ (≤ 5) crossovers, ⌊0.2·eligible⌋ (≤ 3) mutations, then selection.

    Returns (crossovers, mutations, pruned).
    """
    pool.generation += 1
    for t in pool.templates:
        t.fitness = compute_fitness(t, now)
    eligible = [t for t in pool.templates if t.fitness > EVOLVE_MIN_FITNESS and t.uses >= EVOLVE_MIN_USES]
    children = []
    if len(eligible) >= 2:
        for _ in range(min(int(len(eligible) * CROSSOVER_RATE), MAX_CROSSOVERS)):
            a, b = rng.sample(eligible, 2)
            child = crossover(pool, a, b, now)
            if child is not None:
                children.append(child)
    crossovers = len(children)
    if eligible:
        for _ in range(min(int(len(eligible) * MUTATION_RATE), MAX_MUTATIONS)):
            child = mutate(pool, rng.choice(eligible), now, rng)
            if child is not None:
                children.append(child)
    mutations = len(children) - crossovers
    pool.total_crossovers += crossovers
    pool.total_mutations += mutations
    pool.templates.extend(children)
    return crossovers, mutations, select(pool, now)


def export(pool: GenePool, source_id: str) -> dict[str, Any]:
    """The snapshot peers merge: the 50 fittest templates."""
    top = sorted(pool.templates, key=lambda t: t.fitness, reverse=True)[:EXPORT_TEMPLATES]
    return {"templates": [plain(t) for t in top], "source_id": source_id, "generation": pool.generation}


def merge(ours: GenePool, theirs: dict[str, Any], rate: float) -> int:
    """Import a peer's templates we lack, their fitness × rate (rate capped at 0.5; 0 imports nothing); return how many."""
    rate = min(max(rate, 0.0), MERGE_RATE_MAX)
    try:
        source = str(theirs.get("source_id", "?"))
        peer_templates = [template_from_dict(t) for t in theirs.get("templates", [])]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"bad gene pool snapshot: {exc}") from exc
    if rate == 0.0:
        return 0
    imported = 0
    for peer in peer_templates:
        if len(ours.templates) >= POOL_CAPACITY:
            break
        if _find_similar(ours, peer.step_types, peer.goal_keywords, MERGE_DEDUP_SIMILARITY) is not None:
            continue
        summary = peer.goal_summary
        # Strip earlier import prefixes so templates passed along a chain of peers keep one.
        while summary.startswith(IMPORTED_PREFIX) and "] " in summary:
            summary = summary.split("] ", 1)[1]
        peer.id = ours.next_id
        peer.fitness *= rate
        peer.source_agent = source
        peer.goal_summary = f"{IMPORTED_PREFIX}{source}] {summary[:60]}"
        ours.next_id += 1
        ours.total_created += 1
        ours.templates.append(peer)
        imported += 1
    return imported


def enforce_diversity(pool: GenePool) -> None:
    """Keep at most two templates with the same step sequence."""
    seen: dict[tuple[str, ...], int] = {}
    kept = []
    for t in pool.templates:
        key = tuple(t.step_types)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= DIVERSITY_COPIES:
            kept.append(t)
    pool.templates = kept


def inject_seed_templates(pool: GenePool, source_agent: str, now: float) -> int:
    """Add the three known-good code workflows when the pool has no substantive template; return how many were added."""
    if any(t.substantive for t in pool.templates):
        return 0
    for goal, steps in SEED_TEMPLATES:
        pool.templates.append(_new_template(pool, extract_keywords(goal), f"[seed] {goal}", list(steps), NEW_FITNESS,
                                            source_agent, 0, [], now, True))
    return len(SEED_TEMPLATES)
