"""The shipped example cartridges: each builds, deploys to a real node and does what its README says."""

from __future__ import annotations

import base64
import functools
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from colony.cartridges import examples
from colony.core.rpc import RPCError
from colony.plugins.cartridges.toolchain import Built, build
from colony.testing import RunningNode

DEAD, ALIVE = bytes.fromhex("101020ff"), bytes.fromhex("ffe07fff")  # life's two pixel colours, RGBA


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """Every example built once, from a copy (the package folder may be read-only)."""
    root = tmp_path_factory.mktemp("examples")
    return {folder.name: build(shutil.copytree(folder, root / folder.name)) for folder in examples()}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, built: dict[str, Built]) -> Iterator[RunningNode]:
    """A node running the cartridges plugin with every example deployed."""
    with RunningNode(tmp_path_factory.mktemp("home"), plugins=["cartridges"]) as running:
        for cartridge in built.values():
            running.call("cartridges.deploy", wasm=base64.b64encode(cartridge.wasm).decode(), manifest=cartridge.manifest)
        yield running


def call(node: RunningNode, slug: str, method: str = "GET", path: str = "/", body: Any = "") -> tuple[int, Any]:
    """Call `slug` over RPC; its status and its body parsed as JSON (a JSON answer is part of every example's contract)."""
    answer = node.call("cartridges.call", slug=slug, method=method, path=path, body=body if isinstance(body, str) else json.dumps(body))
    assert answer["error"] is None, answer
    assert answer["content_type"] == "application/json", answer
    return answer["status"], json.loads(answer["body"])


def test_every_example_builds_and_the_three_languages_are_covered(built: dict[str, Built]) -> None:
    kinds = {slug: b.manifest["kind"] for slug, b in built.items()}
    assert kinds == {"hello": "backend", "counter": "backend", "compose": "backend", "life": "interactive", "brain-override": "cognitive"}
    assert {b.manifest["lang"] for b in built.values()} == {"c", "zig", "wat"}
    assert built["hello"].manifest["price"] == 1000 and built["brain-override"].manifest["hook"] == "brain.predict"
    assert all(b.path.read_bytes() == b.wasm for b in built.values())


def test_every_example_is_deployed_and_listed(node: RunningNode, built: dict[str, Built]) -> None:
    listed = {row["slug"]: row for row in node.call("cartridges.list")}
    assert set(listed) == set(built)
    assert all(listed[slug]["sha256"] == b.manifest["sha256"] for slug, b in built.items())


def test_hello_answers_json(node: RunningNode) -> None:
    assert call(node, "hello") == (200, {"message": "hello, world", "method": "GET", "path": "/", "payment": None})
    status, answer = call(node, "hello", "POST", "/greet", {"name": 'Ada "the first" Lovelace ✓'})
    assert (status, answer["message"], answer["path"]) == (200, 'hello, Ada "the first" Lovelace ✓', "/greet")


def test_counter_counts_across_calls_in_its_kv(node: RunningNode) -> None:
    assert call(node, "counter", "DELETE") == (200, {"count": 0})
    assert [call(node, "counter", "POST")[1]["count"] for _ in range(3)] == [1, 2, 3]
    assert call(node, "counter") == (200, {"count": 3})
    assert call(node, "counter", "PUT") == (405, {"error": "use GET, POST or DELETE"})
    assert call(node, "counter") == (200, {"count": 3})


def test_compose_gets_hellos_answer_through_call(node: RunningNode) -> None:
    status, answer = call(node, "compose")
    assert status == 200 and answer["via"] == "compose"
    assert answer["hello"]["status"] == 200 and answer["hello"]["content_type"] == "application/json"
    assert json.loads(answer["hello"]["body"]) == {"message": "hello, compose", "method": "GET", "path": "/", "payment": None}


