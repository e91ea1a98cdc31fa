"""Connections that never send a request cannot crowd out real ones, even when they
reconnect as soon as they are closed: a real ``cadenza serve`` setup (uvicorn with
:func:`cadenza.web.protocol.uvicorn_options` and the app) on a free localhost port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

uvicorn = pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")

from test_web_api import checkpoints, fake_compose, fake_wav  # noqa: E402, F401
from web_serving import serve_in_thread  # noqa: E402

from cadenza.web.app import ServerSettings, create_app  # noqa: E402
from cadenza.web.limits import ConcurrencyLimit  # noqa: E402
from cadenza.web.protocol import uvicorn_options  # noqa: E402

HALF_OPEN = 64
REAL_REQUESTS = 20


@pytest.fixture
def served(checkpoints: Path, tmp_path: Path) -> Iterator[int]:  # noqa: F811
    """The app served by uvicorn as ``cadenza serve`` serves it; yields the port."""
    settings = ServerSettings(data_dir=tmp_path, checkpoints_dir=checkpoints,
                              include_shipped=False, warm_models=False)
    app = create_app(settings, compose_fn=fake_compose(), render_fn=fake_wav)
    with serve_in_thread(app, log_level="error", **uvicorn_options()) as port:
        yield port


def _hold_half_open(port: int, stop: threading.Event, opened: list[int]) -> None:
    """Open a connection, send half a request head, and reconnect whenever it is closed."""
    while not stop.is_set():
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            time.sleep(0.01)
            continue
        opened.append(1)
        with sock:
            sock.settimeout(0.2)
            try:
                sock.sendall(b"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                while not stop.is_set() and sock.recv(1024):
                    pass
            except TimeoutError:
                while not stop.is_set():  # still open: keep holding it
                    try:
                        if not sock.recv(1024):
                            break
                    except TimeoutError:
                        continue
                    except OSError:
                        break
            except OSError:
                pass


def _real_request(port: int) -> int | str:
    try:
        url = f"http://127.0.0.1:{port}/api/compositions?limit=1"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, urllib.error.URLError) as exc:
        return type(exc).__name__


def test_reconnecting_half_open_sockets_leave_room_for_real_requests(served: int) -> None:
    stop = threading.Event()
    opened: list[int] = []
    holders = [threading.Thread(target=_hold_half_open, args=(served, stop, opened),
                                daemon=True) for _ in range(HALF_OPEN)]
    for holder in holders:
        holder.start()
    try:
        end = time.monotonic() + 10
        while len(opened) < HALF_OPEN:
            assert time.monotonic() < end, f"only {len(opened)} connections opened"
            time.sleep(0.05)
        time.sleep(0.5)
        answers = []
        for _ in range(REAL_REQUESTS):
            answers.append(_real_request(served))
            time.sleep(0.1)
    finally:
        stop.set()
        for holder in holders:
            holder.join(5)
    assert sum(answer == 200 for answer in answers) >= 0.9 * REAL_REQUESTS, answers


def test_requests_beyond_the_cap_get_503_and_the_rest_go_on() -> None:
    """Only requests in progress count against the cap; one more is answered 503."""
    release = asyncio.Event()

    async def slow(scope: dict, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def call(app: Any) -> list[dict]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        async def receive() -> dict:
            return {"type": "http.request", "body": b""}

        await app({"type": "http", "path": "/"}, receive, send)
        return sent

    async def scenario() -> tuple[list[dict], list[dict], list[dict]]:
        limit = ConcurrencyLimit(slow, max_active=1)
        first = asyncio.create_task(call(limit))
        await asyncio.sleep(0.01)
        refused = await call(limit)
        release.set()
        done = await first
        return done, refused, await call(limit)

    done, refused, after = asyncio.run(scenario())
    assert done[0]["status"] == 200 and after[0]["status"] == 200
    assert refused[0]["status"] == 503
    assert (b"retry-after", b"1") in refused[0]["headers"]
    assert b"try again" in refused[1]["body"]
