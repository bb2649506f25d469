"""The plugin host: discovery filters, dependency order, unload hygiene, blue/green swap and rollback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio

from colony.core.host import PluginError
from tests.conftest import running, until, write_plugin

RECORDER = '''
from colony.core import Manifest
PLUGIN = Manifest(name="{name}", version="1", requires={requires!r})

async def colony_start(ctx):
    ctx.publish("test.started", {{"name": "{name}"}})
'''


def recorder(home: Path, name: str, requires: tuple[str, ...] = ()) -> None:
    write_plugin(home, name, RECORDER.format(name=name, requires=requires))


def started(kernel) -> list[str]:
    return [e.data["name"] for e in kernel.bus.recent if e.topic == "test.started"]


async def test_plugins_start_in_dependency_order(make_kernel, home):
    recorder(home, "app", ("db", "cache"))
    recorder(home, "cache", ("db",))
    recorder(home, "db")
    async with running(make_kernel(load=["app", "cache", "db"])) as kernel:
        assert started(kernel) == ["db", "cache", "app"]
        assert {kernel.host.plugins[n].state for n in ("app", "cache", "db")} == {"running"}
        assert kernel.host.order[-3:] == ["db", "cache", "app"]


async def test_missing_requirement_fails_only_that_plugin(make_kernel, home):
    recorder(home, "lonely", ("nowhere",))
    recorder(home, "fine")
    async with running(make_kernel(load=["lonely", "fine"])) as kernel:
        lonely = kernel.host.plugins["lonely"]
        assert lonely.state == "failed"
        assert "'nowhere'" in lonely.reason and "not available" in lonely.reason
        assert kernel.host.plugins["fine"].state == "running"


async def test_dependency_cycle_is_refused_with_the_cycle(make_kernel, home):
    recorder(home, "egg", ("hen",))
    recorder(home, "hen", ("egg",))
    recorder(home, "fox")
    async with running(make_kernel(load=["egg", "hen", "fox"])) as kernel:
        for name in ("egg", "hen"):
            assert kernel.host.plugins[name].state == "failed"
            assert "dependency cycle" in kernel.host.plugins[name].reason
            assert "egg" in kernel.host.plugins[name].reason and "hen" in kernel.host.plugins[name].reason
        assert kernel.host.plugins["fox"].state == "running"


async def test_allowlist_and_disable_filter_discovery(make_kernel, home):
    recorder(home, "one")
    recorder(home, "two")
    async with running(make_kernel(load=["one", "pulse"], plugins={"disable": ["pulse"]})) as kernel:
        states = {name: p.state for name, p in kernel.host.plugins.items()}
        assert states["one"] == "running"
        assert states["two"] == "disabled"
        assert states["pulse"] == "disabled"


async def test_empty_allowlist_loads_nothing(make_kernel, home):
    recorder(home, "one")
    async with running(make_kernel(load=[])) as kernel:
        assert all(p.state == "disabled" for p in kernel.host.plugins.values())
        assert kernel.dispatcher.active == set()


async def test_broken_plugins_fail_with_clear_reasons(make_kernel, home):
    write_plugin(home, "nomanifest", "def colony_observe(tick):\n    return 1\n")
    write_plugin(home, "syntax", "def broken(:\n")
    write_plugin(home, "typo", "from colony.core import Manifest\nPLUGIN = Manifest(name='typo')\ndef colony_obsreve(tick):\n    pass\n")
    write_plugin(home, "badarg", "from colony.core import Manifest\nPLUGIN = Manifest(name='badarg')\ndef colony_observe(tock):\n    pass\n")
    write_plugin(home, "exits", "raise SystemExit(3)\n")
    write_plugin(home, "wrongname", "from colony.core import Manifest\nPLUGIN = Manifest(name='other')\n")
    names = ["nomanifest", "syntax", "typo", "badarg", "exits", "wrongname"]
    async with running(make_kernel(load=names)) as kernel:
        reasons = {name: p.reason for name, p in kernel.host.plugins.items() if p.state == "failed"}
        assert "declares no PLUGIN manifest" in reasons["nomanifest"]
        assert "import failed: SyntaxError" in reasons["syntax"]
        assert "colony_obsreve" in reasons["typo"]
        assert "tock" in reasons["badarg"]
        assert "import failed: SystemExit" in reasons["exits"]
        assert "'other'" in reasons["wrongname"]
        assert len(kernel.pm.get_plugins()) == 0


FULL = '''
import trio
from colony.core import Manifest
PLUGIN = Manifest(name="full", version="{version}")
_live = {{}}

def colony_register(registrar):
    registrar.rpc("full.version", lambda: "{version}")
    registrar.route("GET", "/full", lambda request: "hi", price=5)
    registrar.panel("full", lambda: {{"version": "{version}"}})

async def colony_start(ctx):
    _live["ctx"] = ctx
    _live["sub"] = ctx.subscribe("test.*")
    ctx.start_task(_forever, ctx)
    await ctx.store.put("starts", ctx.store.get("starts", 0) + 1)

async def _forever(ctx):
    try:
        await trio.sleep_forever()
    finally:
        ctx.publish("test.task_ended", {{"version": "{version}"}})

async def colony_stop(ctx):
    ctx.publish("test.stopped", {{"version": "{version}"}})

async def colony_health(ctx):
    return {health}

def colony_observe(tick):
    return "{version}"
'''


def full(home: Path, version: str = "1", health: str = "True") -> Path:
    return write_plugin(home, "full", FULL.format(version=version, health=health))


def topics(kernel, topic: str) -> list[dict]:
    return [e.data for e in kernel.bus.recent if e.topic == topic]


async def test_unload_leaves_nothing_behind(make_kernel, home):
    full(home)
    async with running(make_kernel(load=["full"])) as kernel:
        plugin = kernel.host.plugins["full"]
        module_names = list(plugin.modules)
        assert {r.kind for r in kernel.registry.owned_by("full")} == {"rpc", "route", "panel"}
        subscribers = kernel.bus.subscribers
        await kernel.host.unload("full")
        assert plugin.state == "stopped"
        assert kernel.registry.owned_by("full") == []
        assert kernel.bus.subscribers == subscribers - 1
        assert topics(kernel, "test.stopped") == [{"version": "1"}]
        assert topics(kernel, "test.task_ended") == [{"version": "1"}]
        assert kernel.pm.get_plugins() == set()
        assert not any(name in sys.modules for name in module_names)
        assert (await kernel.heartbeat.tick()).observations == {}


async def test_unload_refuses_required_and_pinned_plugins(make_kernel, home):
    recorder(home, "base")
    recorder(home, "top", ("base",))
    write_plugin(home, "pinned", "from colony.core import Manifest\nPLUGIN = Manifest(name='pinned', unloadable=False)\n")
    async with running(make_kernel(load=["base", "top", "pinned"])) as kernel:
        with pytest.raises(PluginError, match="required by top"):
            await kernel.host.unload("base")
        with pytest.raises(PluginError, match="cannot be unloaded"):
            await kernel.host.unload("pinned")
        with pytest.raises(PluginError, match="cannot be swapped"):
            await kernel.host.reload("pinned")
        with pytest.raises(PluginError, match="no plugin named"):
            await kernel.host.unload("ghost")


async def test_load_after_unload_and_new_dropins(make_kernel, home):
    async with running(make_kernel(load=["full"])) as kernel:
        full(home)
        await kernel.host.load("full")
        assert kernel.host.plugins["full"].state == "running"
        with pytest.raises(PluginError, match="already running"):
            await kernel.host.load("full")
        await kernel.host.unload("full")
        await kernel.host.load("full")
        assert kernel.host.plugins["full"].state == "running"
        assert kernel.store.get("full", "starts") == 2


async def test_swap_switches_everything_and_keeps_state(make_kernel, home, tmp_path):
    full(home, "1")
    async with running(make_kernel(load=["full"])) as kernel:
        v2 = tmp_path / "full_v2.py"
        v2.write_text(FULL.format(version="2", health="True"))
        old_modules = list(kernel.host.plugins["full"].modules)
        await kernel.host.swap("full", v2)
        plugin = kernel.host.plugins["full"]
        assert plugin.state == "running" and plugin.manifest.version == "2"
        assert plugin.source.target == str(v2)
        assert kernel.registry.get("rpc", "full.version").value() == "2"
        assert {r.owner for r in kernel.registry.owned_by("full")} == {"full"}
        assert len(kernel.registry.owned_by("full")) == 3
        assert (await kernel.heartbeat.tick()).observations == {"full": "2"}
        assert topics(kernel, "test.stopped") == [{"version": "1"}]
        assert topics(kernel, "test.task_ended") == [{"version": "1"}]
        assert kernel.store.get("full", "starts") == 2  # the store carried the count over
        assert len(kernel.pm.get_plugins()) == 1
        assert not any(name in sys.modules for name in old_modules)
        stages = [e["stage"] for e in topics(kernel, "plugin.swap")]
        assert stages == ["staging", "validated", "started", "healthy", "switched"]


SWAP_FAILURES = {
    "import": ("def broken(:\n", "import failed: SyntaxError"),
    "unknown hook": (
        "from colony.core import Manifest\nPLUGIN = Manifest(name='full')\ndef colony_obsreve(tick):\n    pass\n",
        "colony_obsreve",
    ),
    "wrong name": ("from colony.core import Manifest\nPLUGIN = Manifest(name='impostor')\n", "'impostor'"),
    "start raises": (
        "from colony.core import Manifest\nPLUGIN = Manifest(name='full')\nasync def colony_start(ctx):\n    raise RuntimeError('no db')\n",
        "colony_start raised RuntimeError: no db",
    ),
    "unhealthy": (FULL.format(version="2", health="'disk full'"), "unhealthy: disk full"),
    "register clash": (
        "from colony.core import Manifest\nPLUGIN = Manifest(name='full')\n"
        "def colony_register(registrar):\n    registrar.rpc('node.status', lambda: 1)\n",
        "already registered by plugin 'kernel'",
    ),
}


@pytest.mark.parametrize("case", sorted(SWAP_FAILURES))
async def test_failed_swap_rolls_back_and_old_version_keeps_serving(make_kernel, home, tmp_path, case):
    source, reason = SWAP_FAILURES[case]
    full(home, "1")
    async with running(make_kernel(load=["full"])) as kernel:
        before = {(r.kind, r.key) for r in kernel.registry.owned_by("full")}
        bad = tmp_path / "bad.py"
        bad.write_text(source)
        with pytest.raises(PluginError, match="rolled back") as info:
            await kernel.host.swap("full", bad)
        assert reason in str(info.value)
        plugin = kernel.host.plugins["full"]
        assert plugin.state == "running" and plugin.manifest.version == "1"
        assert kernel.registry.get("rpc", "full.version").value() == "1"
        assert {(r.kind, r.key) for r in kernel.registry.owned_by("full")} == before
        assert (await kernel.heartbeat.tick()).observations == {"full": "1"}
        assert len(kernel.pm.get_plugins()) == 1
        # The old version was never stopped; only an unhealthy new version got as far as needing a stop.
        assert topics(kernel, "test.stopped") == ([{"version": "2"}] if case == "unhealthy" else [])
        stages = [e["stage"] for e in topics(kernel, "plugin.swap")]
        assert stages[-1] == "rolled-back"
        assert reason in topics(kernel, "plugin.swap")[-1]["detail"]


async def test_swap_that_hangs_in_start_times_out_and_rolls_back(make_kernel, home, tmp_path):
    full(home, "1")
    slow = tmp_path / "slow.py"
    slow.write_text("import trio\nfrom colony.core import Manifest\nPLUGIN = Manifest(name='full')\nasync def colony_start(ctx):\n    await trio.sleep_forever()\n")
    async with running(make_kernel(load=["full"], plugins={"start_timeout": 0.2})) as kernel:
        with pytest.raises(PluginError, match="colony_start timed out"):
            await kernel.host.swap("full", slow)
        assert kernel.registry.get("rpc", "full.version").value() == "1"


async def test_reload_picks_up_edited_source(make_kernel, home):
    path = full(home, "1")
    async with running(make_kernel(load=["full"])) as kernel:
        path.write_text(FULL.format(version="3", health="True"))
        await kernel.host.reload("full")
        assert kernel.registry.get("rpc", "full.version").value() == "3"


FLAKY = '''
from colony.core import Manifest
PLUGIN = Manifest(name="flaky")
def colony_observe(tick):
    raise ValueError("sensor offline")
'''


async def test_plugin_that_keeps_failing_is_quarantined(make_kernel, home):
    write_plugin(home, "flaky", FLAKY)
    full(home)
    async with running(make_kernel(load=["flaky", "full"], plugins={"quarantine_after": 3})) as kernel:
        for _ in range(3):
            tick = await kernel.heartbeat.tick()
            assert tick.observations == {"full": "1"}  # the healthy plugin still ran
        flaky = kernel.host.plugins["flaky"]
        await until(lambda: flaky.state == "quarantined")
        assert "3 consecutive failures" in flaky.reason and "sensor offline" in flaky.reason
        assert [e["where"] for e in topics(kernel, "plugin.error")] == ["colony_observe"] * 3
        assert (await kernel.heartbeat.tick()).outcome.errors == 0
        await kernel.host.load("flaky")
        assert kernel.host.plugins["flaky"].state == "running"


async def test_crashing_background_task_is_reported_not_fatal(make_kernel, home):
    write_plugin(home, "crashy", '''
from colony.core import Manifest
PLUGIN = Manifest(name="crashy")
async def boom():
    raise KeyError("gone")
async def colony_start(ctx):
    ctx.start_task(boom)
''')
    async with running(make_kernel(load=["crashy"])) as kernel:
        await until(lambda: topics(kernel, "plugin.error"))
        errors = topics(kernel, "plugin.error")
        assert errors and errors[0]["where"] == "task boom" and "KeyError" in errors[0]["error"]
        assert kernel.host.plugins["crashy"].state == "running"


async def test_stop_all_calls_every_stop_in_reverse_order(make_kernel, home):
    for name, requires in (("low", ()), ("high", ("low",))):
        write_plugin(home, name, f'''
from colony.core import Manifest
PLUGIN = Manifest(name="{name}", requires={requires!r})
async def colony_stop(ctx):
    ctx.publish("test.stop", {{"name": "{name}"}})
''')
    kernel = make_kernel(load=["low", "high"])
    async with running(kernel):
        pass
    assert [e.data["name"] for e in kernel.bus.recent if e.topic == "test.stop"] == ["high", "low"]
    assert {kernel.host.plugins[n].state for n in ("low", "high")} == {"stopped"}


async def test_registrations_go_live_only_after_start_succeeds(make_kernel, home):
    write_plugin(home, "slowstart", '''
import trio
from colony.core import Manifest
PLUGIN = Manifest(name="slowstart")
seen = {}

def colony_register(registrar, ctx):
    seen["ctx"] = ctx
    registrar.rpc("slowstart.ping", lambda: ctx.store.get("ready"))

gate = trio.Event()

async def colony_start(ctx):
    await gate.wait()
    await ctx.store.put("ready", True)
''')
    async with running(make_kernel(load=[])) as kernel:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(kernel.host.load, "slowstart")
            plugins = kernel.host.plugins
            await until(lambda: plugins["slowstart"].state == "starting" and plugins["slowstart"].obj is not None)
            assert kernel.registry.get("rpc", "slowstart.ping") is None
            plugins["slowstart"].obj.gate.set()
        assert kernel.registry.get("rpc", "slowstart.ping").value() is True
        assert kernel.host.plugins["slowstart"].obj.seen["ctx"].name == "slowstart"


async def test_swap_by_source_refuses_unknown_names_without_writing(make_kernel, home):
    from colony.core.control import Session
    from colony.core.rpc import RPCError

    async with running(make_kernel(load=["pulse"])) as kernel:
        for name in ("../../etc/evil", "/abs/x", "nul\x00"):
            with pytest.raises(RPCError, match="no plugin named"):
                await kernel.control.call("plugins.swap", {"name": name, "source": "x = 1"}, Session(None, "unix", True))  # type: ignore[arg-type]
        assert not (home / "swaps").exists()


async def test_disable_persists_across_restarts_until_enabled(make_kernel, home):
    async with running(make_kernel(load=["pulse"])) as kernel:
        await kernel.host.disable("pulse")
        assert kernel.host.plugins["pulse"].state == "disabled"
    kernel = make_kernel(load=["pulse"])
    async with running(kernel):
        assert kernel.host.plugins["pulse"].state == "disabled"
        await kernel.host.enable("pulse")
        assert kernel.host.plugins["pulse"].state == "running"
    kernel = make_kernel(load=["pulse"])
    async with running(kernel):
        assert kernel.host.plugins["pulse"].state == "running"


async def test_recent_errors_and_panels_over_rpc(make_kernel, home):
    from colony.core.control import Session

    write_plugin(home, "flaky", FLAKY)
    async with running(make_kernel(load=["flaky", "pulse"], plugins={"quarantine_after": 0})) as kernel:
        await kernel.heartbeat.tick()
        session = Session(None, "unix", True)  # type: ignore[arg-type]
        info = await kernel.control.call("plugins.info", {"name": "flaky"}, session)
        (error,) = info["recent_errors"]
        assert error["where"] == "colony_observe" and "sensor offline" in error["traceback"]
        assert await kernel.control.call("panels.list", None, session) == [{"name": "pulse", "owner": "pulse", "title": "Heartbeat"}]
        panel = await kernel.control.call("panels.get", {"name": "pulse"}, session)
        assert panel["data"]["gauges"]["beats"] == 1 and len(panel["data"]["series"]["tick_ms"]) == 1


async def test_swap_back_to_the_installed_version(make_kernel, home, tmp_path):
    import colony.plugins.pulse as pulse

    async with running(make_kernel(load=["pulse"])) as kernel:
        patched = tmp_path / "pulse.py"
        patched.write_text(Path(pulse.__file__).read_text().replace('version="1.0.0"', 'version="9.9.9"'))
        await kernel.host.swap("pulse", patched)
        assert kernel.host.plugins["pulse"].source.kind == "file"
        await kernel.host.swap("pulse", None, installed=True)
        plugin = kernel.host.plugins["pulse"]
        assert (plugin.source.kind, plugin.manifest.version) == ("builtin", "1.0.0")
        write_plugin(home, "onlyfile", "from colony.core import Manifest\nPLUGIN = Manifest(name='onlyfile')\n")
        await kernel.host.load("onlyfile")
        with pytest.raises(PluginError, match="no installed version"):
            await kernel.host.swap("onlyfile", None, installed=True)


SECRETIVE = '''
from colony.core import Manifest, Option
PLUGIN = Manifest(name="secretive", config={
    "api_key": Option("", "A key.", secret=True),
    "unset_key": Option("", "Another key.", secret=True),
    "model": Option("m1", "Not a secret."),
})
'''


async def test_plugins_info_never_shows_a_secret_option(make_kernel, home):
    from colony.core.control import Session

    write_plugin(home, "secretive", SECRETIVE)
    async with running(make_kernel(load=["secretive"], plugin={"secretive": {"api_key": "sk-live-123"}})) as kernel:
        info = await kernel.control.call("plugins.info", {"name": "secretive"}, Session(None, "unix", True))  # type: ignore[arg-type]
        assert info["config"] == {"api_key": "<set>", "unset_key": "", "model": "m1"}
        assert "sk-live-123" not in repr(info)