def test_life_draws_a_framebuffer_that_changes_between_ticks(node: RunningNode) -> None:
    opened = node.call("cartridges.session.open", slug="life", width=64, height=48)
    session = opened["session"]
    try:
        assert (opened["width"], opened["height"]) == (64, 48)
        first = base64.b64decode(opened["frame"])
        assert len(first) == 64 * 48 * 4
        assert {first[i : i + 4] for i in range(0, len(first), 4)} == {DEAD, ALIVE}
        ticked = node.call("cartridges.session.tick", session_id=session)
        second = base64.b64decode(ticked["frame"])
        assert len(second) == len(first) and second != first
        cleared = base64.b64decode(node.call("cartridges.session.key", session_id=session, code=ord("C"))["frame"])
        assert cleared == DEAD * (64 * 48)
        assert node.call("cartridges.session.tick", session_id=session)["frame"] is None  # an empty field stays empty
        node.call("cartridges.session.key", session_id=session, code=ord("G"))
        gliding = [node.call("cartridges.session.tick", session_id=session)["frame"] for _ in range(4)]
        assert all(frame is not None for frame in gliding)
    finally:
        node.call("cartridges.session.close", session_id=session)


def squash(x: float) -> float:
    return 0.5 + 0.5 * x / (1 + abs(x))


def expected_brain(features: list[float]) -> dict[str, Any]:
    """brain-override's rule, written again in Python: feature i feeds class i % 11."""
    means = [sum(features[k::11]) / len(features[k::11]) for k in range(11)]
    spread = sum(abs(m) for m in means)
    return {
        "success": squash(sum(features) / len(features)),
        "error": [abs(m) / spread for m in means],
        "capabilities": [squash(m) for m in means],
    }


def test_brain_override_answers_brain_predict_through_the_cognitive_hook(node: RunningNode) -> None:
    assert node.kernel is not None
    features = [random.Random(7).uniform(-3, 3) for _ in range(128)]
    ask = functools.partial(node.kernel.dispatcher.first, "colony_cognitive", name="brain.predict", request={"features": features})
    plugin, answer = node.run(ask)
    assert plugin == "cartridges"
    want = expected_brain(features)
    assert answer["success"] == pytest.approx(want["success"], abs=1e-6)
    assert answer["error"] == pytest.approx(want["error"], abs=1e-6) and sum(answer["error"]) == pytest.approx(1, abs=1e-5)
    assert answer["capabilities"] == pytest.approx(want["capabilities"], abs=1e-6)
    assert all(0 <= p <= 1 for p in [answer["success"], *answer["capabilities"]])


def test_brain_override_declines_bad_requests_so_the_built_in_brain_runs(node: RunningNode) -> None:
    assert node.kernel is not None
    for request in ({"features": [0.5] * 12}, {"features": ["x"] * 128}, {"other": 1}):
        ask = functools.partial(node.kernel.dispatcher.first, "colony_cognitive", name="brain.predict", request=request)
        assert node.run(ask) is None, request
    ask = functools.partial(node.kernel.dispatcher.first, "colony_cognitive", name="cortex.predict", request={"features": [0.0] * 128})
    assert node.run(ask) is None  # it answers only the hook its manifest names
    assert call(node, "brain-override", "POST", "/", {"features": [1.0] * 128})[1]["success"] == pytest.approx(0.75)


def test_an_example_deploys_from_its_folder_on_the_node(node: RunningNode, tmp_path: Path) -> None:
    (folder,) = [f for f in examples() if f.name == "counter"]
    copy = shutil.copytree(folder, tmp_path / "counter")
    (copy / "cartridge.toml").write_text((copy / "cartridge.toml").read_text().replace('version = "1.0.0"', 'version = "1.0.1"'))
    deployed = node.call("cartridges.deploy", path=str(copy))
    assert deployed["version"] == "1.0.1"
    assert call(node, "counter")[0] == 200
    broken = shutil.copytree(folder, tmp_path / "broken")
    (broken / "counter.zig").write_text("this is not zig\n")
    with pytest.raises(RPCError, match="counter.zig:1:"):
        node.call("cartridges.deploy", path=str(broken))
