"""A real anvil chain for tests: found on PATH or installed from the npm registry on first use."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

PACKAGE = "@foundry-rs/anvil"
CACHE = Path(os.environ.get("COLONY_TOOLS", Path.home() / ".cache" / "colony" / "tools"))


class AnvilUnavailable(RuntimeError):
    """anvil is neither installed nor installable here."""


def anvil_path() -> Path:
    """The anvil binary: $PATH first, else a copy installed with npm into the tools cache."""
    found = shutil.which("anvil")
    if found:
        return Path(found)
    local = CACHE / "node_modules" / ".bin" / "anvil"
    if not local.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise AnvilUnavailable("anvil is not on PATH and npm is not installed to fetch it")
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", PACKAGE], capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not local.exists():
            raise AnvilUnavailable(f"npm install {PACKAGE} failed: {done.stderr[-2000:]}")
    return local


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Anvil:
    """An anvil process on a loopback port; `url` is its JSON-RPC endpoint."""

    def __init__(self, *args: str, chain_id: int = 31337) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.chain_id = chain_id
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Anvil:
        """Start anvil and wait until it answers."""
        cmd = [str(anvil_path()), "--port", str(self.port), "--chain-id", str(self.chain_id), "--silent", *self.args]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AnvilUnavailable(f"anvil exited: {self.process.stderr.read().decode()[-2000:] if self.process.stderr else ''}")
            try:
                self.rpc("eth_chainId")
                return self
            except OSError:
                time.sleep(0.05)
        raise AnvilUnavailable("anvil did not answer within 30 s")

    def rpc(self, method: str, *params: object) -> object:
        """One JSON-RPC call (for test controls such as evm_mine and evm_setAutomine)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            reply = json.loads(answer.read())
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def stop(self) -> None:
        """Stop anvil."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
