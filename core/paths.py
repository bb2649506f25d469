"""Where a node keeps its files: home, runtime directory and control socket."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# sun_path in struct sockaddr_un is 108 bytes on Linux, including the NUL.
MAX_SOCKET_PATH = 107


def data_home() -> Path:
    """The XDG data directory."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def default_home(node_name: str) -> Path:
    """`$COLONY_HOME`, or `<XDG data>/colony/<node-name>`."""
    env = os.environ.get("COLONY_HOME")
    return Path(env).expanduser() if env else data_home() / "colony" / node_name


def runtime_dir() -> Path:
    """`$XDG_RUNTIME_DIR/colony`, or a private folder under /tmp when it is unset."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / "colony"
    return Path("/tmp") / f"colony-{os.getuid()}"


def default_socket(node_name: str) -> Path:
    """The control socket of the node named `node_name`."""
    return runtime_dir() / f"{node_name}.sock"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (mode 0700) and refuse it if another user owns it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to uid {st.st_uid}, not to this user")
    return path


def write_private(path: Path, data: bytes, *, replace: bool = True, mode: int = 0o600) -> None:
    """Write `data` to `path` atomically, readable by its owner only unless `mode` says more; without `replace`, a file already there wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, mode)  # after the open: the umask must not narrow it
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails when another process created it first: never clobber a secret in use
            except FileExistsError:
                pass
    finally:
        tmp.unlink(missing_ok=True)


def secret_file(path: Path) -> str:
    """The random secret kept in `path`, created (mode 0600) on first use."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32).encode(), replace=False)
    return path.read_text().strip()
