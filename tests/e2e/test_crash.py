"""SIGKILL `colony serve` in the middle of a burst of writes: every acknowledged write survives."""

from __future__ import annotations

import os
import signal
import time

from colony.core.store import Store
from tests.conftest import write_plugin

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


def test_sigkill_mid_burst_loses_no_acknowledged_write(serve, home):
    write_plugin(home, "burst", BURST)
    acked = home / "acked.txt"
    node = serve("burst,pulse")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not acked.exists() or len(acked.read_text().splitlines()) < 300):
        time.sleep(0.05)
    os.kill(node.proc.pid, signal.SIGKILL)
    node.proc.wait(10)

    complete = [int(line) for line in acked.read_text().splitlines()]
    assert len(complete) >= 300
    store = Store(home / "state.lmdb")
    try:
        for i in complete:
            for j in range(10):
                assert store.get("burst", f"k{i:08d}-{j}") == {"i": i, "j": j}, f"acknowledged write {i}/{j} lost"
        # Transactions are all-or-nothing, even the one in flight at the kill.
        sizes: dict[str, int] = {}
        for key, _ in store.scan("burst"):
            sizes[key.split("-")[0]] = sizes.get(key.split("-")[0], 0) + 1
        assert set(sizes.values()) == {10}
    finally:
        store.close()

    restarted = serve("burst,pulse")
    assert "plugins: burst, pulse" in restarted.banner
    assert restarted.stop()[0] == 0
