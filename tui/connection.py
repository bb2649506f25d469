"""Keeps one protocol client attached to a node: connect, handshake, subscribe, reconnect with backoff."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from colony.core.client import Client, Disconnected, EventStream, ProtocolError, RPCError

Opener = Callable[[], Awaitable[Client]]

FIRST_DELAY = 0.25
MAX_DELAY = 5.0
CALL_TIMEOUT = 10.0


class Connection:
    """Runs forever (as a worker on the app's loop), reporting state changes, events and protocol errors."""

    def __init__(
        self,
        opener: Opener,
        on_state: Callable[[str, str, dict[str, Any]], None],
        on_event: Callable[[dict[str, Any]], None],
        on_error: Callable[[str], None],
        topics: list[str] | None = None,
    ) -> None:
        self.opener = opener
        self.on_state = on_state
        self.on_event = on_event
        self.on_error = on_error
        self.topics = topics or []
        self.client: Client | None = None
        self.stream: EventStream | None = None
        self.attempts = 0
        self._errors_seen = 0

    async def call(self, method: str, /, **params: Any) -> Any:
        """Call `method` on the node; `Disconnected` while there is no connection."""
        if self.client is None or self.client.closed is not None:
            raise Disconnected("not connected")
        return await self.client.call(method, **params)

    async def switch(self, opener: Opener) -> None:
        """Attach to another node: drop the current connection; `run` reconnects through `opener`."""
        self.opener = opener
        if self.client is not None:
            await self.client.aclose()

    def check_protocol_errors(self) -> None:
        """Report protocol errors the client noted since the last check."""
        if self.client is None:
            return
        errors = self.client.protocol_errors
        for message in errors[self._errors_seen :]:
            self.on_error(message)
        self._errors_seen = len(errors)

    async def run(self) -> None:
        """Connect, serve, and on loss retry with exponential backoff capped at `MAX_DELAY` seconds."""
        delay = FIRST_DELAY
        while True:
            self.attempts += 1
            self.on_state("connecting", "", {})
            reason, connected = await self._session()
            if connected:
                delay = FIRST_DELAY
            if isinstance(reason, (ProtocolError, RPCError)):
                self.on_error(str(reason))
            self.on_state("disconnected", f"{reason}; retrying in {delay:.2g}s", {})
            await anyio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)

    async def _session(self) -> tuple[BaseException, bool]:
        """One connection from open to loss; returns why it ended and whether the handshake succeeded."""
        connected = False
        try:
            client = await self.opener()
            client.timeout = CALL_TIMEOUT
            self._errors_seen = 0
            self.client = client
            async with client:
                hello = await client.handshake("colony-tui")
                connected = True
                async with client.subscribe(self.topics) as stream:
                    self.stream = stream
                    self.on_state("connected", "", hello)
                    async for event in stream:
                        self.on_event(event)
            return client.closed or Disconnected("connection closed"), connected
        except (Disconnected, ProtocolError, RPCError, OSError, TimeoutError) as exc:
            return exc, connected
        except (KeyError, TypeError, ValueError) as exc:
            return ProtocolError(f"unexpected reply: {type(exc).__name__}: {exc}"), connected
        finally:
            self.check_protocol_errors()
            self.client = None
            self.stream = None
