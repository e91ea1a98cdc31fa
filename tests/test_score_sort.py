"""Packed-key sorts order rows exactly like np.lexsort; remove_overlaps matches a plain loop."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.keysort import sort_rows


@pytest.mark.parametrize("high", [5, 128, 2**40])
def test_three_column_order_matches_numpy(high: int) -> None:
    def order_of(*columns: np.ndarray) -> np.ndarray:
        return sort_rows(columns)[0]

    rng = np.random.default_rng(high % 97)
    a, b, c = (rng.integers(0, high, 2000) for _ in range(3))
    np.testing.assert_array_equal(order_of(a, b, c), np.lexsort((c, b, a)))
    np.testing.assert_array_equal(order_of(a - high // 2, b, c), np.lexsort((c, b, a - high // 2)))
    assert order_of(a[:1], b[:1], c[:1]).tolist() == [0]


@pytest.mark.parametrize("high", [2, 300, 2**21, 2**62])
@pytest.mark.parametrize("width", [1, 2, 4])
def test_sort_rows_matches_lexsort_and_returns_sorted_columns(high: int, width: int) -> None:
    rng = np.random.default_rng(high % 89 + width)
    columns = [rng.integers(0, high, 1500) for _ in range(width)]
    order, sorted_columns = sort_rows(columns)
    np.testing.assert_array_equal(order, np.lexsort(columns[::-1]))
    for column, got in zip(columns, sorted_columns, strict=True):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, column[order])


def test_sort_rows_edge_cases() -> None:
    empty = np.zeros(0, dtype=np.int16)
    order, columns = sort_rows((empty, empty))
    assert order.shape == (0,) and [c.shape for c in columns] == [(0,), (0,)]
    order, columns = sort_rows((np.array([-3, 5, -3]), np.array([2, 0, 1])))  # negative: lexsort
    assert order.tolist() == [2, 0, 1] and columns[0].tolist() == [-3, -3, 5]


def naive_remove_overlaps(rows: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(start, duration, pitch) rows: longest of equal (pitch, start), cut at the next onset."""
    out = []
    for pitch in sorted({r[2] for r in rows}):
        best: dict[int, int] = {}
        for start, duration, p in rows:
            if p == pitch:
                best[start] = max(best.get(start, 0), duration)
        starts = sorted(best)
        for i, start in enumerate(starts):
            end = start + best[start]
            if i + 1 < len(starts):
                end = min(end, starts[i + 1])
            out.append((start, end - start, pitch))
    return sorted(out, key=lambda r: (r[0], r[2], r[1]))


@pytest.mark.parametrize("seed", range(5))
def test_remove_overlaps_matches_a_plain_loop(seed: int) -> None:
    from cadenza.score import make_notes, remove_overlaps

    rng = np.random.default_rng(seed)
    n = 300
    notes = make_notes(rng.integers(0, 60, n), rng.integers(1, 12, n), rng.integers(60, 66, n))
    rows = list(zip(notes["start"].tolist(), notes["duration"].tolist(),
                    notes["pitch"].tolist(), strict=True))
    got = remove_overlaps(notes[rng.permutation(n)])
    assert list(zip(got["start"].tolist(), got["duration"].tolist(), got["pitch"].tolist(),
                    strict=True)) == naive_remove_overlaps(rows)


def test_remove_overlaps_keeps_the_later_of_equal_notes() -> None:
    from cadenza.score import NOTE_DTYPE, remove_overlaps

    notes = np.array([(0, 4, 60, 10), (0, 4, 60, 20), (0, 2, 60, 30), (2, 1, 62, 40)],
                     dtype=NOTE_DTYPE)
    got = remove_overlaps(notes)
    assert got.tolist() == [(0, 4, 60, 20), (2, 1, 62, 40)]
