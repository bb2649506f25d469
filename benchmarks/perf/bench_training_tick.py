"""Heartbeat tick latency, and brain prediction latency, while the models plugin trains the full-size brain, against the same node idle.

The issue's target: with training running, tick latency stays within 2x of idle. Idle and training
windows alternate on one node (`models` + `pulse`, 50 ms ticks), so both see the same machine. Then
`models.predict` is timed back to back, idle and while the brain trains.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import Table, parse_args, percentiles, progress, ratio, report
from colony.testing import RunningNode, SyncClient

INTERVAL = 0.05  # seconds between tick starts


def brain_examples(count: int) -> list[dict[str, Any]]:
    """Random brain examples."""
    rng = random.Random(0)
    return [{"features": [rng.random() for _ in range(128)], "success": rng.randrange(2), "error": None, "capabilities": None} for _ in range(count)]


def ticks_between(node: RunningNode, start: float, end: float) -> list[dict[str, Any]]:
    """The node's tick records that started inside [start, end]."""
    return [t for t in node.call("node.ticks", limit=5000) if start <= t["started"] <= end]


def train_in_background(node: RunningNode, seconds: float, out: dict[str, Any]) -> threading.Thread:
    """Run `models.train` for the brain on its own connection, for about `seconds`."""

    def train() -> None:
        client = SyncClient(node.socket, timeout=seconds + 600)
        try:
            out["result"] = client.call("models.train", name="brain", seconds=seconds)
        finally:
            client.close()

    thread = threading.Thread(target=train)
    thread.start()
    while node.call("models.list")["training"] != "brain":
        time.sleep(0.01)
    return thread


def predictions(node: RunningNode, seconds: float) -> list[float]:
    """Seconds of each `models.predict` of one brain example, back to back for `seconds`."""
    request = {"features": brain_examples(1)[0]["features"]}
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        node.call("models.predict", name="brain", request=request)
        times.append(time.perf_counter() - start)
    return times


def measure(window: float, rounds: int) -> dict[str, Any]:
    """Tick durations and start lateness in alternating idle and training windows; then prediction latencies."""
    home = Path(tempfile.mkdtemp(prefix="colony-bench-tick-"))
    config = {"heartbeat": {"enabled": True, "interval": INTERVAL, "keep_ticks": 5000}, "plugin": {"models": {"interval": 0.0}}}
    figures: dict[str, Any] = {"idle": [], "training": [], "steps": []}
    try:
        with RunningNode(home, plugins=["models", "pulse"], config=config) as node:
            node.call("models.examples.add", name="brain", examples=brain_examples(256))
            progress("warming up the brain's JIT (the first steps compile kernels)")
            node.call("models.train", name="brain", steps=3, seconds=600)
            for number in range(rounds):
                progress(f"round {number + 1}/{rounds}: idle, then training, {window:.0f} s each")
                start = time.time()
                time.sleep(window)
                figures["idle"].append(ticks_between(node, start, time.time()))
                out: dict[str, Any] = {}
                thread = train_in_background(node, window + 2, out)
                start = time.time()
                time.sleep(window)
                figures["training"].append(ticks_between(node, start, time.time()))
                thread.join()
                [run] = out["result"]
                figures["steps"].append(run["steps_run"] / run["seconds"])
            progress(f"predictions: idle, then training, {window:.0f} s each")
            predictions(node, 1.0)  # the first ones capture the inference JIT
            figures["predict_idle"] = predictions(node, window)
            thread = train_in_background(node, window + 2, {})
            figures["predict_training"] = predictions(node, window)
            thread.join()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return figures


def summary(windows: list[list[dict[str, Any]]]) -> dict[str, float]:
    """Percentiles of tick duration and of how late each tick started, in ms."""
    durations = [t["duration_ms"] for w in windows for t in w]
    late = [max(0.0, (b["started"] - a["started"] - INTERVAL) * 1000) for w in windows for a, b in zip(w, w[1:])]
    pd, pl = percentiles(durations, (50, 99)), percentiles(late, (50, 99))
    return {"ticks": len(durations), "dur_p50": pd["p50"], "dur_p99": pd["p99"], "late_p50": pl["p50"], "late_p99": pl["p99"]}


def build_table(figures: dict[str, Any]) -> Table:
    """Idle and training rows, and the ratio row the target is about."""
    idle, busy = summary(figures["idle"]), summary(figures["training"])
    keys = ("dur_p50", "dur_p99", "late_p50", "late_p99")
    ratios = {key: ratio(busy[key], idle[key]) for key in keys}
    steps = sum(figures["steps"]) / len(figures["steps"])
    return Table(
        "Heartbeat ticks (50 ms interval) idle vs while the brain trains, milliseconds",
        {"state": "node", "ticks": "ticks", "dur_p50": "tick p50", "dur_p99": "tick p99", "late_p50": "late p50", "late_p99": "late p99"},
        [{"state": "idle", **idle}, {"state": "training", **busy}, {"state": "training / idle", "ticks": "", **ratios}],
        [
            "tick = the tick's own duration; late = how much later than the interval the next tick started.",
            f"The brain trained at {steps:.1f} steps/s (batch 64) during the training windows.",
            "Target: within 2x of idle. A ratio on a near-zero idle figure (late p50) says little.",
        ],
    )


def predict_table(figures: dict[str, Any]) -> Table:
    """`models.predict` latency idle and while the brain trains."""
    rows = []
    for state in ("idle", "training"):
        times = [t * 1000 for t in figures[f"predict_{state}"]]
        rows.append({"state": state, "n": len(times), **percentiles(times, (50, 90, 99))})
    return Table(
        "models.predict of one brain example over the control socket, back to back, milliseconds",
        {"state": "node", "n": "calls", "p50": "p50", "p90": "p90", "p99": "p99"},
        rows,
        ["Once its inference kernels are captured, a prediction replays them beside a training step, inline on the trio thread."],
    )


def main() -> None:
    """Run the benchmark and print its table."""

    def extra(parser: Any) -> None:
        parser.add_argument("--window", type=float, default=10.0, help="seconds per idle or training window")
        parser.add_argument("--rounds", type=int, default=2, help="idle/training window pairs")

    args = parse_args(__doc__, extra)
    figures = measure(args.window, args.rounds)
    report("bench_training_tick", [build_table(figures), predict_table(figures)], args.json)


if __name__ == "__main__":
    main()
