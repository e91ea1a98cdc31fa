"""WorkShare: jobs shared between this process and helpers give every result exactly once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cadenza.data.workshare import WorkShare

_OFFSET = 0


def set_offset(offset: int) -> None:
    global _OFFSET
    _OFFSET = offset


def square(x: int) -> tuple[int, int]:
    return x * x + _OFFSET, os.getpid()


def fail_on_seven(x: int) -> int:
    if x == 7 and os.getpid() != MAIN_PID:
        raise ValueError("seven is not welcome here")
    return x


def die_in_helper(x: int) -> tuple[int, int]:
    if os.getpid() != MAIN_PID:
        os._exit(3)  # a helper killed mid-chunk (as by the out-of-memory killer)
    return x, os.getpid()


def echo(blob: bytes) -> bytes:
    return blob


MAIN_PID = os.getpid()


@pytest.mark.parametrize("helpers", [0, 1, 3])
def test_every_job_runs_once_with_the_initializer(helpers: int) -> None:
    got: dict[int, tuple[int, int]] = {}

    def done(i: int, result: tuple[int, int]) -> None:
        assert i not in got
        got[i] = result

    set_offset(1)
    try:
        with WorkShare(square, [(x,) for x in range(200)], helpers, set_offset, (1,), 4) as share:
            share.run(done)
    finally:
        set_offset(0)
    assert sorted(got) == list(range(200))
    assert all(got[i][0] == i * i + 1 for i in got)
    pids = {pid for _, pid in got.values()}
    assert os.getpid() in pids  # this process worked too
    assert len(pids) <= helpers + 1


def test_large_arguments_and_results_cannot_deadlock() -> None:
    blob = b"x" * 300_000  # far larger than a pipe's buffer, both ways
    got: dict[int, int] = {}
    with WorkShare(echo, [(blob,)] * 60, 1, chunk_size=2) as share:
        share.run(lambda i, r: got.__setitem__(i, len(r)))
    assert got == dict.fromkeys(range(60), 300_000)


def test_an_exception_in_a_helper_is_raised_here() -> None:
    with pytest.raises(ValueError, match="not welcome"), \
            WorkShare(fail_on_seven, [(x,) for x in range(40)], 1, chunk_size=8) as share:
        share.run(lambda i, r: None)


def test_the_jobs_of_a_dead_helper_are_finished_here(caplog: pytest.LogCaptureFixture) -> None:
    got: dict[int, tuple[int, int]] = {}
    with caplog.at_level(logging.WARNING), \
            WorkShare(die_in_helper, [(x,) for x in range(30)], 2, chunk_size=3) as share:
        share.run(got.__setitem__)
    assert sorted(got) == list(range(30))
    assert {pid for _, pid in got.values()} == {os.getpid()}
    assert "helper process stopped" in caplog.text


PARENT_SCRIPT = """
import os, sys, time
from cadenza.data.workshare import WorkShare

def slow(i):
    time.sleep(60)
    return i

with WorkShare(slow, [(i,) for i in range(8)], helpers=1) as share:
    print(" ".join(str(h.process.pid) for h in share.helpers), flush=True)
    share.run(lambda i, r: None)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_helpers_end_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    helpers = [int(pid) for pid in parent.stdout.readline().split()]
    assert helpers
    time.sleep(0.5)  # the helper is inside its 60 s job now
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    alive = helpers
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in helpers if _running(pid)]
        time.sleep(0.1)
    assert not alive, f"helpers {alive} outlived their parent"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
