"""Running the synthesiser in a temporary folder that never outlives the render.

Each render works in a folder ``cadenza-audio-<pid>-<host>-XXXX`` of the temporary
directory. :func:`render_folder` removes it when the render ends, fails, is interrupted
(Ctrl-C) or is terminated (SIGTERM, turned into an exit while a render runs in the main
thread); :func:`remove_stale_renders` sweeps what a killed process (SIGKILL, a power cut)
left behind: folders whose process is gone, or older than twice the longest a render may
take. :func:`run_synth` runs the synthesiser as a child process that is stopped when it
writes more than a given number of bytes, runs past a timeout, or its parent is
interrupted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from cadenza.errors import AudioError
from cadenza.fileio import remove_stale

log = logging.getLogger(__name__)

TEMP_PREFIX = "cadenza-audio-"
RENDER_TIMEOUT_SECONDS = 900.0
POLL_SECONDS = 0.05  # how often the size of the synthesiser's output is looked at
_cleaned = False


def _host_tag() -> str:
    """Eight hex digits standing for this machine, so that a process id is only judged
    where it was given out."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _orphaned(path: Path) -> bool:
    """Whether ``path`` is a render folder of this machine whose process has ended."""
    match = re.fullmatch(re.escape(TEMP_PREFIX) + r"(\d+)-([0-9a-f]{8})-.*", path.name)
    if match is None or match.group(2) != _host_tag():
        return False
    pid = int(match.group(1))
    return pid != os.getpid() and not _is_alive(pid)


def remove_stale_renders(min_age: float | None = None, folder: str | Path | None = None) -> int:
    """Delete the temporary ``cadenza-audio-*`` folders that killed renders left behind.

    Only this user's folders are removed: those of this machine whose process has ended,
    and any older than ``min_age`` seconds (default: twice the longest a render may take),
    so a render running now is never disturbed. Returns how many were removed.
    """
    age = 2 * RENDER_TIMEOUT_SECONDS if min_age is None else min_age
    root = Path(folder or tempfile.gettempdir())
    try:
        candidates = list(root.glob(f"{TEMP_PREFIX}*"))
    except OSError:
        return 0
    orphans = [path for path in candidates if _orphaned(path)]
    removed = remove_stale(orphans, 0.0, own_folders_only=True)
    removed += remove_stale([p for p in candidates if p not in orphans], age,
                            own_folders_only=True)
    if removed:
        log.info("removed %d leftover render folder(s) in %s", removed, root)
    return removed


def _clean_once() -> None:
    global _cleaned
    if not _cleaned:
        _cleaned = True
        remove_stale_renders()


class Terminated(SystemExit):
    """SIGTERM arrived while a render ran: the process exits once its folders are gone."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated(128 + signum)


@contextlib.contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception (so that ``finally`` blocks run) while the block
    runs, where nobody else handles it: only in the main thread, and only if the signal
    has its default action (a server that handles SIGTERM itself keeps its handler)."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def render_folder() -> Iterator[Path]:
    """A fresh temporary folder for one render, removed however the render ends; leftovers
    of earlier processes are swept first (once per process)."""
    _clean_once()
    with _exit_on_sigterm():
        prefix = f"{TEMP_PREFIX}{os.getpid()}-{_host_tag()}-"
        folder = Path(tempfile.mkdtemp(prefix=prefix))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def run_synth(command: list[str], output: Path, max_bytes: int, what: str) -> None:
    """Run ``command``, which writes ``output``; stop it if ``output`` grows past
    ``max_bytes`` or it runs past :data:`RENDER_TIMEOUT_SECONDS`.

    Its messages go to a file beside ``output`` (a pipe could fill and stall it), and the
    last line of them explains a failure.

    Raises:
        AudioError: it could not start, failed, wrote too much or took too long, each
            said in one line naming ``what``.
    """
    log_path = output.with_name(output.name + ".log")
    program = Path(command[0]).name
    with open(log_path, "wb") as messages:
        try:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                     stdout=messages, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise AudioError(f"could not run {command[0]}: {exc.strerror or exc}") from None
        try:
            _watch(child, output, max_bytes, what, program)
        finally:
            if child.poll() is None:  # stopped, failed or interrupted: never left running
                child.kill()
                child.wait()
    text = log_path.read_text(errors="replace")
    if child.returncode != 0:
        lines = [line for line in text.splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else "no message"
        raise AudioError(f"{program} failed with status {child.returncode}: {detail}")
    if text.strip():
        log.debug("%s: %s", program, text.strip())


def _watch(child: subprocess.Popen[bytes], output: Path, max_bytes: int, what: str,
           program: str) -> None:
    """Wait for ``child``, raising (and so stopping it) on too much output or too long."""
    deadline = time.monotonic() + RENDER_TIMEOUT_SECONDS
    while True:
        try:
            child.wait(timeout=POLL_SECONDS)
            return
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(OSError):
            if output.stat().st_size > max_bytes:
                raise AudioError(f"{what}: {program} wrote more than {max_bytes / 1e6:,.0f} "
                                 "MB of audio, more than the longest render allowed; stopped")
        if time.monotonic() > deadline:
            raise AudioError(f"{program} did not finish within "
                             f"{RENDER_TIMEOUT_SECONDS:.0f} s")
