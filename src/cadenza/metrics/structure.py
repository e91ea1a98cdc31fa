"""Structure metrics: exact bar repetition and the compressibility of the note stream."""

from __future__ import annotations

import zlib

import numpy as np

from cadenza.metrics.timeline import bars, require_notes
from cadenza.score import Score

BYTE_MAX = 255


def repeated_bar_rate(score: Score) -> float:
    """Share of non-empty bars whose content exactly repeats an earlier bar (0 to 1).

    A bar's content is its length and the set of ``(onset step within the bar, pitch)`` of
    the notes starting in it (durations are ignored). Bars in which no note starts count in
    neither numerator nor denominator. A bar played four times: 3 of 4 bars repeat, 0.75.
    """
    require_notes(score, "repeated_bar_rate")
    notes = score.notes
    starts = notes["start"]
    seen: set[tuple[int, bytes]] = set()
    filled = repeats = 0
    for bar_start, length in bars(score).tolist():
        lo, hi = np.searchsorted(starts, [bar_start, bar_start + length])
        if lo == hi:
            continue
        content = np.unique(np.stack([starts[lo:hi] - bar_start, notes["pitch"][lo:hi]]), axis=1)
        key = (length, content.astype(np.int64).tobytes())
        filled += 1
        repeats += key in seen
        seen.add(key)
    return repeats / filled


def note_stream_bytes(score: Score) -> bytes:
    """The notes as bytes, three per note in ``(start, pitch)`` order.

    Each note is ``(onset - previous onset, pitch, duration)`` in steps, the two times clipped
    to 0..255 (the first note's onset is measured from tick 0). Using onset differences makes
    a passage played twice give the same bytes twice, wherever it lies.
    """
    notes = score.notes
    starts = notes["start"].astype(np.int64)
    stream = np.empty((len(notes), 3), dtype=np.uint8)  # (N, 3)
    stream[:, 0] = np.clip(np.diff(starts, prepend=0), 0, BYTE_MAX)
    stream[:, 1] = notes["pitch"]
    stream[:, 2] = np.clip(notes["duration"], 0, BYTE_MAX)
    return stream.tobytes()


def compression_ratio(score: Score) -> float:
    """Size of :func:`note_stream_bytes` over its size after DEFLATE (zlib level 9), a ratio.

    Raw DEFLATE is used (no zlib header or checksum, about 2 bytes of overhead), so a short
    piece with no repetition scores close to 1 and a repetitive piece well above it.
    """
    require_notes(score, "compression_ratio")
    raw = note_stream_bytes(score)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(raw) + packer.flush()
    return len(raw) / len(packed)
