"""Small hostile MIDI files built byte by byte, and a folder that cannot be listed, for the
tests of cadenza's limits."""

from __future__ import annotations

import errno
import os
import struct
import time
from typing import Any

import pytest

NOTE = b"\x90\x3c\x40"  # note-on, middle C
NOTE_OFF = b"\x80\x3c\x40"
TEXT = b"\xff\x01\x01a"  # a one-letter text event
END_OF_TRACK = b"\x00\xff\x2f\x00"
MAX_DELTA = 0x0FFFFFFF  # the largest delta time a 4-byte variable-length number holds


def vlq(n: int) -> bytes:
    """``n`` as a MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def track_file(events: bytes, division: int = 480) -> bytes:
    """A type-0 file of one track holding ``events`` (end of track included by the caller)."""
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, division)
    return header + b"MTrk" + struct.pack(">I", len(events)) + events


def one_note_file(delta: int, division: int = 480, repeats: int = 0) -> bytes:
    """``repeats`` text events ``delta`` ticks apart, then one note after ``delta`` more
    ticks. ``one_note_file(2**28 - 1)`` is 38 bytes with a note at tick 2**28 - 1."""
    events = b"".join(vlq(delta) + TEXT for _ in range(repeats))
    events += vlq(delta) + NOTE + vlq(10) + NOTE_OFF + END_OF_TRACK
    return track_file(events, division)


def note_held_past_int32() -> bytes:
    """A note struck at tick 0 and released after 9 x (2**28 - 1) ticks, past 2**31: the
    MIDI library's 32-bit ticks wrap round and lose it."""
    events = b"\x00" + NOTE + b"".join(vlq(MAX_DELTA) + TEXT for _ in range(9))
    return track_file(events + b"\x00" + NOTE_OFF + END_OF_TRACK)


def silence_after_a_note(delta: int, division: int = 480) -> bytes:
    """One short note at tick 0, then a text event ``delta`` ticks later: a file whose notes
    are short but that a synthesiser plays to its last event."""
    events = b"\x00" + NOTE + vlq(10) + NOTE_OFF + vlq(delta) + TEXT + END_OF_TRACK
    return track_file(events, division)


def deny_listing(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make listing a folder whose path ends in ``name`` fail as a folder without read
    permission does (a test running as root could read it whatever its mode)."""
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if str(path).endswith(name):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)


def invoke_timed(args: list[str]) -> tuple[Any, float]:
    """Run the command line ``cadenza ARGS``; returns its result and the seconds it took,
    the modules it imports (the first time, seconds on a busy machine) not counted."""
    from typer.testing import CliRunner

    from cadenza.cli import app

    runner = CliRunner()
    runner.invoke(app, [args[0], "--help"])  # imports the command's module
    began = time.monotonic()
    result = runner.invoke(app, args)
    return result, time.monotonic() - began
