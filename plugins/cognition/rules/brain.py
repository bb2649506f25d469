"""Brain (cognition side): step features, the warm-up-gated safety gate, the loss EMA, and the brain's synthesis vote (digest §4.5 (1), §4.6).

The network itself is the models plugin's `brain`; its prediction dict `{"success", "error",
"capabilities"}` comes in as a plain parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from colony.plugins.models.features import BRAIN_FEATURES, ERROR_CLASSES, PROBLEM_CATEGORY_SLOTS, STEP_TYPE_SLOTS

from .synthesis import Vote

# The step kinds of features 0-13, in the seed's order; every other kind shares the last slot.
STEP_KINDS: tuple[str, ...] = (
    "read_file",
    "search_code",
    "list_dir",
    "run_shell",
    "commit",
    "check_self",
    "create_script_endpoint",
    "test_script_endpoint",
    "cargo_check",
    "generate_code",
    "edit_code",
    "think",
    "delete_endpoint",
    "other",
)
LLM_STEPS = frozenset({"generate_code", "edit_code", "think"})
LOSS_DECAY = 0.95  # running loss = 0.95·running + 0.05·loss
GATE_MIN_STEPS = 5000  # the gate sleeps until the brain has trained this much ...
GATE_MAX_LOSS = 12.0  # ... and its running loss is below this (an untrained brain once blocked `ls`)
RISKY_WORDS = ("commit", "push", "deploy")  # only steps whose kind names one of these are gated
ERROR_CONFIDENCE_CAP = 0.95
BLOCK_SUCCESS = 0.10  # block when success < 0.10 ...
BLOCK_ERROR_CONFIDENCE = 0.8  # ... and the error class is this sure
WARN_SUCCESS = 0.20
VOTE_SURE_ERROR = 0.5  # the vote is 0.8 confident when the error class is over 0.5 sure, else 0.4
VOTE_CONFIDENCE_SURE, VOTE_CONFIDENCE_UNSURE = 0.8, 0.4

assert len(STEP_KINDS) == STEP_TYPE_SLOTS



def _unit(x: float) -> float:
    return min(max(x, 0.0), 1.0)


_LOG = re.compile(r"ln\(1\+(?P<key>[\w.]+)\)/(?P<scale>\d+)")
_OFFSET = re.compile(r"\((?P<key>[\w.]+)-(?P<offset>\d+)\)/(?P<scale>\d+)")
_RATIO = re.compile(r"(?P<key>[\w.]+)/(?P<scale>\d+)")


def _scaler(name: str) -> tuple[str, Any] | None:
    """The raw context key a feature reads and how it scales it, from the feature's documented name."""
    if name.startswith(("step_type.", "problem_category.")) or "reserved" in name.split(".") or name == "step_is_llm":
        return None
    if m := _LOG.fullmatch(name):
        scale = int(m["scale"])
        return m["key"], lambda x: math.log1p(max(x, 0.0)) / scale
    if m := _OFFSET.fullmatch(name):
        offset, scale = int(m["offset"]), int(m["scale"])
        return m["key"], lambda x: _unit((x - offset) / scale)
    if m := _RATIO.fullmatch(name):
        scale = int(m["scale"])
        return m["key"], lambda x: _unit(x / scale)
    return name, _unit


_SCALERS = {i: s for i, name in enumerate(BRAIN_FEATURES) if (s := _scaler(name)) is not None}
CONTEXT_KEYS = frozenset(key for key, _ in _SCALERS.values()) | {"problem_category"}
_PROBLEM_CATEGORY_AT = BRAIN_FEATURES.index("problem_category.0")


