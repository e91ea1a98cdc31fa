"""The server's own temporary folder, and the sweep of those that killed servers left.

Rendering a WAV writes a raw render of the whole piece into a temporary folder (hundreds of
MB for a long piece), which ``kill -9`` of the server leaves behind. So ``cadenza serve``
makes one folder of its own, ``<temp>/cadenza-web-<pid>-<random>``, and makes it the
process's temporary folder (``tempfile.tempdir``) while it serves: every temporary file of
the server, renders and spooled uploads alike, is made inside it. At the next start, the
folders of this user whose pid is no longer running are removed; those of a server that
runs now are left alone.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

SCRATCH_PREFIX = "cadenza-web-"
SCRATCH_NAME = re.compile(r"cadenza-web-(\d+)-.+")


def pid_running(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers(root: Path) -> int:
    """Remove this user's ``cadenza-web-<pid>-*`` folders under ``root`` whose pid is not
    running; returns how many. Anything else is left alone."""
    removed = 0
    try:
        candidates = sorted(root.glob(f"{SCRATCH_PREFIX}*"))
    except OSError:
        return 0
    for path in candidates:
        found = SCRATCH_NAME.fullmatch(path.name)
        if found is None or int(found.group(1)) == os.getpid():
            continue
        try:
            info = path.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            if pid_running(int(found.group(1))):
                continue
            shutil.rmtree(path)
            removed += 1
        except OSError as exc:
            log.warning("could not remove a killed server's temporary folder %s: %s", path, exc)
    if removed:
        log.info("removed %d temporary folder(s) of killed servers in %s", removed, root)
    return removed


@contextmanager
def server_scratch(root: Path) -> Iterator[Path]:
    """Sweep ``root``, then make this server's folder there the process's temporary folder
    until the block ends (then it is removed and the previous one restored)."""
    sweep_leftovers(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=root))
    previous = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(folder, ignore_errors=True)
