"""colony.testing itself: the running node, temporary plugins, the fake clock and check_plugin."""

from __future__ import annotations

import pytest

from colony.core.rpc import RPCError
from colony.testing import ConformanceError, FakeClock, RunningNode, check_plugin, temporary_plugin

ECHO = '''
from colony.core import Manifest
PLUGIN = Manifest(name="echo")
def colony_register(registrar):
    registrar.rpc("echo.say", lambda text: text)
'''


def test_temporary_plugin_loads_then_unloads(colony_node):
    with temporary_plugin(colony_node, ECHO, name="echo") as row:
        assert row["state"] == "running"
        assert colony_node.call("echo.say", text="hi") == "hi"
    with pytest.raises(RPCError, match="method not found"):
        colony_node.call("echo.say", text="hi")
    assert not (colony_node.dropin_dir / "echo.py").exists()


def test_fake_clock_makes_tick_timestamps_deterministic(tmp_path):
    clock = FakeClock(wall_start=1000.0)
    with RunningNode(tmp_path, plugins=["pulse"], clock=clock) as node:
        first = node.tick()
        clock.jump(30)
        second = node.tick()
    assert (first["started"], second["started"]) == (1000.0, 1030.0)


def test_running_node_factory_and_allowlist(running_node):
    none = running_node()
    assert {p["name"]: p["state"] for p in none.call("plugins.list")}.get("pulse") == "disabled"
    some = running_node(plugins=["pulse"], config={"plugin": {"pulse": {"window": 5}}})
    assert some.call("plugins.info", name="pulse")["config"] == {"window": 5}


def test_check_plugin_passes_a_good_plugin_and_names_what_is_wrong_with_a_bad_one(tmp_path):
    good = tmp_path / "echo.py"
    good.write_text(ECHO)
    check_plugin(good)

    bad = tmp_path / "grumpy.py"
    bad.write_text('''
from colony.core import Manifest
PLUGIN = Manifest(name="grumpy")
async def colony_health(ctx):
    return "out of coffee"
def colony_observe(tick):
    raise RuntimeError("no")
''')
    with pytest.raises(ConformanceError) as info:
        check_plugin(bad)
    message = str(info.value)
    assert "reports unhealthy after start: out of coffee" in message
    assert "raised 3 error(s) during 3 ticks" in message and "RuntimeError: no" in message
    assert "blue/green reload failed" in message  # an unhealthy version cannot be swapped in

    typo = tmp_path / "typo.py"
    typo.write_text("from colony.core import Manifest\nPLUGIN = Manifest(name='typo')\ndef colony_observ(tick):\n    pass\n")
    with pytest.raises(ConformanceError, match="colony_observ"):
        check_plugin(typo)
    with pytest.raises(ConformanceError, match="no installed plugin named 'ghost'"):
        check_plugin("ghost")
