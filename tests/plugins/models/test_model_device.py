"""tinygrad's setup: the zig cc shim when no clang exists, the cache under the home, the device."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, os, sys
from pathlib import Path
from colony.plugins.models import device
name = device.setup(Path(sys.argv[1]))
assert device.setup(Path("/elsewhere")) == name  # idempotent: the first call wins
from tinygrad import Tensor
print(json.dumps({"device": name, "value": (Tensor([1.0, 2.0]) * 3).tolist(), "cc": os.environ.get("CC"), "cachedb": os.environ["CACHEDB"]}))
"""


def test_setup_compiles_on_the_cpu_with_the_zig_shim_and_a_home_cache(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "CACHEDB", "DEV")}
    if shutil.which("clang") is not None:  # hide a system clang so the shim path is what runs
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "clang").exists())
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["device"] in ("CPU", "CUDA") and result["value"] == [3.0, 6.0]
    assert result["cachedb"] == str(tmp_path / "models" / "tinygrad-cache.db")
    if result["device"] == "CPU":
        shim = tmp_path / "models" / "cc"
        assert result["cc"] == str(shim) and os.access(shim, os.X_OK)
        assert (tmp_path / "models" / "tinygrad-cache.db").exists()
