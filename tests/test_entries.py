"""Cache entries: arrays and a JSON header in one byte string, bits for 0/1 arrays."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest

from cadenza.data.cache import score_entry, score_from_entry
from cadenza.data.entries import EntryError, pack_entry, unpack_entry
from cadenza.data.jobs import PieceResult as _Result
from cadenza.score import MeterFilterReport, Score, Tempo, TimeSignature, make_notes

ARRAYS = {
    "ints": np.arange(-5, 5, dtype=np.int32).reshape(2, 5),
    "floats": np.linspace(0, 1, 6, dtype=np.float32).reshape(3, 2, 1),
    "roll": (np.random.default_rng(0).random((9, 88)) < 0.2).astype(np.uint8),
    "mask": np.array([True, False, True]),
    "empty": np.zeros((0, 4), dtype=np.int64),
    "counts": np.array([0, 1, 2, 3], dtype=np.uint8),  # uint8 but not 0/1: stored as bytes
    "big_endian": np.arange(3, dtype=">i4"),
}


def test_round_trip_keeps_values_dtypes_and_shapes() -> None:
    arrays, meta = unpack_entry(pack_entry(ARRAYS, {"name": "ünïcode", "n": [1, 2]}))
    assert meta == {"name": "ünïcode", "n": [1, 2]}
    assert list(arrays) == list(ARRAYS)
    for name, original in ARRAYS.items():
        got = arrays[name]
        np.testing.assert_array_equal(got, original)
        assert got.shape == original.shape and got.dtype.kind == original.dtype.kind
        assert got.dtype.itemsize == original.dtype.itemsize and got.flags.writeable


def test_binary_arrays_are_stored_as_bits() -> None:
    roll = np.tile(ARRAYS["roll"], (50, 1))
    packed = len(pack_entry({"roll": roll}))
    assert packed < roll.nbytes / 7
    assert len(pack_entry({"counts": np.tile(ARRAYS["counts"], 200)})) > 800


def test_objects_cannot_be_stored() -> None:
    with pytest.raises(TypeError, match="not a plain number"):
        pack_entry({"x": np.array([object()])})


def entry_with_header(header: bytes, payload: bytes = b"") -> bytes:
    return struct.pack("<4sBI", b"CDZE", 1, len(header)) + header + payload


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"CDZE",
        b"PK\x03\x04" + bytes(20),  # another format
        entry_with_header(b"{not json"),
        entry_with_header(b'{"meta": {}}'),
        entry_with_header(b'{"meta": [], "arrays": []}'),
        entry_with_header(b'{"meta": {}, "arrays": [{"name": "x", "dtype": "|O", '
                          b'"shape": [1], "bits": false}]}'),
        entry_with_header(b'{"meta": {}, "arrays": [{"name": "x", "dtype": "<i8", '
                          b'"shape": [1000000000000], "bits": false}]}'),
        entry_with_header(b'{"meta": {}, "arrays": [{"name": "x", "dtype": "<i8", '
                          b'"shape": [-1], "bits": false}]}'),
        entry_with_header(b'{"meta": {}, "arrays": [{"name": "x", "dtype": "<i8", '
                          b'"shape": [1], "bits": true}]}'),
        entry_with_header(b'{"meta": {}, "arrays": []}', b"trailing bytes"),
    ],
    ids=["empty", "prefix-only", "not-an-entry", "bad-json", "no-arrays", "meta-not-a-dict",
         "object-dtype", "huge-shape", "negative-shape", "bits-of-int64", "trailing"],
)
def test_damaged_or_forged_entries_raise_entry_error(data: bytes) -> None:
    with pytest.raises(EntryError):
        unpack_entry(data)


def test_every_truncation_is_detected() -> None:
    data = pack_entry(ARRAYS, {"a": 1})
    for cut in range(len(data)):
        with pytest.raises(EntryError):
            unpack_entry(data[:cut])


def demo_score() -> tuple[Score, MeterFilterReport]:
    notes = make_notes([0, 2, 2, 5_000_000_000], [2, 1, 4, 1], [60, 64, 67, 72], [90, 80, 70, 1])
    score = Score(notes, 4, tempos=(Tempo(0, 100.0), Tempo(8, 90.5)),
                  time_signatures=(TimeSignature(0, 4, 4),), name="démo", meta={"k": "v"})
    return score, MeterFilterReport(16, 4, ("3/4",), 2)


def test_score_entries_round_trip_with_wide_times() -> None:
    score, report = demo_score()
    back, back_report = score_from_entry(score_entry(score, report))
    np.testing.assert_array_equal(back.notes, score.notes)
    assert back.tempos == score.tempos and back.time_signatures == score.time_signatures
    assert (back.name, back.meta, back_report) == (score.name, score.meta, report)


def test_results_travel_between_processes_as_entries() -> None:
    score, report = demo_score()
    roll = np.tile(ARRAYS["roll"], (50, 1))
    result = _Result("a.mid", "hash", score, report, roll)
    data = pickle.dumps(result)
    assert len(data) < roll.nbytes / 4  # the roll travelled as bits
    back = pickle.loads(data)
    np.testing.assert_array_equal(back.array, roll)
    np.testing.assert_array_equal(back.score.notes, score.notes)
    assert back.score_bytes == result.score_entry()  # the cache stores these very bytes
