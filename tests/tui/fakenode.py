"""A tiny scripted node on a Unix socket (own thread and asyncio loop) for deterministic TUI tests."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

TS = 1795429253.5
PULSE = {
    "name": "pulse", "version": "1.0.0", "source_text": "builtin colony.plugins.pulse", "state": "running", "reason": "",
    "requires": [], "hooks": ["colony_act", "colony_observe", "colony_plan"], "calls": 27, "errors": 0, "mean_ms": 0.158,
    "last_error": "", "registrations": [{"kind": "rpc", "key": "pulse.stats", "owner": "pulse", "doc": "Beats so far."}, {"kind": "panel", "key": "pulse", "owner": "pulse", "title": "Heartbeat"}],
}
FLAKY = {**PULSE, "name": "flaky", "version": "0.2.0", "source_text": "file /srv/flaky.py", "state": "quarantined", "reason": "3 errors in colony_observe", "hooks": [], "calls": 9, "errors": 3, "registrations": []}
EVENTS = [
    {"seq": 1, "ts": TS, "topic": "plugin.state", "source": "kernel", "data": {"plugin": "pulse", "state": "running", "reason": ""}},
    {"seq": 2, "ts": TS + 2, "topic": "heartbeat.tick", "source": "kernel", "data": {"number": 1, "duration_ms": 1.2, "steps": 1, "errors": 0}},
    {"seq": 3, "ts": TS + 3, "topic": "plugin.error", "source": "flaky", "data": {"plugin": "flaky", "where": "colony_observe", "error": "RuntimeError: sensor offline"}},
    {"seq": 4, "ts": TS + 4, "topic": "heartbeat.tick", "source": "kernel", "data": {"number": 2, "duration_ms": 1.1, "steps": 1, "errors": 0}},
]
EVENT_LINES = [json.dumps({"jsonrpc": "2.0", "method": "event", "params": {"subscription": 1, "dropped": 0, **e}}).encode() + b"\n" for e in EVENTS]
RESULTS: dict[str, Any] = {
    "rpc.hello": {"protocol": 1, "colony": "0.1.0", "node": "f00dfeed", "name": "fake", "session": 1},
    "node.status": {
        "node": "f00dfeed", "name": "fake", "colony": "0.1.0", "uptime": 3725.0,
        "heartbeat": {"enabled": True, "interval": 2.0, "ticks": 2, "tick_number": 2, "last_tick_ms": 1.1, "mean_tick_ms": 1.15, "last_tick_at": TS + 4},
        "plugins": {"running": 1, "quarantined": 1}, "events": {"published": 4, "dropped": 0, "subscribers": 1}, "errors": 3,
    },
    "plugins.list": [FLAKY, PULSE],
    "plugins.info": {**FLAKY, "config": {"threshold": 3}, "manifest": {"description": "Fails on purpose."}, "hook_stats": {"colony_observe": {"calls": 9, "errors": 3, "mean_ms": 0.2}},
                     "recent_errors": [{"ts": TS + 3, "where": "colony_observe", "error": "RuntimeError: sensor offline", "traceback": "Traceback (most recent call last):\n  File \"/srv/flaky.py\", line 9, in colony_observe\nRuntimeError: sensor offline"}]},
    "panels.list": [{"name": "pulse", "owner": "pulse", "title": "Heartbeat"}],
    "panels.get": {"name": "pulse", "owner": "pulse", "title": "Heartbeat", "data": {"gauges": {"beats": 2, "tick_rate_hz": 0.5}, "series": {"tick_ms": [1.0, 1.4, 1.1, 0.9, 1.3]}, "table": {"columns": ["stage", "ms"], "rows": [["observe", 0.01], ["act", 0.02]]}, "text": "steady"}},
    "events.subscribe": {"subscription": 1},
    "events.unsubscribe": {"subscription": 1, "dropped": 0},
    "audit.verify": {"ok": True, "entries": 1, "bad_seq": None, "reason": ""},
    "audit.entries": [{**EVENTS[0], "prev": "0" * 64, "hash": "ab" * 32}],
}


class Refuse(Exception):
    """Raised by a callable result: the fake node answers with this JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class FakeNode:
    """Answers from `RESULTS` (overridable; a callable result gets the params); `mode` makes it misbehave: garbage, version, shape, close-first.

    Every request's method and params are kept in `requests`.
    """

    def __init__(self, path: Path, mode: str = "ok", results: dict[str, Any] | None = None) -> None:
        self.path = path
        self.mode = mode
        self.results = {**RESULTS, **(results or {})}
        self.connections = 0
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> FakeNode:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(asyncio.start_unix_server(self.serve, str(self.path)), self.loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _shutdown(self) -> None:
        """Stop listening and end every connection handler, so none is left half-run."""
        self.server.close()
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, per the mode."""
        self.connections += 1
        if self.mode == "close-first" and self.connections == 1:
            writer.close()
            return
        try:
            while line := await reader.readline():
                request = json.loads(line)
                for reply in self.answer(request):
                    writer.write(reply)
                await writer.drain()
                if request.get("method") == "events.subscribe" and self.mode in ("ok", "close-first"):
                    await asyncio.sleep(0.1)  # the client registers the subscription once the reply is in
                    writer.writelines(EVENT_LINES)
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def answer(self, request: dict[str, Any]) -> list[bytes]:
        """The lines to send back for one request."""
        method = request.get("method")
        self.requests.append((str(method), request.get("params") or {}))
        if self.mode == "garbage":
            return [b"this is not json {{{\n", b"[1, 2, 3]\n"]
        result = self.results.get(method)
        if self.mode == "version" and method == "rpc.hello":
            result = {**result, "protocol": 99}
        if self.mode == "shape" and method in ("node.status", "plugins.list", "panels.list"):
            result = "surprise" if method == "node.status" else [1, "two", None]
        if method not in self.results:
            reply = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": f"method not found: {method}"}}
        else:
            try:
                reply = {"jsonrpc": "2.0", "id": request["id"], "result": result(request.get("params") or {}) if callable(result) else result}
            except Refuse as exc:
                reply = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": exc.code, "message": exc.message}}
        return [json.dumps(reply).encode() + b"\n"]

    def called(self, method: str) -> list[dict[str, Any]]:
        """The params of every call of `method` so far."""
        return [params for name, params in list(self.requests) if name == method]


# -- the soul, the budgets and the nine systems, shaped as the issue 7 contract says ----------------

GOAL = {"id": "g-7", "text": "summarise README.md into SUMMARY.md", "status": "active", "priority": 7, "source": "nudge", "created": TS, "plan": None}
PLAN = {
    "id": "p-3", "goal": "g-7", "source": "llm", "replans": 1, "approved": True,
    "steps": [
        {"action": "read_file", "params": {"path": "README.md"}, "status": "ok", "result": {"bytes": 4210}},
        {"action": "run_shell", "params": {"cmd": "wc -w README.md"}, "status": "refused", "result": {"kernel": {"error": "run_shell repeated 4 times", "refused": "repeat"}}},
        {"action": "think", "params": {"about": "the summary"}, "status": "running", "result": None},
        {"action": "write_file", "params": {"path": "SUMMARY.md"}, "status": "pending", "result": None},
    ],
}
PENDING = {
    "id": "p-4", "goal": "g-2", "source": "autonomy", "replans": 0, "approved": False,
    "steps": [{"action": "search_code", "params": {"query": "TODO"}, "status": "pending", "result": None}, {"action": "think", "params": {}, "status": "pending", "result": None}],
}
BUDGETS = {
    "day": "2026-11-18",
    "kinds": {
        "tool_calls": {"tick_used": 3, "tick_limit": 10, "day_used": 412, "day_limit": 2000},
        "tokens": {"tick_used": 5400, "tick_limit": None, "day_used": 910_000, "day_limit": 1_000_000},
        "llm_micro_usd": {"tick_used": 1200, "tick_limit": None, "day_used": 184_500, "day_limit": 500_000},
        "money": {"tick_used": 0, "tick_limit": None, "day_used": 0, "day_limit": None},
    },
    "tick": 1234,
    "guard": {"repeat_limit": 3, "recent": [], "trips": 1, "recent_trips": [{"action": "run_shell", "params": '{"cmd":"wc -w README.md"}', "count": 4, "tick": 1230, "at": TS + 5}]},
}
SOUL_STATUS = {
    "tier": "T1", "reason": "", "llm": True, "goal": GOAL, "plan": PLAN, "budgets": BUDGETS, "breaker": {"open": False, "reason": ""},
    "lessons": ["run_shell refused: the same command four times in a row", "read_file before write_file avoids clobbering", "T2 answers are worth it only for plans over 5 steps"],
    "chat": [{"role": "operator", "text": "what are you working on?", "at": TS + 10}, {"role": "soul", "text": "Summarising README.md: read it, now thinking.", "at": TS + 11}],
}
OVERVIEW = {
    "tick": 1234,
    "systems": {
        "free_energy": {"F": 0.4213, "trend": -0.0121, "regime": "learn"},
        "cortex": {"accuracy": 0.71, "curiosity": 0.35, "valence": 0.12, "arousal": 0.44, "drive": "explore", "experiences": 812},
        "brain": {"warm": True, "examples": 1500, "predictions": 640},
        "genesis": {"templates": 14, "mean_fitness": 0.62, "generation": 9},
        "hivemind": {"trails": 4, "covered_actions": ["read_file", "search_code", "run_shell", "think"]},
        "synthesis": {"weights": {"brain": 0.31, "cortex": 0.27, "genesis": 0.22, "hivemind": 0.2}, "coherence": 0.78, "conflicts": 3, "predictions": 120},
        "evaluation": {"brier": {"brain": 0.18, "cortex": 0.21, "genesis": 0.24, "hivemind": 0.23}, "sync_benefit": 0.12, "records": 480},
        "feedback": {"lessons": 37, "rules": 5, "failure_rate": 0.18},
        "autonomy": {"plans": 52, "diagnosis": "steady: reusing templates"},
        "tenth": {"mood": 0.66, "votes": 41},
    },
    "F": 0.4213, "regime": "learn", "psi": 0.3127, "psi_trend": 0.0042, "fitness": 0.5811,
    "bloch": {"theta": 1.12, "phi": 2.3, "exploration": 0.3565, "regime": "learn"},
    "fired": ["brain_training", "peer_sync"],
}


class FakeSoul:
    """The soul's RPC methods over a little state: chat replies echo, nudges make goals, approvals and rejections stick."""

    def __init__(self, remember_chat: bool = True) -> None:
        self.status: dict[str, Any] = json.loads(json.dumps(SOUL_STATUS))
        self.plans: list[dict[str, Any]] = json.loads(json.dumps([PLAN, PENDING]))
        self.remember_chat = remember_chat  # False: soul.status never lists the exchange

    def results(self) -> dict[str, Any]:
        """The methods, for `FakeNode(results=...)`."""
        return {
            "soul.status": lambda params: self.status,
            "soul.plans": lambda params: self.plans,
            "node.budgets": BUDGETS,
            "soul.chat": self.chat,
            "soul.nudge": self.nudge,
            "soul.approve": lambda params: self.decide(params, True),
            "soul.reject": lambda params: self.decide(params, False),
            "soul.abandon": self.abandon,
        }

    def chat(self, params: dict[str, Any]) -> dict[str, Any]:
        reply = f"You said: {params['message']}"
        if self.remember_chat:
            self.status["chat"] += [{"role": "operator", "text": params["message"], "at": TS + 20}, {"role": "soul", "text": reply, "at": TS + 21}]
        return {"reply": reply, "tier": "T0", "calls": [{"name": "read_file", "args": {"path": "README.md"}, "ok": True}]}

    def nudge(self, params: dict[str, Any]) -> dict[str, Any]:
        goal = {**GOAL, "id": "g-8", "text": params["text"], "priority": params.get("priority", 5), "source": "nudge"}
        self.status["goal"], self.status["plan"] = goal, None
        return goal

    def decide(self, params: dict[str, Any], approve: bool) -> dict[str, Any]:
        plan = next((p for p in self.plans if p["id"] == params["plan_id"]), None)
        if plan is None:
            raise Refuse(-32602, f"no plan {params['plan_id']}")
        if approve:
            plan["approved"] = True
        else:
            self.plans.remove(plan)
        return plan

    def abandon(self, params: dict[str, Any]) -> dict[str, Any]:
        goal = {**self.status["goal"], "status": "abandoned"}
        assert goal["id"] == params["goal_id"]
        self.status["goal"], self.status["plan"] = None, None
        return goal
