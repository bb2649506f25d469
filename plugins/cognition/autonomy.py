"""autonomy: plans for the soul's goals without an LLM, from genesis templates, the plan model or the goal's words, and a diagnosis of the node's own cognition (digest §4.5 (6))."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from colony.core import Manifest, Option, Outcome, PluginContext, Registrar, Tick, ToolError, validate_arguments

from . import system as cog
from .rules import autonomy as rules
from .rules.autonomy import AutonomyState, Compiled, Simulation, Template
from .rules.genesis import extract_keywords, is_substantive
from .rules.numbers import count, is_number, number

PLUGIN = Manifest(
    name="autonomy",
    version="1.0.0",
    requires=("models",),
    description="Plans for goals without an LLM (genesis templates, the plan model, rules from the goal's words) and diagnoses the node's cognition.",
    config={
        "plan_model": Option(True, "Ask the models plugin's plan model (or a `colony_cognitive` override of plan.predict) for a plan shape."),
        "learn_plans": Option(True, "Teach the plan model the step sequences of plans that completed."),
        "refresh": Option(30.0, "Seconds between two looks for a new plan-model suggestion and between two teaching rounds."),
        "beam": Option(4, "Beam width of the plan model's search."),
        "max_steps": Option(8, "Most steps the plan model may suggest."),
        "rule_confidence": Option(0.2, "Confidence of a plan built from the goal's words alone (compiled plans carry the cortex's predicted success)."),
    },
)

NOTES = "notes/autonomy.md"  # where an LLM-free plan writes: a journal it appends to, never a file of the goal's
RECENT_FILES = 10
MAX_TEACH = 100  # completed plans waiting for the plan model
KNOWN_CONFIDENCE = 1.0  # the cortex's confidence in a step whose action it has a prediction for
SOUL_AGENDA = "autonomy"  # goals the soul set itself from its agenda come with their own template plans
_COMMAND = re.compile(r"`([^`]{1,500})`")
_URL = re.compile(r"https?://[^\s`'\"]+")

_state: dict[str, Any] = {}

Tools = Mapping[str, Mapping[str, Any]]  # tool name -> its JSON-schema parameters


@dataclass
class AutonomyRecord:
    """What autonomy stores: its attempt counters, the files read lately, and the plans proposed."""

    attempts: AutonomyState = field(default_factory=AutonomyState)
    proposed: int = 0
    recent_files: list[str] = field(default_factory=list)  # newest first
    taught: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the store."""
        return {"attempts": self.attempts.to_dict(), "proposed": self.proposed, "recent_files": list(self.recent_files),
                "taught": self.taught}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AutonomyRecord:
        """Inverse of `to_dict`; malformed data raises ValueError."""
        try:
            return cls(AutonomyState.from_dict(data["attempts"]), int(data["proposed"]),
                       [str(f) for f in data["recent_files"]][:RECENT_FILES], int(data["taught"]))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed autonomy state: {exc!r}") from exc


def step_params(kind: str, goal: str, target: str | None, keywords: Sequence[str]) -> dict[str, Any] | None:
    """Parameters for colony's tool `kind` toward `goal`, or None when autonomy cannot fill them without an LLM."""
    command, url = _COMMAND.search(goal), _URL.search(goal)
    term = max(keywords, key=len) if keywords else None
    params: dict[str, dict[str, Any] | None] = {
        "list_dir": {"path": "."},
        "search_code": {"pattern": term} if term else None,
        "read_file": {"path": target} if target else None,
        "write_file": {"path": NOTES, "content": f"- {goal}\n", "append": True},
        "run_shell": {"command": command.group(1)} if command else None,
        "think": {"thought": f"How should I approach: {goal}"},
        "call_paid_endpoint": {"url": url.group(0), "method": "GET"} if url else None,
    }
    return params.get(kind, {})


