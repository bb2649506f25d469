"""Model weights as safetensors: strict parsing, a checksum, and atomic files."""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path

from tinygrad import Tensor, dtypes

from colony.core.paths import write_private
from colony.core.rpc import loads

from .base import Model, ModelError

MAX_HEADER = 1 << 24
_DTYPES = {"F32": dtypes.float32}


def to_bytes(tensors: dict[str, Tensor], metadata: dict[str, str]) -> bytes:
    """Serialize float32 tensors as safetensors, with a sha256 of the data in the metadata."""
    header: dict[str, object] = {}
    chunks, offset = [], 0
    for name, tensor in tensors.items():
        if tensor.dtype != dtypes.float32:
            raise ModelError(f"tensor {name!r} is {tensor.dtype.name}; only float32 is stored")
        raw = bytes(tensor.contiguous().realize().data())
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    data = b"".join(chunks)
    header["__metadata__"] = {**metadata, "sha256": hashlib.sha256(data).hexdigest()}
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + data


def from_bytes(blob: bytes) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Parse safetensors bytes written by `to_bytes`; ModelError on anything malformed."""
    if len(blob) < 8:
        raise ModelError("weights are truncated: no safetensors header")
    (size,) = struct.unpack("<Q", blob[:8])
    if size > MAX_HEADER or 8 + size > len(blob):
        raise ModelError("weights are truncated or corrupt: bad safetensors header length")
    try:
        header = loads(blob[8 : 8 + size])  # weights may come from a peer: depth-checked
    except ValueError as e:
        raise ModelError(f"weights are corrupt: unreadable safetensors header ({e})") from None
    if not isinstance(header, dict):
        raise ModelError("weights are corrupt: the safetensors header is not an object")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelError("weights lack their metadata (arch, checksum)")
    data = blob[8 + size :]
    if hashlib.sha256(data).hexdigest() != metadata.get("sha256"):
        raise ModelError("weights are truncated or corrupt: checksum mismatch")
    tensors, end = {}, 0
    for name, info in header.items():
        tensors[name] = _tensor(name, info, data, end)
        end = info["data_offsets"][1]
    if end != len(data):
        raise ModelError("weights are corrupt: trailing bytes after the last tensor")
    return tensors, metadata


def _tensor(name: str, info: object, data: bytes, start: int) -> Tensor:
    """One tensor from its header entry, which must start where the previous one ended."""
    try:
        dtype = _DTYPES[info["dtype"]]  # type: ignore[index]
        shape = [int(n) for n in info["shape"]]  # type: ignore[index]
        begin, end = (int(n) for n in info["data_offsets"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"weights are corrupt: bad header entry for {name!r}") from None
    if begin != start or end - begin != math.prod(shape) * dtype.itemsize or end > len(data) or min(shape, default=1) < 0:
        raise ModelError(f"weights are corrupt: bad offsets or shape for {name!r}")
    return Tensor(data[begin:end], dtype=dtype).reshape(shape)


def stamp(model: Model) -> dict[str, str]:
    """The metadata every weights or delta file of `model` carries: its arch, steps and seed."""
    return {"arch": model.arch, "steps": str(model.steps), "seed": str(model.seed)}


def dump(model: Model, metadata: dict[str, str] | None = None) -> bytes:
    """The model's weights as safetensors bytes, stamped with its arch, steps and seed."""
    return to_bytes(model.state_dict(), {**(metadata or {}), **stamp(model)})


def save(model: Model, path: Path, metadata: dict[str, str]) -> None:
    """Save the model's weights atomically, with its arch, steps and seed in the metadata."""
    write_private(path, dump(model, metadata))


def load(model: Model, path: Path) -> dict[str, str]:
    """Load weights saved for this architecture; on any problem raise ModelError and change nothing."""
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read weights {path}: {e.strerror}") from None
    return load_bytes(model, blob, f"weights {path.name}")


def load_bytes(model: Model, blob: bytes, what: str = "weights") -> dict[str, str]:
    """`load` for safetensors bytes; `what` names them in errors."""
    tensors, metadata = from_bytes(blob)
    check_arch(model, metadata, what)
    model.check_state(tensors, what)
    model.load_state_dict(tensors)
    model.steps = int(metadata["steps"]) if metadata.get("steps", "").isdigit() else 0
    return metadata


def check_arch(model: Model, metadata: dict[str, str], what: str) -> None:
    """Refuse `what` unless its metadata names this model's architecture and version."""
    arch = metadata.get("arch")
    if arch != model.arch:
        raise ModelError(f"{what} are for architecture {arch!r}, not {model.arch!r}")