def encode_step(step_type: str, context: Mapping[str, float] | None = None) -> list[float]:
    """The brain's 128 inputs for a step, scaled as `features.BRAIN_FEATURES` names them.

    `context` holds raw values under the names' keys (`replans` for "replans/3", `cycles` for
    "ln(1+cycles)/10", `elo` for "(elo-800)/800", `fitness` as is) plus `problem_category`, an index
    0..13 or absent. Missing keys are 0; an unknown key or a value that is not a finite number is an error.
    """
    context = context or {}
    for key, value in context.items():
        if key not in CONTEXT_KEYS:
            raise ValueError(f"brain: unknown feature key {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"brain: feature {key!r} must be a finite number, not {value!r}")
    features = [0.0] * len(BRAIN_FEATURES)
    kind = step_type if step_type in STEP_KINDS else "other"
    features[STEP_KINDS.index(kind)] = 1.0
    features[BRAIN_FEATURES.index("step_is_llm")] = float(step_type in LLM_STEPS)
    for i, (key, scale) in _SCALERS.items():
        if key in context:
            features[i] = scale(float(context[key]))
    category = context.get("problem_category")
    if category is not None:
        if category != int(category) or not 0 <= category < PROBLEM_CATEGORY_SLOTS:
            raise ValueError(f"brain: problem_category must be an index 0..{PROBLEM_CATEGORY_SLOTS - 1}")
        features[_PROBLEM_CATEGORY_AT + int(category)] = 1.0
    return features


@dataclass(frozen=True)
class BrainState:
    """How much the network has trained and its running loss (None before the first report)."""

    train_steps: int = 0
    running_loss: float | None = None

    @property
    def warmed_up(self) -> bool:
        """Whether the gate applies: 5 000 steps trained and running loss under 12."""
        return self.warm(GATE_MIN_STEPS, GATE_MAX_LOSS)

    def warm(self, min_steps: int, max_loss: float) -> bool:
        """Whether the brain has trained `min_steps` steps and its running loss is under `max_loss`."""
        return self.train_steps >= min_steps and self.running_loss is not None and self.running_loss < max_loss

    def to_dict(self) -> dict[str, Any]:
        return {"train_steps": self.train_steps, "running_loss": self.running_loss}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BrainState:
        loss = data.get("running_loss")
        return cls(int(data["train_steps"]), None if loss is None else float(loss))


def record_training(state: BrainState, loss: float, steps: int) -> BrainState:
    """Count `steps` more training steps and fold their loss into the EMA (the first loss starts it)."""
    if not math.isfinite(loss) or loss < 0 or steps < 0:
        raise ValueError(f"brain: bad training report (loss {loss!r}, steps {steps!r})")
    running = loss if state.running_loss is None else LOSS_DECAY * state.running_loss + (1 - LOSS_DECAY) * loss
    return replace(state, train_steps=state.train_steps + steps, running_loss=running)


def _checked(prediction: Mapping[str, Any]) -> tuple[float, list[float]]:
    """The success probability and error probabilities of a brain prediction, or a clear error."""
    success, errors = prediction.get("success"), prediction.get("error")
    if isinstance(success, bool) or not isinstance(success, int | float) or not 0.0 <= success <= 1.0:
        raise ValueError(f"brain: prediction success must be a probability, not {success!r}")
    if (
        not isinstance(errors, list | tuple) or len(errors) != len(ERROR_CLASSES)
        or not all(isinstance(p, int | float) and not isinstance(p, bool) and 0.0 <= p <= 1.0 for p in errors)
    ):
        raise ValueError(f"brain: prediction error must be {len(ERROR_CLASSES)} probabilities")
    return float(success), [float(p) for p in errors]


def error_confidence(prediction: Mapping[str, Any]) -> tuple[str, float]:
    """The most likely error class and its probability, capped at 0.95."""
    _, errors = _checked(prediction)
    best = max(range(len(errors)), key=errors.__getitem__)
    return ERROR_CLASSES[best], min(errors[best], ERROR_CONFIDENCE_CAP)


class Verdict(StrEnum):
    ALLOW = "allow"
    WARN = "warn"
    BLOCK = "block"  # skip the step and replan


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict on a step and why."""

    verdict: Verdict
    reason: str = ""


def is_risky(step_type: str) -> bool:
    """Whether a step kind commits, pushes or deploys."""
    return any(word in step_type for word in RISKY_WORDS)


def gate(
    state: BrainState,
    step_type: str,
    prediction: Mapping[str, Any],
    *,
    min_steps: int = GATE_MIN_STEPS,
    max_loss: float = GATE_MAX_LOSS,
) -> GateDecision:
    """After warm-up, block a risky step the brain is sure fails (p < 0.10, error confidence > 0.8); warn below p 0.20."""
    success, _ = _checked(prediction)
    if not state.warm(min_steps, max_loss) or not is_risky(step_type):
        return GateDecision(Verdict.ALLOW)
    error, sure = error_confidence(prediction)
    if success < BLOCK_SUCCESS and sure > BLOCK_ERROR_CONFIDENCE:
        return GateDecision(Verdict.BLOCK, f"brain predicts {step_type} fails ({success:.0%}) with a {error} error ({sure:.0%})")
    if success < WARN_SUCCESS:
        return GateDecision(Verdict.WARN, f"brain predicts {step_type} succeeds only {success:.0%}")
    return GateDecision(Verdict.ALLOW)


def brain_vote(prediction: Mapping[str, Any]) -> Vote:
    """The brain's synthesis vote: 2p − 1, confidence 0.8 when it is over 0.5 sure of the error class, else 0.4."""
    success, _ = _checked(prediction)
    error, sure = error_confidence(prediction)
    confidence = VOTE_CONFIDENCE_SURE if sure > VOTE_SURE_ERROR else VOTE_CONFIDENCE_UNSURE
    return Vote("brain", 2.0 * success - 1.0, confidence, f"likely error: {error}" if sure > VOTE_SURE_ERROR else "")


# -- the plugin's record of executed steps -------------------------------------------------------

# The tools of a colony node, mapped onto the seed's step kinds they stand for (the others are `other`).
TOOL_KINDS: dict[str, str] = {
    "write_file": "edit_code",
    "create_cartridge": "create_script_endpoint",
    "call_paid_endpoint": "test_script_endpoint",
    "deploy_cartridge": "commit",
}
MAX_ACTIONS = 256  # per-action outcome counters kept; the least used go first


def step_kind(action: str) -> str:
    """The seed step kind an action fills in the one-hot slots."""
    return TOOL_KINDS.get(action, action)


@dataclass(frozen=True)
class BrainRecord:
    """What the brain plugin keeps: the training state, (successes, runs) per action, the failure streak, its counters."""

    training: BrainState = BrainState()
    outcomes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    consecutive_failures: int = 0
    predictions: int = 0
    examples: int = 0

    @property
    def success_rate(self) -> float:
        """Share of all recorded steps that succeeded (0.5 before any)."""
        wins, runs = sum(w for w, _ in self.outcomes.values()), sum(r for _, r in self.outcomes.values())
        return wins / runs if runs else 0.5

    def action_rate(self, action: str) -> float:
        """Share of `action`'s recorded runs that succeeded (0.5 before any)."""
        wins, runs = self.outcomes.get(action, (0, 0))
        return wins / runs if runs else 0.5

    def to_dict(self) -> dict[str, Any]:
        return {"training": self.training.to_dict(), "outcomes": {a: list(o) for a, o in self.outcomes.items()},
                "consecutive_failures": self.consecutive_failures, "predictions": self.predictions, "examples": self.examples}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BrainRecord:
        outcomes = {}
        for action, (wins, runs) in data["outcomes"].items():
            if not 0 <= int(wins) <= int(runs):
                raise ValueError(f"brain: bad outcome counts for {action!r}")
            outcomes[str(action)] = (int(wins), int(runs))
        counters = [int(data[key]) for key in ("consecutive_failures", "predictions", "examples")]
        if min(counters) < 0:
            raise ValueError("brain: negative counters")
        return cls(BrainState.from_dict(data["training"]), outcomes, *counters)


def record_step(record: BrainRecord, action: str, succeeded: bool) -> BrainRecord:
    """Count one executed step of `action`: its outcome and the failure streak."""
    wins, runs = record.outcomes.get(action, (0, 0))
    outcomes = {**record.outcomes, action: (wins + succeeded, runs + 1)}
    if len(outcomes) > MAX_ACTIONS:
        del outcomes[min((a for a in outcomes if a != action), key=lambda a: outcomes[a][1])]
    streak = 0 if succeeded else record.consecutive_failures + 1
    return replace(record, outcomes=outcomes, consecutive_failures=streak)


def record_model(record: BrainRecord, steps: int, loss: float | None) -> BrainRecord:
    """Follow the network's training: new steps fold their loss into the EMA; fewer steps (new weights) restart it."""
    state = record.training
    if steps < state.train_steps:
        state = BrainState(steps, loss)
    elif steps > state.train_steps and loss is not None:
        state = record_training(state, loss, steps - state.train_steps)
    return replace(record, training=state)


def step_context(record: BrainRecord, action: str, **known: float) -> dict[str, float]:
    """`encode_step`'s context from the record (success rates, failure streak, training steps) and the `known` keys."""
    return {
        "success_rate": record.success_rate,
        "capability_success_rate": record.action_rate(action),
        "consecutive_failures": record.consecutive_failures,
        "train_steps": record.training.train_steps,
        **known,
    }