def tool_steps(kinds: Sequence[str], goal: str, target: str | None, keywords: Sequence[str], tools: Tools) -> list[dict[str, Any]]:
    """Concrete steps (`{"type": tool, **params}`, as the rules module's enrichers give them) for the kinds autonomy can fill and the node has."""
    steps = []
    for kind in kinds:
        params = step_params(kind, goal, target, keywords) if kind in tools else None
        if params is None:
            continue
        try:
            steps.append({"type": kind, **validate_arguments(tools[kind], params)})
        except ToolError:
            continue  # a tool of that name whose schema wants something else
    return steps


def simulator(predictions: Mapping[str, Any]) -> Any:
    """The cortex's view of a plan from its recalled per-action predictions (reward in [-1, 1]).

    Success is the product of each step's (prediction + 1) / 2 (0.5 for an action it never saw); confidence is
    the share of steps it has a prediction for.
    """

    def simulate(kinds: Sequence[str]) -> Simulation:
        """The simulation of a plan of these step kinds."""
        if not kinds:
            return Simulation(0.0, 0.0)
        success, known = 1.0, 0
        for kind in kinds:
            if is_number(predictions.get(kind)):
                success *= min(max((float(predictions[kind]) + 1.0) / 2.0, 0.0), 1.0)
                known += 1
            else:
                success *= 0.5
        return Simulation(success, KNOWN_CONFIDENCE * known / len(kinds))

    return simulate


def trails(found: Any) -> dict[str, tuple[float, float]]:
    """Hivemind trails as (valence, intensity): given as that pair, or as one number valence × intensity (then intensity 1)."""
    pairs: dict[str, tuple[float, float]] = {}
    for resource, value in (found.items() if isinstance(found, dict) else ()):
        if isinstance(value, list | tuple) and len(value) == 2 and all(is_number(v) for v in value):
            pairs[str(resource)] = (float(value[0]), float(value[1]))
        elif is_number(value):
            pairs[str(resource)] = (float(value), 1.0)
    return pairs


def templates(found: Any, tools: Tools) -> list[Template]:
    """Genesis' recalled templates, their steps cut down to the tools this node has."""
    out = []
    for item in found if isinstance(found, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("steps"), list) or not is_number(item.get("match")):
            continue
        steps = tuple(s for s in item["steps"] if isinstance(s, str) and s in tools)
        if steps:
            out.append(Template(steps, float(item["match"]), count(item.get("uses")), count(item.get("successes")),
                                is_substantive(list(steps))))
    return out


