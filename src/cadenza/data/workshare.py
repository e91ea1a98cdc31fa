"""Share a list of small jobs between this process and a few helper processes.

Reading a corpus is a few hundred jobs of a millisecond each whose results (notes and
encoded arrays) are megabytes. A ``ProcessPoolExecutor`` leaves the main process idle and
moves every result through a pipe read by a background thread; on a 2-core machine that
thread has to win the GIL back for every 64 KiB, so helpers sat blocked in ``send`` for
tens of milliseconds and two workers were slower than one. :class:`WorkShare` instead:

* starts ``helpers`` processes (forked, on Linux) that get the job list once, and sends
  each of them the index ranges of chunks to run over its own pipe, one queued behind the
  running one so that it never waits for the next (only small messages go to a helper, so
  neither side can block the other while a large result is on its way back);
* runs jobs in this process too, one at a time from the far end of the list, and between
  two jobs reads whatever results the helpers have finished, in this thread;
* finishes the chunks of a helper that dies in this process (with a warning), and re-raises
  in this process an exception raised by a job in a helper.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["WorkShare"]

_QUEUED = 2  # chunks sent to a helper at a time: the running one and the next
_JOIN_SECONDS = 5.0

PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class _Helper:
    process: BaseProcess
    conn: Connection
    chunks: deque[range] = field(default_factory=deque)  # sent, not yet answered
    alive: bool = True


def _die_with_parent() -> None:
    """Ask the kernel to end this helper when the process that started it dies.

    A killed main process never closes its end of the pipe that a forked helper also
    inherited, so the helper would wait on it (or finish its chunk) long after: seen alive
    51 s after a ``kill -9``. On Linux ``prctl(PR_SET_PDEATHSIG)`` sends SIGTERM instead;
    elsewhere the helper ends at its next read of the pipe.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):  # no libc to ask: the pipe read still ends it
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def _helper_main(
    conn: Connection,
    job: Callable[..., Any],
    args: Sequence[tuple[Any, ...]],
    initializer: Callable[..., None] | None,
    initargs: tuple[Any, ...],
) -> None:
    """A helper's life: run ``job`` on each range of ``args`` it is sent until told to stop.

    Ctrl-C reaches every process of the terminal; the main process decides what it means
    (it stops the helpers), so a helper ignores it instead of printing a traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the main process has gone
            return
        if message is None:
            return
        lo, hi = message
        try:
            reply: tuple[str, Any] = ("ok", [job(*args[i]) for i in range(lo, hi)])
        except Exception as exc:  # handed to the main process, raised there
            reply = ("error", exc)
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result or exception
            conn.send(("error", RuntimeError(f"helper could not send its result: {exc}")))


class WorkShare:
    """``job(*args[i])`` for every ``i``, shared between this process and ``helpers`` helper
    processes (see the module docstring).

    Use as a context manager: the helpers are forked on entry (start any thread, such as a
    progress bar, after that) and stopped on exit; :meth:`run` does the work.
    """

    def __init__(
        self,
        job: Callable[..., Any],
        args: Sequence[tuple[Any, ...]],
        helpers: int,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        chunk_size: int = 16,
    ) -> None:
        self.job = job
        self.args = args
        self.count = max(0, min(helpers, len(args)))
        self.initializer = initializer
        self.initargs = initargs
        self.chunk_size = max(1, chunk_size)
        self.helpers: list[_Helper] = []

    def __enter__(self) -> WorkShare:
        context = multiprocessing.get_context()
        try:
            for _ in range(self.count):
                mine, theirs = context.Pipe()
                process = context.Process(
                    target=_helper_main,
                    args=(theirs, self.job, self.args, self.initializer, self.initargs),
                    daemon=True,
                )
                process.start()
                theirs.close()
                self.helpers.append(_Helper(process, mine))
        except BaseException:
            self._stop(force=True)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop(force=kind is not None)

    def run(self, done: Callable[[int, Any], None]) -> None:
        """Do every job and call ``done(i, result)`` here as results come in (in no
        particular order). This process takes jobs one at a time from the end of the list."""
        job, args = self.job, self.args
        front, back = 0, len(args)  # args[front:back] are not handed out yet
        local: list[int] = []  # jobs taken back from helpers that died
        parties = len(self.helpers) + 1

        def feed(helper: _Helper) -> None:
            nonlocal front
            while helper.alive and len(helper.chunks) < _QUEUED and front < back:
                # Chunks shrink as the work runs out, so that all finish at about once.
                size = min(self.chunk_size, max(1, (back - front) // (2 * parties)))
                chunk = range(front, front + size)
                front = chunk.stop
                helper.chunks.append(chunk)
                try:
                    helper.conn.send((chunk.start, chunk.stop))
                except OSError:
                    self._lost(helper, local)

        def collect(helper: _Helper) -> None:
            try:
                status, payload = helper.conn.recv()
            except (EOFError, OSError):
                self._lost(helper, local)
                return
            chunk = helper.chunks.popleft()
            if status != "ok":
                raise payload
            for i, result in zip(chunk, payload, strict=True):
                done(i, result)

        for helper in self.helpers:
            feed(helper)
        while True:
            for helper in self.helpers:
                while helper.chunks and helper.conn.poll():
                    collect(helper)
                feed(helper)
            if local:
                i = local.pop()
            elif front < back:
                back -= 1
                i = back
            else:
                busy = [h.conn for h in self.helpers if h.chunks]
                if not busy:
                    return
                wait(busy)
                continue
            done(i, job(*args[i]))

    def _lost(self, helper: _Helper, local: list[int]) -> None:
        """A helper died: its unanswered chunks are done here instead."""
        helper.alive = False
        log.warning("a helper process stopped (exit code %s); finishing its %d jobs here",
                    helper.process.exitcode, sum(len(c) for c in helper.chunks))
        while helper.chunks:
            local.extend(helper.chunks.popleft())

    def _stop(self, force: bool) -> None:
        for helper in self.helpers:
            if not force and helper.alive:
                with contextlib.suppress(OSError):
                    helper.conn.send(None)
        for helper in self.helpers:
            if force:
                helper.process.terminate()
            helper.process.join(_JOIN_SECONDS)
            if helper.process.is_alive():
                helper.process.kill()
                helper.process.join()
            helper.conn.close()
        self.helpers = []
