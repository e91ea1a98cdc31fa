"""uvicorn's h11 protocol with deadlines and caps for connections that have sent no request.

A connection is *waiting* from when it opens, and again after each answer, until a whole
request head has arrived. Waiting connections cost the server little but can be made by the
thousand, and a client that reconnects whenever one is closed defeats any deadline; so:

* a new connection that has sent nothing for :data:`FIRST_BYTE_SECONDS` is closed (an idle
  one after an answer: after :data:`KEEP_ALIVE_SECONDS`, as uvicorn would), and one whose
  head has begun but not ended :data:`HEAD_TIMEOUT_SECONDS` after the wait began
  (slow-header attacks);
* at most :data:`MAX_WAITING_PER_CLIENT` waiting connections from one address, and
  :data:`MAX_WAITING` in all: a new one beyond either closes the oldest waiting one, so a
  reconnecting client only ever holds a bounded share, and a real request, whose head
  follows its connection at once, is never the oldest for long;
* waiting connections are not counted against the cap of requests served at once
  (:class:`cadenza.web.limits.ConcurrencyLimit`, 503): only a complete request head is.

uvicorn's own ``limit_concurrency`` counted every open connection, so 64 sockets that sent
nothing (and reconnected when closed) turned away 28 of 30 real requests with 503. Use
:func:`uvicorn_options` to run a server with this protocol.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

FIRST_BYTE_SECONDS = 3.0
HEAD_TIMEOUT_SECONDS = 10.0
MAX_WAITING_PER_CLIENT = 128
MAX_WAITING = 512
KEEP_ALIVE_SECONDS = 5


class WaitingConnections:
    """Connections waiting for a request head, oldest first, in all and by client address."""

    def __init__(self) -> None:
        self._all: OrderedDict[Any, str] = OrderedDict()
        self._by_client: dict[str, OrderedDict[Any, None]] = {}

    def __len__(self) -> int:
        return len(self._all)

    def count(self, client: str) -> int:
        return len(self._by_client.get(client, ()))

    def add(self, connection: Any, client: str) -> list[Any]:
        """Record ``connection``; returns the oldest ones it pushes over a cap (removed)."""
        self.remove(connection)
        self._all[connection] = client
        self._by_client.setdefault(client, OrderedDict())[connection] = None
        evicted = []
        while self.count(client) > MAX_WAITING_PER_CLIENT:
            evicted.append(self._evict(next(iter(self._by_client[client]))))
        while len(self._all) > MAX_WAITING:
            evicted.append(self._evict(next(iter(self._all))))
        return evicted

    def remove(self, connection: Any) -> None:
        client = self._all.pop(connection, None)
        if client is None:
            return
        mine = self._by_client[client]
        mine.pop(connection, None)
        if not mine:
            del self._by_client[client]

    def _evict(self, connection: Any) -> Any:
        self.remove(connection)
        return connection


class HeadDeadlineProtocol(H11Protocol):
    """h11 with deadlines and caps for waiting connections; see :func:`uvicorn_options`.

    Each subclass made by :func:`protocol_class` keeps its own register of waiting
    connections (one per server).
    """

    waiting: WaitingConnections = WaitingConnections()
    _head_timer: asyncio.TimerHandle | None = None
    _wait_began = 0.0
    _head_began = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._start_waiting(FIRST_BYTE_SECONDS)

    def data_received(self, data: bytes) -> None:
        if self._is_waiting() and not self._head_began and data:
            self._head_began = True  # from now on the whole head's deadline applies
            self._arm(HEAD_TIMEOUT_SECONDS - (time.monotonic() - self._wait_began))
        super().data_received(data)
        if self._in_progress():
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request at once
        if not self.transport.is_closing() and not self._in_progress():
            self._start_waiting(KEEP_ALIVE_SECONDS)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    # -- waiting -------------------------------------------------------------------------------
    def _in_progress(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _is_waiting(self) -> bool:
        return self._head_timer is not None

    def _start_waiting(self, first_byte_seconds: float) -> None:
        self._wait_began, self._head_began = time.monotonic(), False
        self._arm(first_byte_seconds)
        client = self.client[0] if self.client else "?"
        for old in self.waiting.add(self, client):
            old._close_waiting()

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.waiting.remove(self)

    def _arm(self, seconds: float) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(max(0.0, seconds), self._close_waiting)

    def _close_waiting(self) -> None:
        """No whole request head in time, or pushed out by newer ones: close (a request in
        progress is kept)."""
        self._stop_waiting()
        if not self._in_progress() and not self.transport.is_closing():
            self.transport.close()


def protocol_class() -> type[HeadDeadlineProtocol]:
    """A :class:`HeadDeadlineProtocol` with its own register of waiting connections."""
    return type("ServerHeadDeadlineProtocol", (HeadDeadlineProtocol,),
                {"waiting": WaitingConnections()})


def uvicorn_options() -> dict[str, Any]:
    """What ``cadenza serve`` passes to uvicorn besides the app, host, port and log level.

    Idle keep-alive connections close after :data:`KEEP_ALIVE_SECONDS`; uvicorn's own
    ``limit_concurrency`` stays off, since it counts waiting connections too (the app caps
    requests served at once instead, see :class:`cadenza.web.limits.ConcurrencyLimit`).
    """
    return {"workers": 1, "timeout_keep_alive": KEEP_ALIVE_SECONDS,
            "limit_concurrency": None, "http": protocol_class()}
