"""Slow request heads: a connection that sends no whole head in time is closed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

uvicorn = pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")

from cadenza.web import protocol  # noqa: E402  (after the optional import is checked)


async def hello(scope: dict, receive: object, send: object) -> None:  # a tiny ASGI app
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})  # type: ignore[operator]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(protocol, "HEAD_TIMEOUT_SECONDS", 0.5)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(hello, host="127.0.0.1", port=port, log_level="warning",
                            http=protocol.HeadDeadlineProtocol, timeout_keep_alive=30)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < end, "the test server did not start"
        time.sleep(0.02)
    yield port
    running.should_exit = True
    thread.join(10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        return False
    return True


def test_a_slow_or_silent_head_is_cut_off(server: int) -> None:
    silent = socket.create_connection(("127.0.0.1", server))
    slow = socket.create_connection(("127.0.0.1", server))
    slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finishes its head
    started = time.monotonic()
    assert _closed_within(silent, 5) and _closed_within(slow, 5)
    assert time.monotonic() - started < 5


def test_whole_requests_are_answered_and_kept_alive_past_one_deadline(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as client:
        client.settimeout(5)
        for _ in range(3):  # three requests 0.3 s apart: 0.9 s in all, past one deadline
            client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while not answer.endswith(b"hello"):
                chunk = client.recv(1024)
                assert chunk, f"the connection was closed after {answer!r}"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")
            time.sleep(0.3)
