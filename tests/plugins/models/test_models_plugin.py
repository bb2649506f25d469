"""The models plugin on a real node: examples, training, weights across restarts, inference, overrides, merging."""

from __future__ import annotations

import base64
import functools
import threading
from pathlib import Path
from typing import Any

import pytest

from colony.core.rpc import INVALID_PARAMS, RPCError
from colony.testing import RunningNode, SyncClient, check_plugin, temporary_plugin
from tests.plugins.conftest import wait_for
from tests.plugins.models.conftest import brain_examples, quality_examples

SMALL = [
    "brain.hidden=16",
    "quality.hidden=16",
    *(f"plan.{dim}" for dim in ("vocab=16", "dim=16", "heads=2", "ffn=32", "layers=1", "seq=16")),
    *(f"codegen.{dim}" for dim in ("dim=16", "heads=2", "ffn=32", "layers=1", "max_len=32", "source_len=32", "target_len=16")),
]


def models_node(home: Path, *plugins: str, heartbeat: float = 0.0, **options: Any) -> RunningNode:
    """A node running the models plugin with small dimensions and no automatic training (unless `options` say so)."""
    config: dict[str, Any] = {"plugin": {"models": {"dims": SMALL, "interval": 0.0, "corpus_bytes": 200_000, **options}}}
    if heartbeat:
        config["heartbeat"] = {"enabled": True, "interval": heartbeat}
    return RunningNode(home, plugins=["models", *plugins], config=config)


def row(node: RunningNode, name: str) -> dict[str, Any]:
    """Model `name`'s entry in models.list."""
    return next(m for m in node.call("models.list")["models"] if m["name"] == name)


def request(seed: int) -> dict[str, Any]:
    """A brain prediction request."""
    return {"features": brain_examples(seed, 1)[0]["features"]}


def test_trains_on_examples_and_reloads_bit_identically_after_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with models_node(home) as node:
        assert {m["name"] for m in node.call("models.list")["models"]} == {"brain", "quality", "plan", "codegen"}
        added = node.call("models.examples.add", name="brain", examples=brain_examples(0, 100))
        assert added == {"model": "brain", "added": 100, "examples": 100}
        [summary] = node.call("models.train", name="brain", steps=4, seconds=600)
        assert summary["model"] == "brain" and summary["steps_run"] == 4 and summary["steps"] == 4 and summary["examples"] == 100
        listed = node.call("models.list")
        assert listed["device"] in ("CPU", "CUDA") and listed["training"] == ""
        brain = row(node, "brain")
        assert brain["loaded"] and brain["parameters"] == 128 * 16 + 16 + 16 * 16 + 16 + 16 * 23 + 23 and brain["steps"] == 4
        before = node.call("models.predict", name="brain", request=request(1))
        assert before["by"] == "model" and 0 < before["output"]["success"] < 1
        losses = node.call("panels.get", name="models")["data"]["series"]["brain loss"]
        assert len(losses) == 4
    assert (home / "models" / "brain.safetensors").exists()

    with models_node(home) as node:
        brain = wait_for(lambda: (found := row(node, "brain"))["loaded"] and found, "the saved brain to load at start")
        assert brain["steps"] == 4 and brain["examples"] == 100 and brain["error"] == ""
        assert node.call("models.predict", name="brain", request=request(1)) == before
        assert node.call("panels.get", name="models")["data"]["series"]["brain loss"] == losses