class Autonomy:
    """Plans without an LLM, the plan model's latest suggestion, and the diagnosis of the last tick."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.system = cog.System.load(ctx, AutonomyRecord.from_dict, AutonomyRecord)
        self.model_steps: list[str] = []  # the plan model's suggestion
        self.model_at = -1  # the plan model's training steps when it made it
        self.teach: list[dict[str, Any]] = []  # completed plans for the plan model
        self.goals: list[dict[str, Any]] = []  # the diagnosis
        self.changed = False  # since the last save
        self._tools: tuple[int, dict[str, Any]] = (-1, {})
        self.observed = self.observe()

    @property
    def record(self) -> AutonomyRecord:
        """The stored record."""
        return self.system.state

    def tools(self) -> dict[str, Any]:
        """The registered tools' parameter schemas (re-read only when registrations change)."""
        generation = self.ctx.registry_generation
        if self._tools[0] != generation:
            self._tools = (generation, {reg.key: reg.meta["parameters"] for reg in self.ctx.registrations("tool")})
        return self._tools[1]

    def observe(self) -> dict[str, Any]:
        """The contract's observation: plans proposed, the diagnosis (most urgent first), and why the last compile fell back."""
        attempts = self.record.attempts
        return {"plans": self.record.proposed, "diagnosis": self.goals[0]["description"] if self.goals else "",
                "goals": self.goals, "compiled": attempts.compiled, "fallback": attempts.last_fallback}

    def propose(self, tick: Tick, goal: Any) -> dict[str, Any] | None:
        """A plan for `goal`: compiled from a template or the plan model when the cortex and hivemind agree, else from its words."""
        text = goal.get("text") if isinstance(goal, dict) else None
        if not isinstance(text, str) or not text.strip():
            return None
        tools, keywords = self.tools(), extract_keywords(text)
        cortex, hivemind = tick.memories.get("cortex"), tick.memories.get("hivemind")
        predictions = cortex.get("predictions") if isinstance(cortex, dict) else None
        hive = hivemind if isinstance(hivemind, dict) else {}
        genesis, files = tick.memories.get("genesis"), trails(hive.get("files"))
        result = rules.compile_plan(
            text,
            templates(genesis.get("templates") if isinstance(genesis, dict) else None, tools),
            simulator(predictions if isinstance(predictions, dict) else {}),
            keywords=keywords,
            model_steps=[s for s in self.model_steps if s in tools],
            action_trails=trails(hive.get("trails")),
            file_trails=files,
            recent_files=self.record.recent_files,
            mode=str(cog.observation(tick, "synthesis").get("mode", "")),
            enricher=lambda kinds, g, target, words: tool_steps(kinds, g, target, words, tools),
        )
        self.record.attempts = rules.record_attempt(self.record.attempts, result)
        self.changed = True
        if isinstance(result, Compiled):
            return self.proposal(result.steps, result.simulation.success, f"{result.source} plan; the cortex predicts "
                                 f"{result.simulation.success:.0%} success at {result.simulation.confidence:.0%} confidence")
        if goal.get("source") == SOUL_AGENDA:
            return None  # the soul's own agenda goal: its template plan is better than words
        target = rules.target_file(text, files, self.record.recent_files)
        steps = tool_steps(rules.rule_kinds(text), text, target, keywords, tools)
        return self.proposal(steps, float(self.config["rule_confidence"]), f"from the goal's words ({result.reason})") if steps else None

    def proposal(self, steps: Sequence[dict[str, Any]], confidence: float, why: str) -> dict[str, Any]:
        """The contract's proposal shape."""
        self.record.proposed += 1
        plan = [{"action": step["type"], "params": {k: v for k, v in step.items() if k != "type"}} for step in steps]
        return {"steps": plan, "confidence": round(min(max(confidence, 0.0), 1.0), 4), "why": why}

    def reflect(self, tick: Tick) -> bool:
        """Remember the files read, queue completed plans for the plan model, and diagnose; True when there is something to save."""
        record = self.record
        for step in cog.learning_steps(tick):
            path = step.params.get("path")
            if step.status == "ok" and step.action == "read_file" and isinstance(path, str):
                record.recent_files = list(dict.fromkeys([path, *record.recent_files]))[:RECENT_FILES]
                self.changed = True
        finished = cog.observation(tick, "feedback").get("finished")
        for plan in finished if self.config["learn_plans"] and isinstance(finished, list) else []:
            actions = plan.get("actions") if isinstance(plan, dict) else None
            if isinstance(actions, list) and plan.get("status") == "completed" and is_substantive([str(a) for a in actions]):
                self.teach = [*self.teach, {"steps": [str(a) for a in actions]}][-MAX_TEACH:]
        self.goals = [goal.to_dict() for goal in diagnosis(tick)]
        self.observed = self.observe()
        changed, self.changed = self.changed or self.system.dirty, False
        return changed

    async def refresh(self) -> None:
        """Teach the plan model the completed plans, and fetch a new suggestion when it (or an override) has one."""
        models = self.ctx.service("models")
        if self.teach:
            examples, self.teach = self.teach, []
            await models.add_examples("plan", examples)
            self.record.taught += len(examples)
            self.system.dirty = True  # saved with the next tick, or at stop
        request = {"prefix": [], "beam": int(self.config["beam"]), "max_len": int(self.config["max_steps"])}
        trained = models.describe("plan")["steps"] if "plan" in models.slots else 0
        if trained and trained != self.model_at:
            output, _ = await models.answer("plan", request)
            self.model_at = trained
        else:
            found = await self.ctx.hooks.first("colony_cognitive", name="plan.predict", request=request)
            output = found[1] if found is not None and isinstance(found[1], dict) else None
        if output is not None:
            self.model_steps = suggestion(output, models)

    async def run(self) -> None:
        """Refresh every `refresh` seconds; a failure is logged and the next round tries again."""
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the models plugin refuses or fails: autonomy plans on without it
                self.ctx.log.warning("plan model unavailable: %s: %.200s", type(exc).__name__, exc)
            await trio.sleep(max(0.01, float(self.config["refresh"])))


