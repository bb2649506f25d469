"""Compile the Vyper contracts in contracts/ into the committed JSON artifacts in artifacts/."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONTRACTS_DIR = HERE / "contracts"
ARTIFACTS_DIR = HERE / "artifacts"

# ABI entries for functions a contract implements by hand in __default__, because
# Vyper cannot declare them (no overloading by argument type). The compiler's ABI
# omits them; the artifact lists them so that web3 clients can call them.
EXTRA_ABI: dict[str, list[dict[str, Any]]] = {
    "stablecoin": [
        {
            "type": "function",
            "name": "transferWithAuthorization",
            "stateMutability": "nonpayable",
            "inputs": [
                {"name": "sender", "type": "address"},
                {"name": "receiver", "type": "address"},
                {"name": "amount", "type": "uint256"},
                {"name": "validAfter", "type": "uint256"},
                {"name": "validBefore", "type": "uint256"},
                {"name": "nonce", "type": "bytes32"},
                {"name": "signature", "type": "bytes"},
            ],
            "outputs": [],
        }
    ],
}


def contract_names() -> list[str]:
    """Return the names of all contracts (the .vy file stems), sorted."""
    return sorted(p.stem for p in CONTRACTS_DIR.glob("*.vy"))


def compiler_version() -> str:
    """Return the compiler label recorded in artifacts, e.g. 'vyper 0.4.3'."""
    import vyper

    return f"vyper {vyper.__version__.split('+')[0]}"


def compile_contract(name: str) -> dict[str, Any]:
    """Compile one contract and return its artifact as a dict."""
    import vyper

    path = CONTRACTS_DIR / f"{name}.vy"
    source = path.read_text(encoding="utf-8")
    out = vyper.compile_code(
        source,
        contract_path=path.name,
        output_formats=["abi", "bytecode", "bytecode_runtime"],
    )
    return {
        "contract": name,
        "source_sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
        "compiler": compiler_version(),
        "abi": list(out["abi"]) + EXTRA_ABI.get(name, []),
        "bytecode": out["bytecode"],
        "bytecode_runtime": out["bytecode_runtime"],
    }


def render(artifact: dict[str, Any]) -> str:
    """Serialise an artifact deterministically (sorted keys, two-space indent, final newline)."""
    return json.dumps(artifact, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def artifact_path(name: str) -> Path:
    """Return the path of a contract's artifact file."""
    return ARTIFACTS_DIR / f"{name}.json"


def load_artifact(name: str) -> dict[str, Any]:
    """Read a committed artifact (no compiler needed)."""
    return json.loads(artifact_path(name).read_text(encoding="utf-8"))


def stale_artifacts() -> list[str]:
    """Return the names of contracts whose artifact is missing or differs from a fresh compile."""
    stale = []
    for name in contract_names():
        path = artifact_path(name)
        fresh = render(compile_contract(name))
        if not path.exists() or path.read_text(encoding="utf-8") != fresh:
            stale.append(name)
    known = set(contract_names())
    stale += sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json") if p.stem not in known)
    return stale


def build() -> list[Path]:
    """Compile every contract and write its artifact; return the paths written."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    written = []
    for name in contract_names():
        path = artifact_path(name)
        path.write_text(render(compile_contract(name)), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: build the artifacts, or with --check verify them."""
    parser = argparse.ArgumentParser(prog="python -m colony.plugins.chain.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if any artifact is stale; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_artifacts()
        if stale:
            for name in stale:
                print(f"stale artifact: {artifact_path(name)}", file=sys.stderr)
            print("run: python -m colony.plugins.chain.build", file=sys.stderr)
            return 1
        print(f"{len(contract_names())} artifacts up to date ({compiler_version()})")
        return 0
    for path in build():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
