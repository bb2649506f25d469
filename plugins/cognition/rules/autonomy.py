"""Autonomy: plans compiled without an LLM, the diagnosis of the agent's own cognition, and the peer-sync merge rate (digest §4.5 (6), §4.7).

Genesis templates, the plan model's suggestion, cortex simulations and hivemind trails come in as
plain parameters, so this module stands on its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

TEMPLATE_MATCH_THRESHOLD = 0.35  # the best template must match the goal this well (0.15 produced trivial loops)
POOR_TRACK_USES = 3  # a template used more than this ...
POOR_TRACK_SUCCESS = 0.3  # ... with a success rate below this is refused
UNUSED_SUCCESS_RATE = 0.5  # a template's success rate before its first use
SIMULATION_CONFIDENCE = 0.4  # the cortex must be this confident in the plan ...
SIMULATION_SUCCESS = 0.3  # ... and predict at least this success
REPELLENT_VALENCE = -0.5  # an action trail below this valence ...
REPELLENT_INTENSITY = 0.3  # ... and above this intensity vetoes the plan
ATTRACTIVE_FILE_INTENSITY = 0.3  # a file trail must be this strong to pick the plan's target file
READ_ONLY_STEPS = frozenset({"read_file", "search_code", "list_dir", "think"})  # a plan of only these is trivial
COMMIT_MESSAGE_CHARS = 60
STUCK = "stuck"  # synthesis' Mode values that autonomy reads
CONFLICTED = "conflicted"
# Diagnosis thresholds.
MIN_EXPERIENCES = 50
MIN_CORTEX_ACCURACY = 0.6
MIN_MEAN_TEMPLATE_FITNESS = 0.3
DOMINANT_WEIGHT = 0.4  # a synthesis weight above this means one system dominates
MAX_IMPROVEMENT_GOALS = 3
# Peer sync: rate = clamp(0.2 × clamp(peer/self fitness, 0.1, 2), 0.02, 0.4).
SYNC_BASE_RATE = 0.2
SYNC_RATIO_RANGE = (0.1, 2.0)
SYNC_RATE_RANGE = (0.02, 0.4)
_PUNCTUATION = re.compile(r"^[`'\"(]+|[`'\",;:).!?]+$")
_FILE_NAME = re.compile(r"[\w-]+\.(py|rs|md|toml|json|yaml|yml|txt|js|ts|html|css|wat|zig|c|h)")


@dataclass(frozen=True)
class Template:
    """A genesis template as autonomy weighs it, with its `match` to the goal."""

    step_types: tuple[str, ...]
    match: float
    uses: int = 0
    successes: int = 0
    substantive: bool = True

    @property
    def success_rate(self) -> float:
        return self.successes / self.uses if self.uses else UNUSED_SUCCESS_RATE

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Template:
        return cls(tuple(data["step_types"]), float(data["match"]), int(data.get("uses", 0)),
                   int(data.get("successes", 0)), bool(data.get("substantive", True)))


@dataclass(frozen=True)
class Simulation:
    """The cortex's verdict on a sequence of step types."""

    success: float
    confidence: float


@dataclass(frozen=True)
class Compiled:
    """An LLM-free plan: typed step dicts, and where its shape came from ("template" or "plan_model")."""

    steps: tuple[dict[str, Any], ...]
    source: str
    simulation: Simulation


@dataclass(frozen=True)
class Fallback:
    """Why autonomy could not plan; the soul asks the LLM instead."""

    reason: str


def template_refusal(template: Template) -> str | None:
    """Why the best template may not be used, or None if it may."""
    if template.match < TEMPLATE_MATCH_THRESHOLD:
        return f"best template match too low: {template.match:.0%}"
    if not template.substantive:
        return "best template is read-only"
    if template.uses > POOR_TRACK_USES and template.success_rate < POOR_TRACK_SUCCESS:
        return f"best template has a poor track record: {template.success_rate:.0%} over {template.uses} uses"
    return None


def target_file(goal: str, file_trails: Mapping[str, tuple[float, float]], recent_files: Sequence[str]) -> str | None:
    """The file a plan works on: one the goal names, else the strongest attractive file trail, else the last file read successfully."""
    for word in goal.split():
        word = _PUNCTUATION.sub("", word)
        if "/" in word or _FILE_NAME.fullmatch(word):
            return word
    attractive = [(v * i, path) for path, (v, i) in file_trails.items() if v > 0 and i > ATTRACTIVE_FILE_INTENSITY]
    if attractive:
        return max(attractive)[1]
    return recent_files[0] if recent_files else None


