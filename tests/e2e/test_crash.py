"""SIGKILL `colony serve` in the middle of a burst of writes: every acknowledged write survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from colony.core.store import Store

BURST = '''
from colony.core import Manifest
PLUGIN = Manifest(name="burst")

async def colony_start(ctx):
    ctx.start_task(write_forever, ctx)

async def write_forever(ctx):
    i = 0
    with open(ctx.home / "acked.txt", "a", buffering=1) as acked:
        while True:
            async with ctx.store.transaction() as txn:
                for j in range(10):
                    txn.put(f"k{i:08d}-{j}", {"i": i, "j": j})
            acked.write(f"{i}\\n")  # written only after the commit returned
            i += 1
'''


def serve(home: Path, sock: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COLONY_HOME": str(home), "COLONY_CONTROL__SOCKET": str(sock), "COLONY_LOAD_PLUGINS": "burst,pulse"}
    return subprocess.Popen(
        [sys.executable, "-m", "colony.core.cli", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_sigkill_mid_burst_loses_no_acknowledged_write(home, sockdir):
    (home / "plugins" / "burst.py").write_text(BURST)
    acked = home / "acked.txt"
    proc = serve(home, sockdir / "n.sock")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not acked.exists() or len(acked.read_text().splitlines()) < 300):
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = acked.read_text().splitlines()
    complete = [int(line) for line in lines if line.strip()]
    assert len(complete) >= 300, proc.stderr.read().decode() if proc.stderr else ""
    store = Store(home / "state.lmdb")
    try:
        for i in complete:
            for j in range(10):
                assert store.get("burst", f"k{i:08d}-{j}") == {"i": i, "j": j}, f"acknowledged write {i}/{j} lost"
        # Transactions are all-or-nothing even for the one in flight at the kill.
        counts = {}
        for key, _ in store.scan("burst"):
            counts[key.split("-")[0]] = counts.get(key.split("-")[0], 0) + 1
        assert set(counts.values()) == {10}
    finally:
        store.close()

    # The node restarts on the same home and keeps working.
    proc = serve(home, sockdir / "n.sock")
    try:
        out = b""
        deadline = time.monotonic() + 30
        while b"Press Ctrl-C" not in out and time.monotonic() < deadline:
            out += proc.stdout.readline()  # type: ignore[union-attr]
        assert b"plugins: burst, pulse" in out
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
