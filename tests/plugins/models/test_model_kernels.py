"""Tuned kernels: the shipped tables load and are used without a search; bad tables are refused and the defaults run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinygrad import Device
from tinygrad.codegen.opt import Opt, OptOps

from colony.plugins.models import BUILTIN, factory, kernels, tuning
from colony.plugins.models.brain import Brain

CLASSES = {name: getattr(__import__(f"colony.plugins.models.{module}", fromlist=[cls]), cls) for name, (module, cls, _) in BUILTIN.items()}
KEY = "0" * 64


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_model_ships_a_table_for_its_default_dimensions(name: str) -> None:
    path = kernels.SHIPPED / f"{name}.json"
    model = CLASSES[name]
    table = kernels.load(path, name, model.arch)
    assert table.dims == model.defaults and table.device == "CPU" and table.beam >= 1
    assert len(table.kernels) > 10
    assert table.to_json() == path.read_text()  # written in the stable form: a re-export of the same choices is identical


# A fresh process with an empty kernel cache, as on a machine that never ran tinygrad: the shipped
# brain table must drive its kernels, and tinygrad's search module must never even be imported.
FRESH_MACHINE = """
import json, random, sys
from colony.plugins.models import device
device.setup(None)
from tinygrad.engine import realize
from colony.plugins.models import kernels, tuning
from colony.plugins.models.brain import Brain

def compile_brain(tuned):
    realize.to_program_cache.clear()
    brain = Brain(seed=0)
    table, error = tuning.choose(brain, None)
    assert not error, error
    kernels.activate(table) if tuned else kernels.deactivate("brain")
    examples, requests = brain.samples(random.Random(0))
    for _ in range(3):
        brain.train_step(examples)
        out = brain.predict(requests[0])
    return table, {tuple(map(str, p.src[0].arg.applied_opts)) for p in realize.to_program_cache.values()}, out

