"""Slow request heads and idle connections: a connection that sends no whole head in time is
closed, sooner when it sends nothing at all, and the oldest waiting ones make room."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

uvicorn = pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")

from web_serving import serve_in_thread  # noqa: E402

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
    monkeypatch.setattr(protocol, "FIRST_BYTE_SECONDS", 0.5)
    with serve_in_thread(hello, log_level="warning", http=protocol.protocol_class(),
                         timeout_keep_alive=30) as port:
        yield port


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


def test_a_connection_that_sends_nothing_is_closed_before_a_slow_head(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(protocol, "FIRST_BYTE_SECONDS", 0.3)
    monkeypatch.setattr(protocol, "HEAD_TIMEOUT_SECONDS", 2.5)
    silent = socket.create_connection(("127.0.0.1", server))
    slow = socket.create_connection(("127.0.0.1", server))
    slow.sendall(b"GET / HTTP/1.1\r\n")
    assert _closed_within(silent, 1.5)
    assert not _closed_within(slow, 0.5)  # its head has begun: the longer deadline
    assert _closed_within(slow, 4)


@pytest.mark.parametrize("cap", ["MAX_WAITING_PER_CLIENT", "MAX_WAITING"])
def test_the_oldest_waiting_connections_make_room(
    server: int, monkeypatch: pytest.MonkeyPatch, cap: str
) -> None:
    monkeypatch.setattr(protocol, "FIRST_BYTE_SECONDS", 30.0)
    monkeypatch.setattr(protocol, "HEAD_TIMEOUT_SECONDS", 30.0)
    monkeypatch.setattr(protocol, cap, 4)
    sockets = []
    for _ in range(6):
        sockets.append(socket.create_connection(("127.0.0.1", server)))
        time.sleep(0.1)  # in order of arrival
    assert _closed_within(sockets[0], 2) and _closed_within(sockets[1], 2)
    assert not any(_closed_within(sock, 0.1) for sock in sockets[2:])
    with socket.create_connection(("127.0.0.1", server)) as client:  # a real request
        client.settimeout(5)
        client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert client.recv(1024).startswith(b"HTTP/1.1 200")
    assert _closed_within(sockets[2], 2)  # the oldest went to make room for it
    for sock in sockets:
        sock.close()


def test_an_idle_connection_after_an_answer_keeps_its_keep_alive(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a new connection that sends nothing is cut off soon; after an answer the
    connection may idle for the keep-alive time, as a browser expects."""
    monkeypatch.setattr(protocol, "FIRST_BYTE_SECONDS", 0.3)
    monkeypatch.setattr(protocol, "KEEP_ALIVE_SECONDS", 1.5)
    with socket.create_connection(("127.0.0.1", server)) as client:
        client.settimeout(5)
        client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while not answer.endswith(b"hello"):
            answer += client.recv(1024)
        assert not _closed_within(client, 0.8)  # past the first-byte deadline
        assert _closed_within(client, 3)
