"""An ASGI app served by a real uvicorn server on a free localhost port, in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

START_SECONDS = 20.0


@contextmanager
def serve_in_thread(app: Any, **options: Any) -> Iterator[int]:
    """Serve ``app`` with ``uvicorn.Config(**options)`` until the block ends; yields the port."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + START_SECONDS
    while not server.started:
        assert time.monotonic() < end, "the test server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
