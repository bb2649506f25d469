"""evaluation: scores every voter's predictions against what happened (Brier, Murphy) and measures what peer syncs bring (digest §4.5 (7))."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgpack

from colony.core import Manifest, Option, Outcome, PluginContext, Registrar, Tick

from . import system as cog
from .rules import evaluation as rules
from .rules.evaluation import EvaluationState
from .rules.numbers import is_number

PLUGIN = Manifest(
    name="evaluation",
    version="1.0.0",
    description="Records every voter's prediction for each step against its outcome: Brier scores, Murphy decomposition, sync benefit.",
    config={
        "sync_min_new": Option(5, "Predictions recorded after a peer merge before the merge's benefit is measured."),
    },
)

STEP_SPACING = 0.001  # seconds between the timestamps of two steps of one tick, so each step's records group alone

_state: dict[str, Any] = {}


def packed(record: rules.PredictionRecord) -> bytes:
    """One record as a packed row."""
    return bytes(msgpack.packb(rules.record_row(record)))


def load(data: Any) -> EvaluationState:
    """The stored form back: the state without its records, and the records as packed rows."""
    if not isinstance(data, dict) or not isinstance(data.get("rows"), bytes):
        raise ValueError("stored evaluation state has no packed rows")
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data["rows"])
    records = tuple(rules.record_from_row(row) for row in unpacker)[-rules.MAX_RECORDS:]
    return replace(EvaluationState.from_dict({**data, "records": []}), records=records)


class Evaluation:
    """The prediction records and the observation derived from them."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        # Each record packed once, in step with the state's records: a tick's save then packs only what is new.
        self.rows: list[bytes] = []
        self.rows_total = -1  # the state's total_recorded that `rows` matches
        self.system = cog.System.load(ctx, load, EvaluationState, dump=self.dump)
        self.recent = rules.RecentBrier(self.system.state)
        self.sync_min_new = max(1, int(ctx.config["sync_min_new"]))
        self.weights: dict[str, float] = {}  # synthesis' weights as last seen, for the adaptation gain
        self.observed = self.observe()

    @property
    def state(self) -> EvaluationState:
        """The live evaluation state."""
        return self.system.state

    def dump(self, state: EvaluationState) -> dict[str, Any]:
        """The stored form: the state without its records, and the records as packed rows."""
        if self.rows_total != state.total_recorded or len(self.rows) != len(state.records):
            self.rows = [packed(r) for r in state.records]
            self.rows_total = state.total_recorded
        return {**replace(state, records=()).to_dict(), "rows": b"".join(self.rows)}

    def observe(self) -> dict[str, Any]:
        """The contract's observation: recent Brier per system, the running sync benefit, records so far."""
        state = self.state
        return cog.rounded({
            "brier": self.recent.scores(),
            "sync_benefit": state.sync.avg_sync_benefit,
            "records": state.total_recorded,
            "syncs": state.sync.syncs_measured,
        })

    def learn(self, tick: Tick) -> bool:
        """Record each voter's prediction for every step that ran; measure a pending sync; True when anything changed."""
        predictions = []
        for index, step in enumerate(tick.steps):
            if step.status not in cog.LEARNING:
                continue
            actual = step.status == "ok"
            at = tick.started + index * STEP_SPACING
            for plugin, vote in cog.votes(step.appraisals).items():
                predictions.append((plugin, vote.probability, vote.confidence, actual, at, step.action))
        state = rules.record_predictions(self.state, predictions)
        new = state.records[len(state.records) - len(predictions):]
        self.recent.add(new)
        if new and self.rows_total == self.state.total_recorded:  # the rows are in step: pack only the new records
            self.rows = [*self.rows, *map(packed, new)][-rules.MAX_RECORDS:]
            self.rows_total = state.total_recorded
        if state.sync.pending and rules.records_since_snapshot(state) >= self.sync_min_new:
            state = rules.post_sync_measurement(state)
            self.ctx.publish("evaluation.sync_measured", cog.rounded({
                "delta": state.sync.sync_delta, "avg_sync_benefit": state.sync.avg_sync_benefit,
            }))
        changed = state is not self.state
        self.system.state = state
        weights = cog.observation(tick, "synthesis").get("weights")
        if isinstance(weights, dict):
            self.weights = cog.numbers(weights)
        return changed

    def report(self) -> dict[str, Any]:
        """Per system: Brier (all and recent), accuracy, Murphy decomposition and calibration; sync benefit; adaptation gain."""
        state = self.state
        systems = {}
        for name in rules.brier_scores(state):
            decomposition = rules.murphy(state, name)
            systems[name] = {
                "brier": rules.brier_score(state, name),
                "brier_recent": rules.brier_score(state, name, recent=True),
                "accuracy": rules.accuracy(state, name),
                "murphy": {"reliability": decomposition.reliability, "resolution": decomposition.resolution,
                           "uncertainty": decomposition.uncertainty, "n": decomposition.n},
                "calibration": [[b.predicted_mean, b.actual_rate, b.count] for b in rules.calibration_curve(state, name) if b.count],
            }
        sync = state.sync
        weights = {s: self.weights.get(s, 0.0) for s in rules.VOTING_SYSTEMS}
        gain = rules.adaptation_gain(state, weights) if sum(weights.values()) > 0 else None
        return cog.rounded({
            "records": state.total_recorded,
            "systems": systems,
            "sync": {"accuracy_before": sync.accuracy_before, "accuracy_after": sync.accuracy_after,
                     "delta": sync.sync_delta, "measured": sync.syncs_measured,
                     "avg_sync_benefit": sync.avg_sync_benefit, "pending": sync.pending},
            "adaptation": None if gain is None else {"adapted_brier": gain.adapted_brier, "uniform_brier": gain.uniform_brier,
                                                     "gain": gain.gain, "significant": gain.significant},
        })


