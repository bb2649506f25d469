"""create_cartridge and deploy_cartridge on a real node: a C cartridge written from source, built with zig, deployed and called."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from colony.testing import RunningNode
from tests.plugins.tools.conftest import UNMETERED, call, refusal

ADDER = r"""
#include "colony.h"

/* Answers with the length of the request body, so a call shows this source ran. */
static void handle(const colony_request *req) {
    colony_buf out = {0};
    colony_put(&out, "{\"made_by\":\"the soul\",\"body_length\":");
    colony_put_int(&out, req->body.len);
    colony_put(&out, "}");
    colony_json(200, colony_buf_str(&out));
}

COLONY_HANDLER(handle)
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with RunningNode(tmp_path_factory.mktemp("carts"), plugins=["cartridges", "tools"], config=UNMETERED) as running:
        yield running


def test_create_deploy_and_call_a_c_cartridge(node: RunningNode) -> None:
    created = call(node, "create_cartridge", name="adder", language="c", source=ADDER)
    assert {k: created[k] for k in ("name", "path", "slug", "kind", "language")} == {
        "name": "adder", "path": "cartridges/adder", "slug": "adder", "kind": "backend", "language": "c",
    }
    project = node.home / "workspace" / "cartridges" / "adder"
    assert (project / "adder.c").read_text() == ADDER and (project / "build" / "adder.wasm").is_file()
    assert call(node, "read_file", path="cartridges/adder/adder.c")["content"] == ADDER  # the file tools see it

    deployed = call(node, "deploy_cartridge", name="adder", slug="sum-it")
    assert (deployed["slug"], deployed["url"], deployed["sha256"]) == ("sum-it", "/c/sum-it", created["sha256"])
    answer = node.call("cartridges.call", slug="sum-it", method="POST", path="/", body="12345")
    assert answer["status"] == 200 and answer["body"] == '{"made_by":"the soul","body_length":5}'

    changed = ADDER.replace("the soul", "version two")
    assert call(node, "create_cartridge", name="adder", language="c", source=changed)["sha256"] != created["sha256"]
    again = call(node, "deploy_cartridge", path="cartridges/adder", slug="sum-it")
    assert again["previous"] == "0.1.0" and again["sha256"] != created["sha256"]
    assert "version two" in node.call("cartridges.call", slug="sum-it", method="POST", path="/", body="")["body"]


def test_bad_sources_and_names_are_clear_errors(node: RunningNode) -> None:
    message = refusal(node, "create_cartridge", name="broken", language="c", source="int main( {")
    assert message.startswith("create_cartridge: build failed") and "error" in message
    assert "is a 'c' project" in refusal(node, "create_cartridge", name="broken", language="zig", source="")
    for name in ("../escape", "/abs", "UPPER", "", "a" * 64, "adder\n"):
        assert "a cartridge name is a slug" in refusal(node, "create_cartridge", name=name, language="c")
    assert not (node.home / "workspace" / "escape").exists()
    assert "must be one of" in refusal(node, "create_cartridge", name="x", language="cobol")
    assert "give either name" in refusal(node, "deploy_cartridge")
    assert "give either name" in refusal(node, "deploy_cartridge", name="adder", path="cartridges/adder")
    assert "leads outside the workspace" in refusal(node, "deploy_cartridge", path="../keys")
    assert "absolute" in refusal(node, "deploy_cartridge", path="/etc")
    assert "no such cartridge folder" in refusal(node, "deploy_cartridge", name="never-made")
    assert "slug must be" in refusal(node, "deploy_cartridge", name="broken", slug="Bad Slug")
    assert "slug must be" in refusal(node, "deploy_cartridge", name="broken", slug="sum-it\n")
    assert "broken" not in [row["slug"] for row in node.call("cartridges.list")]
