"""`colony serve` and the CLI as real processes: banner, steering commands, events, audit, clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import write_plugin
from tests.e2e.conftest import COLONY

PROBE = '''
from colony.core import Manifest
PLUGIN = Manifest(name="probe", version="{version}")

def colony_register(registrar):
    registrar.rpc("probe.version", lambda: "{version}")

async def colony_stop(ctx):
    (ctx.home / "probe-stopped").write_text("{version}")
'''


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_identity_and_stops_cleanly(serve, home, signum):
    write_plugin(home, "probe", PROBE.format(version="1"))
    node = serve("pulse,probe")
    status = json.loads(node.cli("status", "--json").stdout)
    assert f"node {status['node']} (default)" in node.banner
    assert f"home:    {home}" in node.banner and f"socket:  {node.socket}" in node.banner
    assert "plugins: probe, pulse" in node.banner
    assert (home / "state.lmdb").is_dir() and oct(node.socket.stat().st_mode & 0o777) == "0o600"
    code, out = node.stop(signum)  # communicate(timeout=15) inside: a node that hangs fails here
    assert code == 0 and "stopped cleanly" in out
    assert (home / "probe-stopped").read_text() == "1"
    assert not node.socket.exists()


def test_steering_commands(serve, home, tmp_path):
    write_plugin(home, "probe", PROBE.format(version="1"))
    node = serve("pulse,probe")
    assert "heartbeat tick" in node.cli("status").stdout

    rows = {r["name"]: r for r in json.loads(node.cli("plugins", "list", "--json").stdout)}
    assert rows["pulse"]["source"]["kind"] == "builtin" and rows["probe"]["source"]["kind"] == "file"
    assert rows["pulse"]["state"] == "running" and "colony_observe" in rows["pulse"]["hooks"]
    assert {"calls", "mean_ms", "errors", "reason", "version"} <= set(rows["pulse"])
    table = node.cli("plugins", "list").stdout
    assert table.splitlines()[0].split() == ["NAME", "VERSION", "STATE", "CALLS", "MEAN_MS", "ERRORS", "SOURCE"]

    assert "probe 1: stopped" in node.cli("plugins", "unload", "probe").stdout
    failed = node.cli("plugins", "unload", "probe", check=False)
    assert failed.returncode == 1 and "not running" in failed.stderr
    assert "probe 1: running" in node.cli("plugins", "load", "probe").stdout
    assert "probe 1: running" in node.cli("plugins", "reload", "probe").stdout

    v2 = tmp_path / "probe_v2.py"
    v2.write_text(PROBE.format(version="2"))
    assert "probe 2: running" in node.cli("plugins", "swap", "probe", "--from", str(v2)).stdout
    assert json.loads(node.cli("rpc", "probe.version").stdout) == "2"
    bad = tmp_path / "bad.py"
    bad.write_text("def oops(:\n")
    refused = node.cli("plugins", "swap", "probe", "--from", str(bad), check=False)
    assert refused.returncode == 1 and "rolled back" in refused.stderr and "SyntaxError" in refused.stderr
    assert json.loads(node.cli("rpc", "probe.version").stdout) == "2"

    recent = node.cli("events", "--topic", "plugin.swap", "--json").stdout.splitlines()
    stages = [json.loads(line)["data"]["stage"] for line in recent]
    assert "switched" in stages and stages[-1] == "rolled-back"
    assert "audit log intact" in node.cli("audit", "verify").stdout
    unknown = node.cli("rpc", "no.such", check=False)
    assert unknown.returncode == 1 and "method not found" in unknown.stderr


def test_events_follow_streams_live_events(serve):
    node = serve("pulse")
    follower = subprocess.Popen(
        [*COLONY, "events", "--follow", "--limit", "0", "--topic", "plugin.*", "--json", "--socket", str(node.socket)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20  # the follower's subscription must exist before the swap
        while json.loads(node.cli("rpc", "node.status").stdout)["events"]["subscribers"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        node.cli("plugins", "reload", "pulse")
        seen: list[dict] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(e["data"].get("stage") == "switched" for e in seen):
            seen.append(json.loads(follower.stdout.readline()))  # type: ignore[union-attr]
        assert all(e["topic"].startswith("plugin.") for e in seen)
        assert [e["data"]["stage"] for e in seen if e["topic"] == "plugin.swap"][:2] == ["staging", "validated"]
    finally:
        follower.terminate()
        follower.wait(10)


def test_audit_verify_detects_tampering_across_a_restart(serve, home):
    import lmdb
    import msgpack

    node = serve("pulse")
    node.cli("plugins", "reload", "pulse")
    assert node.stop()[0] == 0
    env = lmdb.open(str(home / "state.lmdb"), max_dbs=16)
    db = env.open_db(b"_audit")
    with env.begin(write=True, db=db) as txn:
        key, raw = next(iter(txn.cursor()))
        entry = msgpack.unpackb(raw)
        entry["source"] = "forged"
        txn.put(key, msgpack.packb(entry))
    env.close()
    node = serve("pulse")
    result = node.cli("audit", "verify", check=False)
    assert result.returncode == 1 and "TAMPERED at entry 1" in result.stderr


def test_cli_without_a_node_says_so(sockdir):
    result = subprocess.run([*COLONY, "status", "--socket", str(sockdir / "none.sock")], capture_output=True, text=True)
    assert result.returncode == 2 and "no node is listening" in result.stderr


def test_second_node_on_the_same_socket_is_refused(serve, home, sockdir):
    node = serve("pulse")
    env = {**os.environ, "COLONY_HOME": str(home.parent / "other"), "COLONY_CONTROL__SOCKET": str(node.socket)}
    result = subprocess.run([*COLONY, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "already serving" in result.stderr
    assert json.loads(node.cli("status", "--json").stdout)["name"] == "default"


def test_bad_config_is_a_clear_error(home):
    (home / "colony.toml").write_text("[heartbeat]\ninterval = 'soon'\n")
    result = subprocess.run([*COLONY, "--home", str(home), "serve"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "heartbeat.interval: expected float" in result.stderr


def test_colony_serve_never_loads_textual(serve, home):
    write_plugin(home, "modules", '''
import sys
from colony.core import Manifest
PLUGIN = Manifest(name="modules")

def colony_register(registrar):
    registrar.rpc("modules.ui", lambda: sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich", "textual_plotext")))
''')
    node = serve("pulse,modules")
    node.cli("plugins", "list")  # the CLI process is separate; this exercises the node's whole RPC path
    assert json.loads(node.cli("rpc", "modules.ui").stdout) == []
