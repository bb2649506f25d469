"""The distribution: a wheel holds every package under `colony.*` and the entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_the_namespace_packages_and_entry_points(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("colony-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("colony/core/kernel.py", "colony/core/hookspecs.py", "colony/plugins/pulse/__init__.py", "colony/testing/__init__.py", "colony/tui/__init__.py"):
        assert module in names, module
    assert not any(name.startswith(("core/", "plugins/", "tests/")) for name in names)
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    builtins = text.split("[colony]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    for name in ("chain", "gateway", "identity", "pulse"):
        assert f"{name} = colony.plugins.{name}" in builtins, builtins
    assert "[pytest11]\ncolony = colony.testing.pytest_plugin" in text
    assert "colony = colony.core.cli:main" in text
