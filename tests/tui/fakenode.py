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


class FakeNode:
    """Answers from `RESULTS` (overridable); `mode` makes it misbehave: garbage, version, shape, close-first."""

    def __init__(self, path: Path, mode: str = "ok", results: dict[str, Any] | None = None) -> None:
        self.path = path
        self.mode = mode
        self.results = {**RESULTS, **(results or {})}
        self.connections = 0
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
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
        return [json.dumps(reply).encode() + b"\n"]
