"""`colony bridge --stdio`: relay stdin/stdout to the node's socket, so SSH can carry the protocol."""

from __future__ import annotations

import os
from pathlib import Path

import trio


async def relay(socket_path: Path, stdin_fd: int = 0, stdout_fd: int = 1) -> None:
    """Copy bytes both ways until the node closes the connection."""
    sock = await trio.open_unix_socket(os.fspath(socket_path))
    stdin = trio.lowlevel.FdStream(os.dup(stdin_fd))
    stdout = trio.lowlevel.FdStream(os.dup(stdout_fd))
    async with sock, stdin, stdout, trio.open_nursery() as nursery:

        async def upstream() -> None:
            while data := await stdin.receive_some(65536):
                await sock.send_all(data)
            await sock.send_eof()  # the client is done sending; keep reading replies

        async def downstream() -> None:
            try:
                while data := await sock.receive_some(65536):
                    await stdout.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            nursery.cancel_scope.cancel()

        nursery.start_soon(upstream)
        nursery.start_soon(downstream)