def test_a_corrupt_weights_file_is_refused_and_the_node_runs_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "brain.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header!!}")
    with models_node(home, "pulse") as node:
        brain = wait_for(lambda: (found := row(node, "brain"))["error"] and found, "the corrupt file to be refused")
        assert "refused brain.safetensors: weights are corrupt: unreadable safetensors header" in brain["error"]
        assert "started from fresh weights" in brain["error"] and brain["steps"] == 0
        assert (home / "models" / "brain.safetensors.corrupt").exists()
        assert node.call("models.predict", name="brain", request=request(1))["by"] == "model"
        assert node.tick()["outcome"]["steps"] == 1  # the rest of the node carries on
        assert brain["error"] in node.call("panels.get", name="models")["data"]["text"]

        # Running on good weights, a bad import changes nothing.
        node.call("models.examples.add", name="brain", examples=brain_examples(0, 64))
        node.call("models.train", name="brain", steps=2)
        good = node.call("models.predict", name="brain", request=request(2))
        junk = base64.b64encode(b"junk").decode()
        for full in (True, False):
            with pytest.raises(RPCError) as refused:
                node.call("models.import", name="brain", data=junk, full=full)
            assert refused.value.code == INVALID_PARAMS and "brain: refused: weights are truncated" in refused.value.message
        for full in (True, False):
            quality = node.call("models.export", name="quality", full=full)
            with pytest.raises(RPCError, match="are for architecture 'quality/1', not 'brain/1'"):
                node.call("models.import", name="brain", data=quality["data"], full=full)
        assert node.call("models.predict", name="brain", request=request(2)) == good
        assert node.call("models.list")["last_merge"]["error"].startswith("delta weights are for architecture")
    assert (home / "models" / "brain.safetensors").exists()


def test_bad_requests_get_clear_errors(tmp_path: Path) -> None:
    with models_node(tmp_path / "home") as node:
        node.call("models.examples.add", name="brain", examples=brain_examples(0, 3))
        cases = [
            ("models.predict", {"name": "nope", "request": {}}, "no model named 'nope' (registered: brain, codegen, plan, quality)"),
            ("models.predict", {"name": "brain", "request": {"features": [1, 2]}}, "brain: features must be a list of 128 numbers"),
            ("models.predict", {"name": "brain", "request": {"features": ["x"] * 128}}, "must hold finite numbers"),
            ("models.examples.add", {"name": "brain", "examples": []}, "a non-empty list of objects"),
            ("models.examples.add", {"name": "brain", "examples": [1]}, "a non-empty list of objects"),
            ("models.examples.add", {"name": "brain", "examples": [{**brain_examples(1, 1)[0], "success": 2}]}, "success must be 0 or 1"),
            ("models.train", {"name": "quality"}, "model 'quality' has no examples to train on"),
            ("models.train", {"steps": -1}, "must not be negative"),
            ("models.eval", {"limit": 0}, "limit must be a positive integer"),
            ("models.import", {"name": "brain"}, "give exactly one of data and path"),
            ("models.import", {"name": "brain", "data": "%%%"}, "data is not valid base64"),
            ("models.import", {"name": "brain", "path": str(tmp_path / "missing")}, "cannot read"),
            ("models.import", {"name": "brain", "data": "", "rate": 0.0}, "merge rate must be in (0, 1]"),
        ]
        for method, params, message in cases:
            with pytest.raises(RPCError) as error:
                node.call(method, **params)
            assert error.value.code == INVALID_PARAMS and message in error.value.message, (method, params, error.value.message)
        assert row(node, "brain")["examples"] == 3  # a refused batch adds nothing
        assert node.call("models.eval", name="quality") == [{"model": "quality", "loss": None, "examples": 0, "steps": 0}]
        [evaluated] = node.call("models.eval")
        assert evaluated["model"] == "brain" and evaluated["examples"] == 3 and evaluated["loss"] > 0


ORACLE = '''
from colony.core import Manifest

PLUGIN = Manifest(name="oracle", version="1.0.0")


def colony_cognitive(name, request):
    if name == "brain.predict" and request["features"][0] > 0.5:
        return {"success": 1.0, "error": [], "capabilities": []}
    return None
'''

LEARNER = '''
from colony.core import Manifest
from colony.plugins.models.service import ServiceError

PLUGIN = Manifest(name="learner", version="1.0.0", requires=("models",))
_ctx = {}


async def colony_start(ctx):
    _ctx["ctx"] = ctx


def colony_register(registrar):
    registrar.rpc("learner.learn", learn)
    registrar.rpc("learner.surrogate", surrogate)


async def learn(example: dict) -> dict:
    models = _ctx["ctx"].service("models")
    size = await models.add_example("brain", example)
    return {"examples": size, "prediction": await models.predict("brain", {"features": example["features"]})}


async def surrogate() -> str:
    try:  # a text no JSON request can carry
        await _ctx["ctx"].service("models").add_example("codegen", {"source": "\\ud800", "target": ""})
    except ServiceError as exc:
        return str(exc)
    return "accepted"
'''


