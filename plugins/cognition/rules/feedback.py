"""Feedback (digest §4.5 item 8): plan outcomes, error classes, lessons, capability profile, failure chains and durable rules.

Everything here is pure: no I/O, no clock (`now` is Unix seconds). Rate-limit errors (HTTP 429,
RESOURCE_EXHAUSTED) are transient infrastructure trouble and never feed a learning system.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from colony.plugins.models.features import CAPABILITIES as STEP_CAPABILITIES
from colony.plugins.models.features import ERROR_CLASSES

UNKNOWN = "unknown"  # a failure no class fits (the brain gets no error target for it)
CAPABILITIES: tuple[str, ...] = (*STEP_CAPABILITIES, "plan_complete", "code_accepted")
MAX_ERROR_MESSAGE = 500
MAX_CHAIN_GOAL = 100
MAX_CHAIN_SNIPPET = 200
FAILURE_CHAIN_CAP = 30
RULE_THRESHOLD = 3  # unresolved failures of one kind before a durable rule blocks it
RULE_CAP = 50
RULE_TTL_CYCLES = 200
RELEVANT_LESSONS = 5
RECENT_FAILURES = 5
RULE_KINDS = ("step_type_blocked", "file_blocked", "goal_pattern_blocked")
# The capability each of colony's tool actions exercises (actions not named exercise none).
ACTION_CAPABILITIES = {
    "read_file": "file_read",
    "list_dir": "file_read",
    "write_file": "file_write",
    "search_code": "code_search",
    "run_shell": "shell_exec",
    "call_paid_endpoint": "peer_call",
    "discover_peers": "peer_call",
    "create_cartridge": "code_gen",
    "deploy_cartridge": "endpoint_create",
}

_RATE_LIMIT = ("429", "rate limit", "resource_exhausted", "too many requests", "exceeded your current quota")
_RUST_ERROR_CODE = re.compile(r"\be0\d{3}\b")
_QUOTED_PATH = re.compile(r"'([^']*)'")


def _has(*keywords: str) -> Callable[[str], bool]:
    """A test for any of these keywords in a lower-cased message."""
    return lambda text: any(k in text for k in keywords)


# (class, test) in the order they are tried: the seed's order, but rate limits first so that a 429
# whose text also says "json" or "peer" is still recognised as one.
_RULES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("rate_limit", _has(*_RATE_LIMIT)),
    ("unsolvable", lambda t: "abandoned" in t or ("goal failed" in t and "times" in t)),
    ("compile", lambda t: _has("cargo check", "compil", "cannot find", "unresolved import", "syntaxerror")(t)
     or ("expected" in t and "found" in t) or bool(_RUST_ERROR_CODE.search(t))),
    ("test", lambda t: "test" in t and _has("fail", "panic", "assert")(t)),
    ("file_not_found", _has("no such file", "not found", "does not exist", "filenotfound")),
    ("protected_file", _has("protected", "guard", "cannot modify")),
    ("unsolvable", _has("peers found: 0", "unable to auto-detect", "unsolvable")),
    ("network", _has("peer", "network", "connection", "timeout", "timed out", "reqwest", "httpx")),
    ("endpoint", _has("endpoint", "duplicate", "max cap", "similar slug")),
    ("git", _has("git", "branch", "commit", "push")),
    ("llm_parse", _has("parse", "json", "invalid", "unexpected token")),
    ("shell", _has("command", "exit code", "shell", "permission denied")),
)
_GENERIC_FAILURE = ("replan", "failed", "error", "could not")


class _Record:
    """JSON round trip for the flat dataclasses below."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild from `to_dict` output; ValueError on malformed data."""
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"bad {cls.__name__}: {exc}") from exc


@dataclass
class PlanOutcome(_Record):
    """How one finished plan went, and what it teaches."""

    plan_id: str
    goal_id: str
    goal_description: str
    status: str
    steps_succeeded: list[str]
    steps_failed: list[str]
    error_category: str | None
    error_message: str | None
    lesson: str
    total_steps: int
    steps_completed: int
    replan_count: int
    created_at: float


@dataclass
class FailureChain(_Record):
    """One failed step: which step, file and error class, and whether a later fix resolved it."""

    goal_description: str
    step_type: str
    file_path: str | None
    error_category: str
    error_snippet: str
    created_at: float
    resolved: bool = False
    fix_attempts: list[str] = field(default_factory=list)


