"""uvicorn's h11 protocol with a deadline for each request's head (slow-header attacks).

uvicorn closes idle keep-alive connections, but a client that opens a connection and sends
its request line and headers a byte at a time (or not at all) holds it for ever: 500 such
connections stayed open for 40 s and more. :class:`HeadDeadlineProtocol` closes a
connection that has no request in progress :data:`HEAD_TIMEOUT_SECONDS` after it opened or
after its last response, which no real browser or client comes near.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_SECONDS = 10.0


class HeadDeadlineProtocol(H11Protocol):
    """h11 with a deadline for the next request's head; pass as ``uvicorn.run(http=...)``."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self._overdue)

    def _overdue(self) -> None:
        """No whole request head arrived in time: close (a request in progress is kept)."""
        in_progress = self.cycle is not None and not self.cycle.response_complete
        if not in_progress and not self.transport.is_closing():
            self.transport.close()
