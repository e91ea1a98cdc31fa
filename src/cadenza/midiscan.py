"""Count the notes of a standard MIDI file, and find where it ends, without parsing it.

A file of a megabyte can hold some 350,000 note-on events (three bytes each with running
status). :func:`count_note_ons` walks the track chunks event by event, keeping nothing but a
counter, and stops as soon as the count passes a limit, so such a file is refused before
anything of its size is built in memory.

:func:`last_tick` walks them the same way and adds up the delta times with Python's
unbounded integers: the MIDI library counts ticks in 32 bits, so a file whose events pass
tick 2**31 comes out of it with wrapped, negative or lost notes, and only this sum says how
long the file really is. A synthesiser plays a file up to its last event, whatever it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cadenza.errors import MidiError

# Data bytes that follow each channel status (high nibble): note off/on, key pressure,
# control change, program change, channel pressure, pitch bend.
_DATA_BYTES = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}


def _vlq(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A variable-length quantity at ``pos``: ``(value, next position)``."""
    value = 0
    for _ in range(4):
        if pos >= end:
            raise ValueError("a variable-length number runs past its chunk")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise ValueError("a variable-length number longer than 4 bytes")


def _walk_track(data: bytes, pos: int, end: int, budget: int) -> tuple[int, int]:
    """``(note-ons, ticks)`` of the track ``data[pos:end]``: the note-ons with a velocity
    above 0 and the sum of the delta times, stopping once the count passes ``budget``."""
    count = 0
    ticks = 0
    status = 0
    while pos < end and count <= budget:
        delta, pos = _vlq(data, pos, end)
        ticks += delta
        if pos >= end:
            raise ValueError("an event is cut off at the end of its chunk")
        byte = data[pos]
        if byte & 0x80:
            pos += 1
            if byte == 0xFF:  # meta event: type, length, data
                if pos >= end:
                    raise ValueError("a meta event is cut off")
                length, pos = _vlq(data, pos + 1, end)
                pos += length
                continue
            if byte in (0xF0, 0xF7):  # system exclusive: length, data
                length, pos = _vlq(data, pos, end)
                pos += length
                continue
            if byte >= 0xF0:
                raise ValueError(f"system message 0x{byte:02X} inside a track")
            status = byte
        elif not status:
            raise ValueError("a data byte with no running status")
        size = _DATA_BYTES[status >> 4]
        if pos + size > end:
            raise ValueError("an event is cut off at the end of its chunk")
        if status >> 4 == 0x9 and data[pos + 1] > 0:
            count += 1
        pos += size
    return count, ticks


def _walk(data: bytes, limit: int, path: str | Path) -> tuple[int, int]:
    """``(note-ons, last tick)`` over every track of ``data``; the count stops just past
    ``limit`` (and the tick with it)."""
    if not data.startswith(b"MThd"):
        raise MidiError(path, "not-midi", "no MThd header")
    total = 0
    last = 0
    pos = 0
    try:
        while pos + 8 <= len(data) and total <= limit:
            kind = data[pos:pos + 4]
            length = int.from_bytes(data[pos + 4:pos + 8], "big")
            start, pos = pos + 8, pos + 8 + length
            if kind == b"MTrk":
                count, ticks = _walk_track(data, start, min(pos, len(data)), limit - total)
                total += count
                last = max(last, ticks)
    except (ValueError, KeyError) as exc:
        raise MidiError(path, "corrupt", str(exc)) from None
    return total, last


def count_note_ons(data: bytes, limit: int, path: str | Path = "<bytes>") -> int:
    """Note-on events in the MIDI file ``data``, counted up to just past ``limit``.

    Returns the exact count when it is at most ``limit``, else some number above it.

    Raises:
        MidiError: ``not-midi`` without an ``MThd`` header, ``corrupt`` for a chunk or
            event that runs past the data or makes no sense.
    """
    return _walk(data, limit, path)[0]


def last_tick(data: bytes, path: str | Path = "<bytes>") -> int:
    """The tick of the last event of the MIDI file ``data`` (of its longest track), exact
    however far past 32 bits it lies.

    Raises:
        MidiError: as :func:`count_note_ons`.
    """
    return _walk(data, sys.maxsize, path)[1]