@dataclass
class DurableRule(_Record):
    """A mined rule that mechanically blocks a step, a file or a goal pattern."""

    name: str
    check_type: str
    pattern: str
    reason: str
    created_at: float
    created_cycle: int
    trigger_count: int = 0
    ttl_cycles: int = RULE_TTL_CYCLES  # 0 never expires

    def __post_init__(self) -> None:
        if self.check_type not in RULE_KINDS:
            raise ValueError(f"unknown rule kind {self.check_type!r}")


@dataclass
class Capability:
    """Attempts and successes of one capability."""

    attempts: int = 0
    successes: int = 0

    @property
    def success_rate(self) -> float:
        """successes / attempts, 0 before any attempt."""
        return self.successes / self.attempts if self.attempts else 0.0


@dataclass
class Experience:
    """What past outcomes say before planning a goal."""

    relevant_lessons: list[str]
    failure_lessons: list[str]
    error_counts: dict[str, int]
    completed: int
    failed: int
    total: int


def is_rate_limit(message: str) -> bool:
    """Whether an error says the LLM or an API rate-limited us."""
    text = message.lower()
    return any(k in text for k in _RATE_LIMIT)


def classify_error(message: str) -> str:
    """The error class (a name from ERROR_CLASSES) of a failure message, or "unknown"."""
    text = message.lower()
    for name, matches in _RULES:
        if matches(text):
            return name
    return "shell" if any(k in text for k in _GENERIC_FAILURE) else UNKNOWN


def error_index(error_class: str) -> int | None:
    """The brain's target index of an error class; None for "unknown"."""
    return ERROR_CLASSES.index(error_class) if error_class in ERROR_CLASSES else None


def extract_lesson(status: str, goal: str, steps: list[str], current_step: int, replan_count: int,
                   substantive: bool, error: str | None) -> str:
    """The templated lesson of a finished plan: SUCCESS, COMPLETED_TRIVIAL, FAILURE or INCOMPLETE."""
    if status == "completed":
        if substantive:
            return f"SUCCESS: '{goal[:80]}' completed in {len(steps)} steps ({' → '.join(steps)}). Approach worked."
        return (f"COMPLETED_TRIVIAL: '{goal[:80]}' completed but only did reads/thinks ({' → '.join(steps)}). "
                "Next time include concrete actions: edit code, create endpoints, commit changes.")
    if status == "failed":
        category = classify_error(error) if error else UNKNOWN
        failed_at = steps[current_step] if 0 <= current_step < len(steps) else "unknown step"
        return (f"FAILURE: '{goal[:60]}' failed at step {current_step} ({failed_at}) — {category} error: "
                f"{(error or 'unknown')[:100]}. Had {replan_count} replans. Avoid this approach.")
    return f"INCOMPLETE: '{goal[:80]}' — status: {status}"


def make_outcome(plan_id: str, goal_id: str, goal: str, status: str, steps: list[str], current_step: int,
                 replan_count: int, substantive: bool, error: str | None, now: float) -> PlanOutcome:
    """The outcome record of a finished plan; a completed plan that only read and thought is `completed_trivial`."""
    done = min(max(current_step, 0), len(steps))
    failed = status == "failed" and done < len(steps)
    return PlanOutcome(
        plan_id=plan_id,
        goal_id=goal_id,
        goal_description=goal,
        status="completed_trivial" if status == "completed" and not substantive else status,
        steps_succeeded=steps[:done],
        steps_failed=[steps[done]] if failed else [],
        error_category=classify_error(error) if error else None,
        error_message=error[:MAX_ERROR_MESSAGE] if error else None,
        lesson=extract_lesson(status, goal, steps, current_step, replan_count, substantive, error),
        total_steps=len(steps),
        steps_completed=done,
        replan_count=replan_count,
        created_at=now,
    )


def consult_experience(outcomes: list[PlanOutcome], goal: str) -> Experience:
    """The 5 lessons whose goals share most words with `goal`, the 5 latest failures, error counts and track record.

    `outcomes` is newest first (the seed consulted the last 20).
    """
    words = set(goal.lower().split())

    def similarity(o: PlanOutcome) -> float:
        theirs = set(o.goal_description.lower().split())
        union = words | theirs
        return len(words & theirs) / len(union) if union else 0.0

    relevant = sorted(outcomes, key=similarity, reverse=True)[:RELEVANT_LESSONS]
    failures = [o for o in outcomes if o.status == "failed"]
    counts: dict[str, int] = {}
    for o in outcomes:
        if o.error_category:
            counts[o.error_category] = counts.get(o.error_category, 0) + 1
    return Experience(
        relevant_lessons=[o.lesson for o in relevant],
        failure_lessons=[o.lesson for o in failures[:RECENT_FAILURES]],
        error_counts=dict(sorted(counts.items(), key=lambda item: item[1], reverse=True)),
        completed=sum(o.status == "completed" for o in outcomes),
        failed=len(failures),
        total=len(outcomes),
    )