def enrich(step_types: Sequence[str], goal: str, target: str | None, keywords: Sequence[str]) -> list[dict[str, Any]] | None:
    """Concrete steps for abstract step types; None when a step needs a target file and there is none. Unknown kinds are skipped."""
    term = max(keywords, key=len) if keywords else "TODO"
    steps: list[dict[str, Any]] = []
    for kind in step_types:
        if kind in ("read_file", "edit_code", "generate_code") and target is None:
            return None
        step = {
            "read_file": {"path": target, "store_as": "source"},
            "search_code": {"pattern": term, "directory": ".", "store_as": "search_results"},
            "list_dir": {"path": ".", "store_as": "dir_listing"},
            "edit_code": {"file_path": target, "description": goal, "context_keys": ["source"]},
            "generate_code": {"file_path": target, "description": goal, "context_keys": ["source"]},
            "cargo_check": {"store_as": "check_result"},
            "run_shell": {"command": "python -m pytest -q", "store_as": "test_output"},
            "commit": {"message": f"auto: {goal[:COMMIT_MESSAGE_CHARS]}"},
            "think": {"question": f"How should I approach: {goal}", "store_as": "analysis"},
            "check_self": {"endpoint": "/health", "store_as": "health"},
            "discover_peers": {"store_as": "peers"},
        }.get(kind)
        if step is not None:
            steps.append({"type": kind, **step})
    return steps


def compile_plan(
    goal: str,
    templates: Sequence[Template],
    simulate: Callable[[Sequence[str]], Simulation],
    *,
    keywords: Sequence[str] = (),
    model_steps: Sequence[str] = (),
    action_trails: Mapping[str, tuple[float, float]] | None = None,
    file_trails: Mapping[str, tuple[float, float]] | None = None,
    recent_files: Sequence[str] = (),
    mode: str = "",
    enricher: Callable[[Sequence[str], str, str | None, Sequence[str]], list[dict[str, Any]] | None] = enrich,
) -> Compiled | Fallback:
    """A plan for `goal` from the best matching template (or else the plan model's substantive suggestion), if the cortex and hivemind agree.

    `templates` come from genesis with their match to the goal, `keywords` are the goal's keywords,
    `model_steps` the plan model's step names, `simulate` runs the cortex over step types, trails map
    a resource to (valence, intensity), `recent_files` are files read successfully, newest first, and
    `mode` is synthesis' cognitive mode, and `enricher` turns step types into concrete steps (`enrich` by default).
    """
    shape, source = _shape(templates, model_steps)
    if isinstance(shape, Fallback):
        return shape
    steps = enricher(shape, goal, target_file(goal, file_trails or {}, recent_files), keywords)
    if not steps:
        return Fallback("could not enrich the plan with concrete steps")
    simulation = simulate([step["type"] for step in steps])
    if not simulation.confidence >= SIMULATION_CONFIDENCE:
        return Fallback(f"cortex confidence too low: {simulation.confidence:.0%}")
    if not simulation.success >= SIMULATION_SUCCESS:
        return Fallback(f"predicted success too low: {simulation.success:.0%}")
    for step in steps:
        valence, intensity = (action_trails or {}).get(step["type"], (0.0, 0.0))
        if valence < REPELLENT_VALENCE and intensity > REPELLENT_INTENSITY:
            return Fallback(f"the hivemind repels {step['type']}")
    if mode == STUCK:
        return Fallback("cognition is stuck: the LLM should try something new")
    return Compiled(tuple(steps), source, simulation)


def _shape(templates: Sequence[Template], model_steps: Sequence[str]) -> tuple[Sequence[str] | Fallback, str]:
    """The step types to compile: the best template's, else the plan model's, else why neither will do."""
    refusal = "no matching templates"
    if templates:
        best = max(templates, key=lambda t: t.match)
        refusal = template_refusal(best) or ""
        if not refusal:
            return best.step_types, "template"
    if model_steps and not set(model_steps) <= READ_ONLY_STEPS:
        return model_steps, "plan_model"
    return Fallback(refusal), ""


# Words of a goal that call for a step kind, in the order the steps run: look around, then act, then think.
RULE_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("list_dir", frozenset({"list", "explore", "survey", "structure", "workspace", "folder", "folders", "directory", "files"})),
    ("search_code", frozenset({"search", "find", "grep", "where", "locate", "todo", "todos", "usages"})),
    ("read_file", frozenset({"read", "open", "inspect", "show", "review", "check", "understand"})),
    ("write_file", frozenset({"write", "note", "notes", "record", "remember", "journal", "log", "document"})),
    ("run_shell", frozenset({"run", "test", "tests", "execute", "command", "shell", "build"})),
    ("discover_peers", frozenset({"peer", "peers", "colony", "discover", "neighbours", "neighbors"})),
)
RULE_DEFAULT = ("list_dir", "search_code")  # a goal no rule word names: look around for it
_WORDS = re.compile(r"[a-z_]+")