def test_the_cognitive_override_wins_and_the_model_answers_otherwise(tmp_path: Path) -> None:
    high = {"features": [0.9] + [0.0] * 127}
    low = {"features": [0.1] + [0.0] * 127}
    with models_node(tmp_path / "home") as node:
        assert node.call("models.predict", name="brain", request=high)["by"] == "model"
        with temporary_plugin(node, ORACLE, "oracle"):
            assert node.call("models.predict", name="brain", request=high) == {
                "model": "brain",
                "by": "oracle",
                "output": {"success": 1.0, "error": [], "capabilities": []},
            }
            answered = node.call("models.predict", name="brain", request=low)
            assert answered["by"] == "model" and 0 < answered["output"]["success"] < 1
            with temporary_plugin(node, LEARNER, "learner"):
                learned = node.call("learner.learn", example={**brain_examples(3, 1)[0], "features": high["features"]})
                assert learned == {"examples": 1, "prediction": {"success": 1.0, "error": [], "capabilities": []}}
        assert node.call("models.predict", name="brain", request=high)["by"] == "model"


def scorer_plugin(name: str, body: str = "") -> str:
    """A drop-in plugin registering model `name`: the quality MLP with 4 hidden units, its class extended by `body`."""
    return f'''
from colony.core import Manifest

PLUGIN = Manifest(name="{name}", version="1.0.0", requires=("models",))


def build(seed=0, **dims):
    from colony.plugins.models.quality import Quality

    class Scorer(Quality):
        name = "{name}"
        arch = "{name}/1"
{body}
    return Scorer(seed=seed, **{{"hidden": 4, **dims}})


def colony_register(registrar):
    registrar.model("{name}", build, description="A tiny scorer.")
'''


TINY = scorer_plugin("tiny")
BROKEN = scorer_plugin("broken", "        def train_step(self, examples):\n            raise RuntimeError('boom')\n")


def test_a_third_party_model_is_trained_and_served(tmp_path: Path) -> None:
    with models_node(tmp_path / "home") as node:
        with temporary_plugin(node, TINY, "tiny"):
            node.call("models.examples.add", name="tiny", examples=quality_examples(0, 40))
            [summary] = node.call("models.train", steps=2)
            assert summary["model"] == "tiny" and summary["steps"] == 2
            tiny = row(node, "tiny")
            assert tiny["owner"] == "tiny" and tiny["arch"] == "tiny/1" and tiny["parameters"] == 32 * 4 + 4 + 4 * 4 + 4 + 4 + 1
            score = node.call("models.predict", name="tiny", request={"features": quality_examples(1, 1)[0]["features"]})
            assert -1 < score["output"]["score"] < 1
        assert "tiny" not in {m["name"] for m in node.call("models.list")["models"]}


def test_training_cycles_run_on_their_own_past_a_failing_model(tmp_path: Path) -> None:
    with models_node(tmp_path / "home", interval=0.05, cycle_steps=2) as node, temporary_plugin(node, BROKEN, "broken"):
        node.call("models.examples.add", name="broken", examples=quality_examples(0, 4))
        node.call("models.examples.add", name="quality", examples=quality_examples(0, 40))
        wait_for(lambda: row(node, "quality")["steps"] >= 4, "two automatic cycles")
        assert row(node, "broken")["error"] == "training failed: RuntimeError: boom"
        assert row(node, "brain")["steps"] == 0  # no examples, no training
        assert node.call("node.metrics")["models"]["quality.examples"] == 40


def train_in_background(node: RunningNode) -> tuple[threading.Thread, dict[str, Any]]:
    """Start a long `models.train` of the brain from another thread; return it once the cycle runs."""
    outcome: dict[str, Any] = {}

    def train() -> None:
        client = SyncClient(node.socket, timeout=300)
        try:
            outcome["result"] = client.call("models.train", name="brain", seconds=300)
        except (RPCError, OSError) as exc:  # the node stops mid-cycle
            outcome["error"] = exc
        finally:
            client.close()

    node.call("models.examples.add", name="brain", examples=brain_examples(0, 64))
    trainer = threading.Thread(target=train)
    trainer.start()
    wait_for(lambda: node.call("models.list")["training"] == "brain", "training to start")
    return trainer, outcome


