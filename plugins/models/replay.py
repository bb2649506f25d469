"""Replay a captured TinyJit by calling its compiled kernels directly.

A TinyJit replay goes through tinygrad's generic executor: it re-checks the inputs, resolves every
kernel's buffers, looks up its runtime and updates statistics, about 30 µs of Python per kernel. For
the brain's single-example inference (6 kernels) that overhead is a third of the time. A `Replay`
does that work once: it keeps, per kernel, the compiled program and the arguments it is called
with, and calls them in order. The kernels, buffers and results are tinygrad's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from tinygrad import Tensor, TinyJit
from tinygrad.device import Buffer
from tinygrad.engine.realize import get_runtime, resolve_params
from tinygrad.uop.ops import Ops


class Replay:
    """The kernel launches of one captured TinyJit over fixed input buffers."""

    def __init__(self, inputs: Sequence[Tensor], launches: list[Callable[[], Any]], output: Any) -> None:
        self.inputs = tuple(inputs)
        self.launches = launches
        self.output = output
        self.view = host_view(output) if isinstance(output, Tensor) else None  # the output's memory, typed

    @classmethod
    def of(cls, jit: TinyJit, inputs: Sequence[Tensor]) -> Replay | None:
        """The replay of `jit`, captured with `inputs`; None unless it is a plain list of CPU kernels.

        Graph batches, copies, symbolic shapes, other devices and inputs the JIT writes to all keep
        tinygrad's own executor.
        """
        captured = jit.captured
        if captured is None:
            return None
        uops = [t.uop.base for t in inputs]
        if any(u.op is not Ops.BUFFER for u in uops) or set(uops) & captured._written_uops:
            return None
        launches = []
        for call in captured.linear.src:
            program = call.src[0]
            if call.op is not Ops.CALL or program.op is not Ops.PROGRAM or call.src[1].device != "CPU":
                return None
            if any(v.expr not in program.arg.runtimevars for v in program.arg.vars):  # symbolic: bound per call
                return None
            resolved = resolve_params(call, tuple(uops))
            buffers = [resolved[i].buffer for i in program.arg.globals]
            if not all(isinstance(b, Buffer) for b in buffers):
                return None
            global_size, local_size = program.arg.launch_dims({})
            args = [b.ensure_allocated().get_buf("CPU") for b in buffers]
            run = get_runtime("CPU", program)
            launches.append(partial(run, *args, global_size=global_size, local_size=local_size, vals=program.arg.vals({})))
        return cls(inputs, launches, captured.ret)

    def takes(self, inputs: Sequence[Tensor]) -> bool:
        """Whether `inputs` are the buffers this replay was built over."""
        return len(inputs) == len(self.inputs) and all(a is b for a, b in zip(inputs, self.inputs))

    def __call__(self) -> Any:
        """Run every kernel in order (synchronously, on the CPU) and return the JIT's output."""
        for launch in self.launches:
            launch()
        return self.output


def host_view(tensor: Tensor) -> memoryview | None:
    """A typed view of a realized tensor's memory when it is one plain buffer in host memory (the CPU), else None."""
    uop = tensor.uop
    plain = uop.op is Ops.BUFFER or (uop.op is Ops.RESHAPE and uop.src[0].op is Ops.BUFFER)
    if not plain or not uop.is_realized or uop.buffer.size != tensor.numel() or not hasattr(uop.buffer.allocator, "_as_buffer"):
        return None
    return uop.buffer.as_memoryview(force_zero_copy=True).cast(tensor.dtype.fmt)