def suggestion(output: Mapping[str, Any], models: Any) -> list[str]:
    """Step names from a plan prediction: its `steps`, or its `tokens` named through the plan vocabulary."""
    steps = output.get("steps")
    if isinstance(steps, list):
        return [s for s in steps if isinstance(s, str)]
    tokens = output.get("tokens")
    if isinstance(tokens, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        return list(models.step_names(tokens))
    return []


def diagnosis(tick: Tick) -> list[rules.ImprovementGoal]:
    """The rules module's diagnosis from this tick's observations of the cortex, genesis, hivemind and synthesis."""
    cortex, genesis, hivemind, synthesis = (cog.observation(tick, n) for n in ("cortex", "genesis", "hivemind", "synthesis"))
    templates_n = count(genesis.get("templates"))
    return rules.diagnose(
        experiences=count(cortex.get("experiences")),
        cortex_accuracy=number(cortex.get("accuracy"), 0.5),
        template_fitnesses=[number(genesis.get("mean_fitness"))] * templates_n,
        trails=count(hivemind.get("trails")),
        deposits=count(hivemind.get("deposits")),
        mode=str(synthesis.get("mode", "")),
        weights=cog.numbers(synthesis.get("weights")),
    )


def _running() -> Autonomy | None:
    """The running instance, if the plugin runs."""
    return _state.get("autonomy")


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("autonomy.status", autonomy_status)
    registrar.panel("autonomy", autonomy_panel, title="Autonomy")


async def colony_start(ctx: PluginContext) -> None:
    autonomy = Autonomy(ctx)
    _state["autonomy"] = autonomy
    _state["system"] = autonomy.system
    if ctx.config["plan_model"]:
        ctx.start_task(autonomy.run, name="autonomy.plan_model")


async def colony_stop(ctx: PluginContext) -> None:
    await cog.stop(_state)


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    autonomy = _running()
    return autonomy.observed if autonomy else None


def colony_propose(tick: Tick, goal: dict[str, Any]) -> dict[str, Any] | None:
    autonomy = _running()
    return autonomy.propose(tick, goal) if autonomy else None


async def colony_reflect(tick: Tick, outcome: Outcome) -> None:
    autonomy = _running()
    if autonomy is None:
        return
    if autonomy.reflect(tick):
        await autonomy.system.save()


def colony_metrics() -> dict[str, float]:
    autonomy = _running()
    if autonomy is None:
        return {}
    attempts = autonomy.record.attempts
    return {"plans": autonomy.record.proposed, "attempts": attempts.attempts, "compiled": attempts.compiled,
            "taught": autonomy.record.taught, "diagnosed": len(autonomy.goals)}


def autonomy_panel() -> dict[str, Any]:
    """Plans proposed and compiled, where compiled plans came from, and the diagnosis."""
    autonomy = _running()
    if autonomy is None:
        return cog.NOT_RUNNING
    attempts = autonomy.record.attempts
    gauges = {"plans": autonomy.record.proposed, "attempts": attempts.attempts, "compiled": attempts.compiled,
              **{f"from {source}": n for source, n in attempts.by_source.items()}}
    rows = [[g["priority"], g["system"], g["description"]] for g in autonomy.goals]
    text = f"last fallback: {attempts.last_fallback or 'none'}; plan model suggests: {', '.join(autonomy.model_steps) or 'nothing yet'}"
    return cog.panel(gauges, table=(["priority", "system", "improvement"], rows), text=text)


def autonomy_status() -> dict[str, Any]:
    """Counters, the plan model's suggestion and the diagnosis with its reasons."""
    autonomy = _running()
    if autonomy is None:
        return {}
    return {**autonomy.record.attempts.to_dict(), "plans": autonomy.record.proposed, "taught": autonomy.record.taught,
            "model_steps": autonomy.model_steps, "recent_files": autonomy.record.recent_files, "diagnosis": autonomy.goals}