def test_the_heartbeat_ticks_while_training_runs(tmp_path: Path) -> None:
    node = models_node(tmp_path / "home", "pulse", heartbeat=0.02).start()
    try:
        trainer, _ = train_in_background(node)
        first = node.call("node.status")["heartbeat"]["tick_number"]
        wait_for(lambda: node.call("node.status")["heartbeat"]["tick_number"] >= first + 10, "ten ticks during training")
        assert node.call("models.list")["training"] == "brain"
        assert node.call("models.predict", name="brain", request=request(1))["by"] == "model"  # served between steps
        # Once its kernels are captured, a prediction replays them beside the training thread.
        for _ in range(3):
            assert 0 < node.call("models.predict", name="brain", request=request(1))["output"]["success"] < 1
        assert node.call("models.list")["training"] == "brain"
    finally:
        node.stop()
    trainer.join(60)
    assert not trainer.is_alive()
    assert row_steps(tmp_path / "home") > 0


def test_a_reload_during_training_hands_over_to_the_new_version(tmp_path: Path) -> None:
    with models_node(tmp_path / "home") as node:
        trainer, outcome = train_in_background(node)
        assert node.call("plugins.reload", name="models")["state"] == "running"
        trainer.join(60)
        [summary] = outcome["result"]  # the old version stopped its cycle early and saved
        brain = wait_for(lambda: (found := row(node, "brain"))["loaded"] and found, "the new version to load the weights")
        assert brain["steps"] == summary["steps"] > 0 and brain["examples"] == 64
        [again] = node.call("models.train", name="brain", steps=1, seconds=600)
        assert again["steps"] == summary["steps"] + 1


def row_steps(home: Path) -> int:
    """The brain's steps as saved, read from a fresh node on `home`."""
    with models_node(home) as node:
        return int(wait_for(lambda: (found := row(node, "brain"))["loaded"] and found, "the brain to load")["steps"])


def test_deltas_travel_between_nodes_through_the_colony_hooks(tmp_path: Path) -> None:
    with models_node(tmp_path / "a") as a:
        a.call("models.examples.add", name="brain", examples=brain_examples(0, 64))
        a.call("models.train", name="brain", steps=3)
        target = a.call("models.predict", name="brain", request=request(1))["output"]["success"]
        [(plugin, state)] = a.run(functools.partial(a.kernel.dispatcher.collect, "colony_export_state", peer="b"))
        assert plugin == "models" and set(state["deltas"]) == {"brain"}  # untrained models share nothing
        full = a.call("models.export", name="brain", full=True)

    with models_node(tmp_path / "b") as b:
        start = b.call("models.predict", name="brain", request=request(1))["output"]["success"]
        b.run(functools.partial(b.kernel.dispatcher.collect, "colony_merge_state", peer="a", state=state, rate=0.5))
        merged = b.call("models.list")["last_merge"]
        assert merged["model"] == "brain" and merged["peer"] == "a" and merged["rate"] == 0.5 and "error" not in merged
        halfway = b.call("models.predict", name="brain", request=request(1))["output"]["success"]
        assert abs(halfway - target) < abs(start - target)
        b.call("models.import", name="brain", data=full["data"], full=True)
        assert b.call("models.predict", name="brain", request=request(1))["output"]["success"] == target
        assert row(b, "brain")["steps"] == 3

        exported = b.call("models.export", name="brain", full=True, path=str(tmp_path / "brain.safetensors"))
        assert exported["data"] is None and (tmp_path / "brain.safetensors").read_bytes() == base64.b64decode(full["data"])