def rule_kinds(goal: str) -> list[str]:
    """Step kinds for a goal from its words alone (the last resort of a node without an LLM), ending with a `think`."""
    words = set(_WORDS.findall(goal.lower()))
    kinds = [kind for kind, triggers in RULE_WORDS if words & triggers] or list(RULE_DEFAULT)
    return [*kinds, "think"]


@dataclass(frozen=True)
class ImprovementGoal:
    """A goal that would make one cognitive system better."""

    description: str
    reasoning: str
    priority: int  # 1-5
    system: str

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "reasoning": self.reasoning, "priority": self.priority,
                "system": self.system}


def diagnose(
    *,
    experiences: int,
    cortex_accuracy: float,
    template_fitnesses: Sequence[float],
    trails: int,
    deposits: int,
    mode: str,
    weights: Mapping[str, float],
) -> list[ImprovementGoal]:
    """At most 3 self-improvement goals, most urgent first, from the health of each cognitive system."""
    goals = []
    if experiences < MIN_EXPERIENCES:
        goals.append(ImprovementGoal("Gather more diverse experience: read files, run commands, try different step types",
                                     f"the cortex has only {experiences} experiences (needs {MIN_EXPERIENCES})", 4, "cortex"))
    elif cortex_accuracy < MIN_CORTEX_ACCURACY:
        goals.append(ImprovementGoal("Improve the world model: find out why predictions fail and try varied approaches",
                                     f"cortex accuracy is {cortex_accuracy:.0%} (needs {MIN_CORTEX_ACCURACY:.0%})", 3, "cortex"))
    if not template_fitnesses:
        goals.append(ImprovementGoal("Complete one plan successfully to seed the gene pool",
                                     "the gene pool is empty", 4, "genesis"))
    elif (mean := sum(template_fitnesses) / len(template_fitnesses)) < MIN_MEAN_TEMPLATE_FITNESS:
        goals.append(ImprovementGoal("Raise plan success: the templates are rarely reused successfully",
                                     f"mean template fitness is {mean:.0%}", 3, "genesis"))
    if trails == 0 and deposits > 0:
        goals.append(ImprovementGoal("Act more to renew the pheromone trails",
                                     "every trail has evaporated", 2, "hivemind"))
    if mode == STUCK:
        goals.append(ImprovementGoal("Try a completely different approach: new files, unfamiliar areas, or peers",
                                     "synthesis sees persistent failures", 5, "synthesis"))
    elif mode == CONFLICTED:
        goals.append(ImprovementGoal("Gather data where the systems disagree, to learn which one to trust",
                                     "the cognitive systems conflict", 3, "synthesis"))
    dominant = max(sorted(weights), key=lambda name: weights[name], default=None)
    if dominant is not None and weights[dominant] > DOMINANT_WEIGHT:
        goals.append(ImprovementGoal(f"Diversify: {dominant} dominates; strengthen the other systems with targeted experience",
                                     f"{dominant} carries {weights[dominant]:.0%} of synthesis' trust", 2, "synthesis"))
    return sorted(goals, key=lambda g: -g.priority)[:MAX_IMPROVEMENT_GOALS]


def sync_rate(peer_fitness: float, self_fitness: float) -> float:
    """How strongly to merge a peer's cognitive state: clamp(0.2 × clamp(peer/self fitness, 0.1, 2), 0.02, 0.4)."""
    if not (math.isfinite(peer_fitness) and math.isfinite(self_fitness)):
        raise ValueError("autonomy: fitness must be a finite number")
    if self_fitness > 0:
        ratio = peer_fitness / self_fitness
    else:
        ratio = SYNC_RATIO_RANGE[1] if peer_fitness > 0 else 1.0  # a fit peer outranks a node with no fitness yet
    ratio = min(max(ratio, SYNC_RATIO_RANGE[0]), SYNC_RATIO_RANGE[1])
    return min(max(SYNC_BASE_RATE * ratio, SYNC_RATE_RANGE[0]), SYNC_RATE_RANGE[1])


@dataclass(frozen=True)
class AutonomyState:
    """How often autonomy planned without the LLM, and why it last could not."""

    attempts: int = 0
    compiled: int = 0
    by_source: Mapping[str, int] = field(default_factory=dict)
    last_fallback: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "compiled": self.compiled, "by_source": dict(self.by_source),
                "last_fallback": self.last_fallback}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AutonomyState:
        return cls(int(data["attempts"]), int(data["compiled"]),
                   {str(k): int(v) for k, v in data["by_source"].items()}, str(data["last_fallback"]))


def record_attempt(state: AutonomyState, result: Compiled | Fallback) -> AutonomyState:
    """Count one compilation attempt."""
    if isinstance(result, Fallback):
        return replace(state, attempts=state.attempts + 1, last_fallback=result.reason)
    by_source = {**state.by_source, result.source: state.by_source.get(result.source, 0) + 1}
    return replace(state, attempts=state.attempts + 1, compiled=state.compiled + 1, by_source=by_source)
