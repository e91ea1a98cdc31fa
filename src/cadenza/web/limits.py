"""A cap on request bodies, applied before any body reaches the application.

FastAPI reads a JSON body whole before validating it, so a 300 MB POST grew the server by
0.75 GB before its 422. :class:`BodyLimit` answers 413 as soon as ``Content-Length`` says the
body is too large, and stops a body without that header once it has passed the cap.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024  # a composition request is a few hundred bytes


class BodyLimit:
    """ASGI middleware: HTTP request bodies of at most ``max_bytes``, else 413.

    ``larger`` allows more on some paths (exact match), such as an upload route.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES,
                 larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.default_bytes)
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await self._refuse(send, limit)
                    return
        seen = 0
        refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Answer now and tell the application the client has gone, so it stops
                    # reading; whatever it sends afterwards is dropped.
                    refused = True
                    await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, limited, guarded_send)
        except Exception:
            if not refused:
                raise

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = json.dumps({"detail": f"request body larger than {limit:,} bytes"})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body.encode()})


MAX_ACTIVE_REQUESTS = 64
BUSY_RETRY_SECONDS = 1


class ConcurrencyLimit:
    """ASGI middleware: at most ``max_active`` HTTP requests served at once, else 503.

    Only requests count (a connection counts from when its whole request head has arrived
    until its answer is sent), never connections that have sent nothing yet: see
    :mod:`cadenza.web.protocol` for those.
    """

    def __init__(self, app: ASGIApp, max_active: int = MAX_ACTIVE_REQUESTS) -> None:
        self.app = app
        self.max_active = max_active
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.max_active:
            body = json.dumps({"detail": f"the server is answering {self.active} requests "
                                         "already; try again in a moment"})
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"retry-after", str(BUSY_RETRY_SECONDS).encode())]})
            await send({"type": "http.response.body", "body": body.encode()})
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