def test_plan_step_names_and_codegen_text_become_token_ids(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plans = [{"steps": ["read_file", "edit_code", "run_tests"]}, {"steps": ["read_file", "run_tests", "commit"]}]
    pair = {"source": "assert add(2, 3) == 5\n", "target": "def add(a, b):\n    return a + b\n"}
    with models_node(home) as node:
        assert node.call("models.examples.add", name="plan", examples=plans)["examples"] == 2
        node.call("models.examples.add", name="plan", examples=[{"tokens": [4, 6]}])  # ids work too
        answer = node.call("models.predict", name="plan", request={"prefix": ["read_file"], "max_len": 5, "temperature": 0})
        output = answer["output"]
        assert len(output["tokens"]) <= 5 and set(output["steps"]) <= {"read_file", "edit_code", "run_tests", "commit"}
        assert node.call("models.predict", name="plan", request={"prefix": [4], "max_len": 5, "temperature": 0}) == answer
        with pytest.raises(RPCError, match="plan: steps must be a list of step names"):
            node.call("models.examples.add", name="plan", examples=[{"steps": "read_file"}])

        assert node.call("models.examples.add", name="codegen", examples=[pair])["examples"] == 1
        assert (home / "models" / "tokenizer.json").exists()
        assert 260 < node.call("models.list")["tokenizer"]["vocab_size"] <= 8192
        # The control protocol refuses lone surrogates at parse time; a plugin can still hand one to the service.
        with temporary_plugin(node, LEARNER, "learner"):
            assert node.call("learner.surrogate").startswith("codegen: text is not valid Unicode")


def test_the_plugin_passes_conformance() -> None:
    check_plugin("models", config={"plugin": {"models": {"dims": SMALL, "interval": 0.05, "cycle_steps": 1}}})


def test_models_compile_with_their_tuned_kernels_unless_refused_or_turned_off(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "models" / "tuned").mkdir(parents=True)
    (home / "models" / "tuned" / "brain.json").write_text('{"format": "colony-tuned-kernels/1"}')
    full_size = {"dims": ["quality.hidden=16"]}  # the brain at its default dimensions, which the shipped table is for
    with models_node(home, **full_size) as node:
        assert node.call("models.predict", name="brain", request=request(0))["by"] == "model"
        brain = row(node, "brain")
        assert brain["kernels"].startswith("tuned(") and brain["kernels_error"] == "brain.json: 'model' must be a string"
        assert "brain: refused tuned kernels: brain.json" in node.call("panels.get", name="models")["data"]["text"]
        node.call("models.predict", name="quality", request={"features": quality_examples(0, 1)[0]["features"]})
        assert row(node, "quality")["kernels"] == "default"  # no table for a 16-unit quality model
    with models_node(home, tuned_kernels=False, **full_size) as node:
        node.call("models.predict", name="brain", request=request(0))
        assert (row(node, "brain")["kernels"], row(node, "brain")["kernels_error"]) == ("default", "")


def test_tuning_searches_in_its_own_process_and_writes_a_table(tmp_path: Path) -> None:
    tiny = ["quality.inputs=4", "quality.hidden=4"]
    with models_node(tmp_path / "home", dims=tiny) as node:
        for params, message in [({"beam": 0}, "beam must be an integer in 1..8"), ({"name": "nope"}, "no model named 'nope'")]:
            with pytest.raises(RPCError, match=message):
                node.call("models.tune", **params)
        with temporary_plugin(node, TINY, "tiny"), pytest.raises(RPCError, match="only the built-in models can be tuned"):
            node.call("models.tune", name="tiny")
        node.call("models.predict", name="quality", request={"features": [0.5] * 4})
        assert row(node, "quality")["kernels"] == "default"
        client = SyncClient(node.socket, timeout=600)  # a search takes a while the first time
        try:
            [summary] = client.call("models.tune", name="quality", beam=1)
            assert summary["model"] == "quality" and summary["beam"] == 1 and summary["kernels"] > 5
            assert summary["path"] == str(tmp_path / "home" / "models" / "tuned" / "quality.json")
            assert row(node, "quality")["kernels"] == f"tuned({summary['kernels']})"
            client.call("models.tune", name="quality", beam=1, output=str(tmp_path / "ship"))  # searched already: from the cache
        finally:
            client.close()
        assert (tmp_path / "ship" / "quality.json").read_text() == (tmp_path / "home" / "models" / "tuned" / "quality.json").read_text()