def record_capability(profile: dict[str, Capability], capability: str, succeeded: bool, error: str | None = None) -> None:
    """Count one attempt of a capability; rate-limited attempts are not counted."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")
    if error and is_rate_limit(error):
        return
    stats = profile.setdefault(capability, Capability())
    stats.attempts += 1
    stats.successes += succeeded


def record_failure_chain(chains: list[FailureChain], goal: str, step_type: str, file_path: str | None,
                         error: str, now: float) -> list[FailureChain]:
    """The chains with this failed step appended (the last 30 kept); unchanged for a rate limit."""
    if is_rate_limit(error):
        return chains
    chain = FailureChain(goal[:MAX_CHAIN_GOAL], step_type, file_path, classify_error(error), error[:MAX_CHAIN_SNIPPET], now)
    return [*chains, chain][-FAILURE_CHAIN_CAP:]


def resolve_chains(chains: list[FailureChain], step_type: str, file_path: str | None) -> int:
    """Mark the open chains of a step type (on the same file, when the chain names one) resolved after it succeeded; returns how many."""
    resolved = 0
    for chain in chains:
        if not chain.resolved and chain.step_type == step_type and chain.file_path in (None, file_path):
            chain.resolved = True
            resolved += 1
    return resolved


def extract_durable_rules(outcome: PlanOutcome, chains: list[FailureChain], now: float, cycle: int) -> list[DurableRule]:
    """Rules mined from a failed plan: a protected file it hit, and step:error or file:error pairs unresolved 3+ times."""
    error = (outcome.error_message or "").lower()
    if outcome.status != "failed" or is_rate_limit(error):
        return []
    rules = []
    if "protected" in error:
        path = next((p for p in _QUOTED_PATH.findall(error) if "/" in p or "." in p), None)
        if path:
            rules.append(DurableRule(f"block-{path.replace('/', '-')}", "file_blocked", path,
                                     f"File is protected. Previous attempt failed: {outcome.lesson[:100]}", now, cycle))
    open_chains = [c for c in chains if not c.resolved]
    steps = _count(f"{(c.step_type.split() or [c.step_type])[0].lower()}:{c.error_category}" for c in open_chains)
    for key, n in steps.items():
        if n >= RULE_THRESHOLD:
            rules.append(DurableRule(f"block-step-{key.replace('/', '-').replace(':', '-')}", "step_type_blocked", key,
                                     f"Step+error '{key}' has failed {n} times without resolution. Avoid this approach.", now, cycle))
    files = _count(f"{c.file_path}:{c.error_category}" for c in open_chains if c.file_path)
    for key, n in files.items():
        if n >= RULE_THRESHOLD:
            rules.append(DurableRule(f"block-file-error-{key.replace('/', '-').replace(':', '-')}", "file_blocked",
                                     key.rsplit(":", 1)[0], f"File+error combo '{key}' has failed {n} times. Stop retrying.", now, cycle))
    return rules


def _count(keys: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


def merge_durable_rules(existing: list[DurableRule], new: list[DurableRule]) -> list[DurableRule]:
    """Add new rules by name (a known name counts a trigger instead), keeping the 50 newest."""
    rules = {r.name: r for r in existing}
    for rule in new:
        if rule.name in rules:
            rules[rule.name].trigger_count += 1
        else:
            rules[rule.name] = rule
    return sorted(rules.values(), key=lambda r: r.created_at, reverse=True)[:RULE_CAP]


def expire_rules(rules: list[DurableRule], cycle: int) -> list[DurableRule]:
    """Drop rules older than their TTL in cycles (TTL 0 never expires)."""
    return [r for r in rules if r.ttl_cycles == 0 or cycle - r.created_cycle < r.ttl_cycles]


def blocking_rules(rules: list[DurableRule], goal: str, steps: list[tuple[str, str | None]]) -> list[DurableRule]:
    """Rules a plan breaks: a blocked step type, a blocked file (path or its tail), or a blocked goal pattern.

    `steps` is (step type, target file or None) per step.
    """
    goal = goal.lower()
    hits = []
    for rule in rules:
        if rule.check_type == "step_type_blocked":
            hit = any(step.lower() == rule.pattern.split(":", 1)[0] for step, _ in steps)
        elif rule.check_type == "file_blocked":
            hit = any(path and (path == rule.pattern or path.endswith("/" + rule.pattern)) for _, path in steps)
        else:
            hit = rule.pattern in goal
        if hit:
            hits.append(rule)
    return hits
