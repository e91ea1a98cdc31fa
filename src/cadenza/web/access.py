"""A token every API route requires, for a server others can reach (``cadenza serve --token``).

A server on the loopback interface is reached from this machine only; one that listens
elsewhere can be reached by anyone on the network, who could otherwise list, download and
delete every composition. With a token, each request under ``/api/`` must carry it: in the
``X-Cadenza-Token`` header (the page sends it with every call), or as ``?token=`` in the URL
for what the browser loads by itself (the audio, the score image, the download links). The
page itself and its static files need none: the page reads the token from its own address
(``http://host:8000/?token=...``, which ``cadenza serve`` prints).
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qs

from cadenza.errors import ConfigError
from cadenza.web.limits import ASGIApp, Receive, Scope, Send

TOKEN_HEADER = b"x-cadenza-token"
TOKEN_QUERY = "token"
MIN_TOKEN_CHARACTERS = 8
PROTECTED_PREFIX = "/api/"


def check_token(token: str) -> str:
    """``token`` when it can serve as one (printable ASCII, no spaces, 8 characters or more).

    Raises:
        ConfigError: naming ``--token`` and what is wrong.
    """
    if len(token) < MIN_TOKEN_CHARACTERS:
        raise ConfigError(f"--token must be at least {MIN_TOKEN_CHARACTERS} characters, got "
                          f"{len(token)}")
    if not all("!" <= c <= "~" for c in token):
        raise ConfigError("--token must be printable ASCII without spaces (it travels in an "
                          "HTTP header and a URL)")
    return token


def _given(scope: Scope) -> str | None:
    """The token a request carries, in its header or else in its query string."""
    for name, value in scope.get("headers", []):
        if name == TOKEN_HEADER:
            return bytes(value).decode("latin-1")
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    values = query.get(TOKEN_QUERY)
    return values[0] if values else None


class TokenGuard:
    """ASGI middleware: requests under ``/api/`` without the token are answered 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = check_token(token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(PROTECTED_PREFIX):
            given = _given(scope)
            if given is None or not secrets.compare_digest(given.encode("latin-1", "replace"),
                                                           self.token):
                await self._refuse(send, given is None)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send: Send, missing: bool) -> None:
        what = "needs its token" if missing else "was given a wrong token"
        body = json.dumps({"detail": f"this server {what}: open the page at the address "
                                     "cadenza serve printed (it ends in ?token=...), or send "
                                     "the X-Cadenza-Token header"})
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})