table, tuned, out_tuned = compile_brain(True)
stats = dict(vars(kernels.stats))
_, default, out_default = compile_brain(False)
shipped = {tuple(map(str, opts)) for opts in table.kernels.values()}
print(json.dumps({
    "stats": stats, "searched": "tinygrad.codegen.opt.search" in sys.modules,
    "shipped_used": len(tuned & shipped), "tuned_only": len(tuned - default),
    "close": max(abs(a - b) for a, b in zip(out_tuned["error"], out_default["error"])),
}))
"""


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="the shipped tables are for x86-64 CPUs")
def test_the_shipped_brain_kernels_are_used_without_a_search(tmp_path: Path) -> None:
    env = {**os.environ, "CACHEDB": str(tmp_path / "cache.db"), "BEAM": "0"}
    done = subprocess.run([sys.executable, "-c", FRESH_MACHINE], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["stats"]["tuned"] > 0 and report["stats"]["refused"] == 0
    assert not report["searched"]
    assert report["shipped_used"] > 0 and report["tuned_only"] > 0  # kernels compiled with shipped opts the heuristics do not pick
    assert report["close"] < 1e-4  # same model, other kernels: equal up to float rounding


def document(**changes: Any) -> str:
    """A valid brain table (one kernel), with `changes` applied to its fields."""
    base = kernels.Table("brain", "brain/1", dict(Brain.defaults), 2, "CPU", "ClangRenderer", "x86_64", version("tinygrad"), {})
    text = json.loads(base.to_json())
    text["kernels"] = {KEY: [["UPCAST", 0, 4]]}
    return json.dumps({**text, **changes})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        (json.dumps([1, 2]), "not a tuned-kernel file"),
        (document(format="other/1"), "not a tuned-kernel file"),
        (document(model="quality", arch="quality/1"), "tuned for quality (quality/1), not brain (brain/1)"),
        (document(arch="brain/0"), "tuned for brain (brain/0), not brain (brain/1)"),
        (document(tinygrad="0.1.0"), "tuned with tinygrad 0.1.0"),
        (document(beam="2"), "'beam' must be an integer"),
        (document(device=None), "'device' must be a string"),
        (document(dims={"hidden": "many"}), "'dims' must map dimension names to integers"),
        (document(kernels={"abc": []}), "is not a kernel key"),
        (document(kernels={KEY: [["WARP_DRIVE", 0, 4]]}), "not an [op, axis, arg] triple with a known op"),
        (document(kernels={KEY: [["UPCAST", "0", 4]]}), "needs an integer (or null) axis and argument"),
        (document(kernels={KEY: "UPCAST"}), "opts must be a list"),
    ],
)
def test_a_malformed_or_foreign_table_is_refused_with_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(kernels.TunedError, match="^brain.json: ") as refused:
        kernels.parse(text, "brain", "brain/1", "brain.json")
    assert message in str(refused.value)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4))


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_any_json_is_a_table_or_a_refusal(value: Any) -> None:
    try:
        kernels.parse(json.dumps(value), "brain", "brain/1")
    except kernels.TunedError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([*kernels.FIELDS, "extra"]), JSON)
def test_any_field_of_a_table_may_hold_anything(field: str, value: Any) -> None:
    try:
        table = kernels.parse(document(**{field: value}), "brain", "brain/1")
    except kernels.TunedError:
        return
    assert table.model == "brain" and all(len(key) == 64 for key in table.kernels)



def same(a: Any, b: Any) -> bool:
    """Equal tables, even when one comes from a fresh import of kernels.py (the plugin host re-imports plugins on each start)."""
    return type(a).__qualname__ == type(b).__qualname__ == "Table" and vars(a) == vars(b)

def test_a_refused_table_leaves_the_default_kernels(tmp_path: Path, brain_data) -> None:
    (tmp_path / "models" / "tuned").mkdir(parents=True)
    tuning.own_path(tmp_path, "brain").write_text(document(model="plan", arch="plan/1"))
    brain = Brain(seed=0)
    table, error = tuning.choose(brain, tmp_path)
    assert error == "brain.json: tuned for plan (plan/1), not brain (brain/1)"
    assert same(table, kernels.load(kernels.SHIPPED / "brain.json", "brain", "brain/1"))  # the shipped one still applies
    small = Brain(seed=0, hidden=16)
    assert tuning.choose(small, tmp_path)[0] is None  # no table for other dimensions: tinygrad's defaults
    assert small.predict({"features": brain_data(0, 1)[0]["features"]})["success"] > 0


def test_opts_tinygrad_refuses_fall_back_to_its_own(brain_data) -> None:
    examples, request = brain_data(0, 64), {"features": brain_data(1, 1)[0]["features"]}
    with kernels.recording() as compiled:
        reference = Brain(seed=3, hidden=24)
        losses = [reference.train_step(examples) for _ in range(3)]
        expected = reference.predict(request)
    renderer = Device[Device.DEFAULT].renderer
    here = (renderer.target.device, type(renderer).__name__, renderer.target.arch.split(",")[0])
    bad = kernels.Table("brain", "brain/1", {"inputs": 128, "hidden": 24}, 1, *here, "", {key: (Opt(OptOps.UPCAST, 7, 3),) for key in compiled})
    refused = kernels.stats.refused
    kernels.activate(bad)
    try:
        brain = Brain(seed=3, hidden=24)
        assert [brain.train_step(examples) for _ in range(3)] == losses
        assert brain.predict(request) == expected
    finally:
        kernels.deactivate("brain")
    assert kernels.stats.refused > refused


def test_tuning_records_the_searched_choices(tmp_path: Path) -> None:
    brain = factory("brain", "Brain")(seed=0, inputs=8, hidden=8)
    table = tuning.tune(brain, beam=1)
    assert table.model == "brain" and table.dims == {"inputs": 8, "hidden": 8} and table.beam == 1
    assert len(table.kernels) > 10 and all(len(key) == 64 for key in table.kernels)
    table.save(tmp_path / "brain.json")
    assert same(kernels.load(tmp_path / "brain.json", "brain", "brain/1"), table)
