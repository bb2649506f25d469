"""The dispatcher: pluggy's order, argument pruning, async, firstresult, isolation, timing."""

from __future__ import annotations

import pytest

from colony.core.dispatch import Dispatcher, PluginManager
from colony.core.hookspecs import hookimpl


class Recorder:
    """A plugin that records its calls into a shared log."""

    def __init__(self, name: str, log: list[str], result: object = None) -> None:
        self.name, self.log, self.result = name, log, result

    def colony_observe(self, tick: object) -> object:
        self.log.append(self.name)
        return self.result


class First(Recorder):
    @hookimpl(tryfirst=True)
    def colony_observe(self, tick: object) -> object:
        return super().colony_observe(tick)


class Last(Recorder):
    @hookimpl(trylast=True)
    def colony_observe(self, tick: object) -> object:
        return super().colony_observe(tick)


def build(*plugins: tuple[str, object]) -> Dispatcher:
    pm = PluginManager()
    dispatcher = Dispatcher(pm)
    for name, plugin in plugins:
        pm.register(plugin, name=name)
        dispatcher.activate(name)
    return dispatcher


async def test_call_order_equals_pluggys():
    ours: list[str] = []
    plugins = [
        ("a", Recorder("a", ours)),
        ("z", Last("z", ours)),
        ("b", Recorder("b", ours)),
        ("f", First("f", ours)),
        ("c", Recorder("c", ours)),
    ]
    dispatcher = build(*plugins)
    await dispatcher.collect("colony_observe", tick=None)
    theirs: list[str] = []
    for _, plugin in plugins:
        plugin.log = theirs  # type: ignore[attr-defined]
    dispatcher.pm.hook.colony_observe(tick=None)
    assert ours == theirs == ["f", "c", "b", "a", "z"]


async def test_arguments_are_pruned_to_what_each_implementation_declares():
    seen: dict[str, tuple] = {}

    class Full:
        def colony_verify(self, tick, step, result):
            seen["full"] = (tick, step, result)

    class Partial:
        def colony_verify(self, result):
            seen["partial"] = (result,)

    class NoArgs:
        def colony_verify(self):
            seen["none"] = ()

    dispatcher = build(("full", Full()), ("partial", Partial()), ("none", NoArgs()))
    await dispatcher.collect("colony_verify", tick=1, step=2, result=3)
    assert seen == {"full": (1, 2, 3), "partial": (3,), "none": ()}


async def test_async_implementations_are_awaited_and_firstresult_skips_none():
    class AsyncNone:
        async def colony_gate(self, tick):
            return None

    class AsyncAnswer:
        async def colony_gate(self, tick):
            return "think"

    class Later:
        def colony_gate(self, tick):
            raise AssertionError("firstresult must stop at the first answer")

    # Registered last = called first: AsyncNone, then AsyncAnswer, then Later.
    dispatcher = build(("later", Later()), ("answer", AsyncAnswer()), ("none", AsyncNone()))
    assert await dispatcher.first("colony_gate", tick=None) == ("answer", "think")
    # pluggy alone returns the first coroutine object even though it resolves to None.
    coroutine = dispatcher.pm.hook.colony_gate(tick=None)
    assert coroutine is not None and hasattr(coroutine, "send")
    coroutine.close()


async def test_a_failing_implementation_does_not_stop_the_others():
    failures: list[tuple[str, str, str]] = []
    log: list[str] = []

    class Broken:
        def colony_observe(self, tick):
            raise RuntimeError("kaput")

    dispatcher = build(("before", Recorder("before", log, 1)), ("broken", Broken()), ("after", Recorder("after", log, 2)))
    dispatcher.on_failure = lambda plugin, where, exc: failures.append((plugin, where, str(exc)))
    results = await dispatcher.collect("colony_observe", tick=None)
    assert results == [("after", 2), ("before", 1)]
    assert failures == [("broken", "colony_observe", "kaput")]
    stats = dispatcher.stats["broken"]
    assert (stats.calls, stats.errors, stats.consecutive_failures) == (1, 1, 1)
    assert stats.hooks["colony_observe"].errors == 1
    assert "RuntimeError: kaput" in stats.last_error


async def test_calls_are_timed_and_success_resets_the_failure_streak():
    class Sometimes:
        fail = True

        def colony_observe(self, tick):
            if self.fail:
                raise ValueError("no")
            return "yes"

    plugin = Sometimes()
    dispatcher = build(("sometimes", plugin))
    await dispatcher.collect("colony_observe", tick=None)
    await dispatcher.collect("colony_observe", tick=None)
    assert dispatcher.stats["sometimes"].consecutive_failures == 2
    plugin.fail = False
    assert await dispatcher.collect("colony_observe", tick=None) == [("sometimes", "yes")]
    stats = dispatcher.stats["sometimes"]
    assert stats.consecutive_failures == 0 and stats.calls == 3 and stats.seconds > 0
    assert stats.hooks["colony_observe"].mean_ms > 0


async def test_only_active_plugins_receive_broadcast_hooks():
    log: list[str] = []
    dispatcher = build(("on", Recorder("on", log)), ("off", Recorder("off", log)))
    dispatcher.deactivate("off")
    await dispatcher.collect("colony_observe", tick=None)
    assert log == ["on"]
    dispatcher.replace("on", "off")
    await dispatcher.collect("colony_observe", tick=None)
    assert log == ["on", "off"]


async def test_call_plugin_reaches_one_plugin_and_propagates_errors():
    class Starter:
        async def colony_start(self, ctx):
            raise OSError("port taken")

    dispatcher = build(("starter", Starter()), ("quiet", Recorder("quiet", [])))
    assert await dispatcher.call_plugin("quiet", "colony_start", ctx=None) is None
    with pytest.raises(OSError, match="port taken"):
        await dispatcher.call_plugin("starter", "colony_start", ctx=None)


def test_unmarked_colony_functions_count_and_typos_are_caught():
    import pluggy

    class Typo:
        def colony_obsrve(self, tick):
            pass

    pm = PluginManager()
    pm.register(Typo(), name="typo")
    with pytest.raises(pluggy.PluginValidationError, match="colony_obsrve"):
        pm.check_pending()