def _running() -> Evaluation | None:
    """The running instance, if the plugin runs."""
    return _state.get("evaluation")


def colony_register(registrar: Registrar) -> None:
    registrar.rpc("evaluation.report", evaluation_report)
    registrar.panel("evaluation", evaluation_panel, title="Evaluation")


async def colony_start(ctx: PluginContext) -> None:
    evaluation = Evaluation(ctx)
    _state["evaluation"] = evaluation
    _state["system"] = evaluation.system


async def colony_stop(ctx: PluginContext) -> None:
    await cog.stop(_state)


def colony_observe(tick: Tick) -> dict[str, Any] | None:
    evaluation = _running()
    return evaluation.observed if evaluation else None


async def colony_reflect(tick: Tick, outcome: Outcome) -> None:
    evaluation = _running()
    if evaluation is None:
        return
    if evaluation.learn(tick):
        evaluation.observed = evaluation.observe()
    elif not evaluation.system.dirty:  # nothing learned, nothing merged: nothing to write
        return
    await evaluation.system.save()


def colony_export_state(peer: str) -> dict[str, Any] | None:
    """Our scores, for the peer's information; evaluation's records stay local (digest §4.7)."""
    evaluation = _running()
    if evaluation is None:
        return None
    return {"brier": evaluation.observed["brier"], "sync_benefit": evaluation.observed["sync_benefit"],
            "records": evaluation.observed["records"]}


def colony_merge_state(peer: str, state: Any, rate: float) -> None:
    """A peer sync is under way: snapshot our accuracy now, and measure it again once new predictions come in."""
    evaluation = _running()
    if evaluation is None:
        return
    now = evaluation.ctx.budgets.clock()  # the node's clock
    if evaluation.system.merge(peer, state, rate, lambda ours, data, _: _snapshot(ours, data, now)):
        evaluation.observed = evaluation.observe()


def _snapshot(ours: EvaluationState, data: Any, now: float) -> EvaluationState:
    """The pre-sync snapshot, once the peer's export proves well-formed (a pending one is kept: its sync is not measured yet)."""
    _check_export(data)
    return ours if ours.sync.pending else rules.pre_sync_snapshot(ours, now)


def _check_export(data: Any) -> None:
    """Raise ValueError unless `data` has the shape `colony_export_state` gives."""
    if not isinstance(data, dict) or not isinstance(data.get("brier"), dict):
        raise ValueError("an evaluation export is an object with a 'brier' object")
    for name, score in data["brier"].items():
        if not isinstance(name, str) or not is_number(score) or not 0.0 <= score <= 1.0:
            raise ValueError(f"brier of {name!r} is not a number in [0, 1]")
    if not is_number(data.get("sync_benefit")):
        raise ValueError("sync_benefit is not a finite number")
    if not isinstance(data.get("records"), int) or isinstance(data["records"], bool) or data["records"] < 0:
        raise ValueError("records is not a count")


def colony_metrics() -> dict[str, float]:
    evaluation = _running()
    if evaluation is None:
        return {}
    seen = evaluation.observed
    return {**{f"brier.{name}": score for name, score in seen["brier"].items()},
            "sync_benefit": seen["sync_benefit"], "records": seen["records"]}


def evaluation_panel() -> dict[str, Any]:
    """Brier score per system (lower is better), the sync benefit, and the Murphy decomposition."""
    evaluation = _running()
    if evaluation is None:
        return cog.NOT_RUNNING
    report = evaluation.report()
    rows = [[name, row["brier"], row["brier_recent"], row["accuracy"], row["murphy"]["reliability"],
             row["murphy"]["resolution"], row["murphy"]["n"]] for name, row in report["systems"].items()]
    gauges = {**{f"brier {name}": score for name, score in evaluation.observed["brier"].items()},
              "sync benefit": report["sync"]["avg_sync_benefit"], "records": report["records"]}
    return cog.panel(gauges, table=(["system", "brier", "recent", "accuracy", "reliability", "resolution", "n"], rows))


def evaluation_report() -> dict[str, Any]:
    """Every system's scores, the sync benefit and the adaptation gain of synthesis' weights."""
    evaluation = _running()
    return evaluation.report() if evaluation else {}
