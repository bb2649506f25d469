"""Search a model's kernels once with tinygrad's BEAM and keep the choices; find the table a model should use.

Run as `python -m colony.plugins.models.tuning NAME --output FILE` (what `colony models tune` runs, in
a process of its own so the search neither blocks nor disturbs the node's training thread).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import device


def own_path(home: Path, name: str) -> Path:
    """Where `colony models tune` keeps a node's own table for model `name`."""
    return home / "models" / "tuned" / f"{name}.json"


def tune(model: Any, beam: int) -> Any:
    """Search, at width `beam`, the kernels of every jitted function of `model` (training, evaluation, inference); return the table.

    Kernels whose search tinygrad already cached (in CACHEDB) are not searched again.
    """
    from tinygrad import Device

    from . import kernels

    kernels.deactivate(model.name)
    examples, requests = model.samples(random.Random(0))
    previous, model.beam = model.beam, beam
    try:
        with kernels.recording() as found:
            for _ in range(3):  # a TinyJit runs eagerly, then captures, then replays: by the third call all is compiled
                model.train_step(examples)
                model.evaluate(examples)
                for request in requests:
                    model.predict(request)
    finally:
        model.beam = previous
    renderer = Device[Device.DEFAULT].renderer
    target = renderer.target
    return kernels.Table(
        model=model.name, arch=model.arch, dims=dict(model.dims), beam=beam, device=target.device, renderer=type(renderer).__name__,
        arch_family=target.arch.split(",")[0], tinygrad=version("tinygrad"), kernels=found,
    )


def choose(model: Any, home: Path | None) -> tuple[Any, str]:
    """The table for `model` and its dimensions: the node's own (from `colony models tune`), else the shipped one; and why others were refused."""
    from . import kernels

    errors = []
    paths = ([own_path(home, model.name)] if home is not None else []) + [kernels.SHIPPED / f"{model.name}.json"]
    for path in paths:
        if not path.exists():
            continue
        try:
            table = kernels.load(path, model.name, model.arch)
        except kernels.TunedError as exc:
            errors.append(str(exc))
            continue
        if table.dims == model.dims:  # other dimensions make other kernels: the table has none of them
            return table, "; ".join(errors)
    return None, "; ".join(errors)


def main(argv: list[str] | None = None) -> int:
    """Tune one built-in model and write its table; print a JSON summary line."""
    from . import BUILTIN, factory

    parser = argparse.ArgumentParser(prog="python -m colony.plugins.models.tuning", description=main.__doc__)
    parser.add_argument("model", choices=sorted(BUILTIN))
    parser.add_argument("--beam", type=int, default=2, help="BEAM search width (default 2)")
    parser.add_argument("--output", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--home", type=Path, help="the node's home: its tinygrad kernel cache keeps the search results")
    parser.add_argument("--dims", default="{}", help="the model's dimensions as a JSON object (default: its defaults)")
    args = parser.parse_args(argv)
    if args.beam < 1:
        parser.error("--beam must be at least 1")
    try:
        dims = json.loads(args.dims)
    except ValueError:
        parser.error("--dims must be a JSON object")
    device.setup(args.home)
    started = time.monotonic()
    module, cls, _ = BUILTIN[args.model]
    table = tune(factory(module, cls)(seed=0, **dims), args.beam)
    table.save(args.output)
    summary = {"model": args.model, "kernels": len(table.kernels), "beam": args.beam, "seconds": round(time.monotonic() - started, 1),
               "path": str(args.output)}
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
