"""A score's tempo changes as two NumPy columns.

Real MIDI files encode rubato as thousands of tempo changes (a piano-midi.de piece holds up
to tens of thousands), so a tempo map built from one Python object per change dominated the
time of reading a folder. :class:`TempoMap` keeps the ticks and tempi as arrays, does the
work the pipeline needs (rescaling to a grid, cutting sections, converting ticks to seconds)
column-wise, and still behaves as a read-only sequence of :class:`Tempo` for
code that iterates over it. :class:`Tempo` (one change) lives here too; ``cadenza.score``
re-exports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from cadenza.errors import ConfigError

__all__ = ["DEFAULT_QPM", "Tempo", "TempoMap", "as_tempo_map"]

DEFAULT_QPM = 120.0


@dataclass(frozen=True)
class Tempo:
    """A tempo change at ``tick``, in quarter notes per minute."""

    tick: int
    qpm: float


class TempoMap(Sequence[Tempo]):
    """Tempo changes sorted by tick: ``ticks`` (int64) and ``qpm`` (float64), read-only.

    Only the last change of each tick is kept. Before the first change the tempo is
    ``DEFAULT_QPM`` (120 quarter notes per minute).
    """

    __slots__ = ("qpm", "ticks")

    def __init__(self, ticks: Any = (), qpm: Any = ()) -> None:
        t = np.asarray(ticks, dtype=np.int64).reshape(-1)
        q = np.asarray(qpm, dtype=np.float64).reshape(-1)
        if t.shape != q.shape:
            raise ConfigError(f"tempo map: {len(t)} ticks but {len(q)} tempi")
        if len(t) and not bool((q > 0).all()):
            raise ConfigError("tempo map: every tempo must be positive")
        if len(t) > 1:
            step = t[1:] - t[:-1]
            if not bool((step > 0).all()):
                if not bool((step >= 0).all()):  # rescaled maps are only non-decreasing
                    order = np.argsort(t, kind="stable")
                    t, q = t[order], q[order]
                last = np.append(t[1:] != t[:-1], True)  # the last change of each tick wins
                t, q = t[last], q[last]
        t.flags.writeable = False
        q.flags.writeable = False
        self.ticks = t
        self.qpm = q

    @classmethod
    def from_events(cls, tempos: Iterable[Tempo]) -> TempoMap:
        """A map from ``Tempo`` objects (any order; the last of equal ticks wins)."""
        items = list(tempos)
        return cls([t.tick for t in items], [t.qpm for t in items])

    @classmethod
    def concatenate(cls, maps: Iterable[TempoMap]) -> TempoMap:
        """The changes of ``maps`` one after another (the last of equal ticks wins)."""
        items = list(maps)
        return cls(np.concatenate([np.zeros(0, np.int64), *(m.ticks for m in items)]),
                   np.concatenate([np.zeros(0), *(m.qpm for m in items)]))

    # -- sequence protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ticks)

    @overload
    def __getitem__(self, index: int) -> Tempo: ...

    @overload
    def __getitem__(self, index: slice) -> TempoMap: ...

    def __getitem__(self, index: int | slice) -> Tempo | TempoMap:
        if isinstance(index, slice):
            return TempoMap(self.ticks[index], self.qpm[index])
        return Tempo(int(self.ticks[index]), float(self.qpm[index]))

    def __iter__(self) -> Iterator[Tempo]:
        return map(Tempo, self.ticks.tolist(), self.qpm.tolist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TempoMap):
            return bool(np.array_equal(self.ticks, other.ticks)
                        and np.array_equal(self.qpm, other.qpm))
        if isinstance(other, (tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"({t}, {q:g})" for t, q in zip(self.ticks[:4], self.qpm[:4],
                                                          strict=True))
        more = f", ... {len(self)} in all" if len(self) > 4 else ""
        return f"TempoMap([{shown}{more}])"

    # -- column-wise operations ----------------------------------------------------------------
    def rescaled(self, src_tpq: int, dst_tpq: int) -> TempoMap:
        """The map at another resolution: ticks rounded to the nearest new tick (half up);
        of changes that land on the same tick the last wins."""
        ticks = np.floor(self.ticks.astype(np.float64) * dst_tpq / src_tpq + 0.5)
        return TempoMap(ticks.astype(np.int64), self.qpm)

    def qpm_at(self, tick: int) -> float | None:
        """The tempo in force at ``tick`` (``None`` before the first change)."""
        index = int(np.searchsorted(self.ticks, tick, side="right")) - 1
        return float(self.qpm[index]) if index >= 0 else None

    def section(self, lo: int, hi: int, offset: int) -> TempoMap:
        """The changes that govern ticks ``lo .. hi - 1``, moved back by ``offset`` ticks: the
        tempo in force at ``lo`` (placed at ``lo``) and the changes strictly inside."""
        start = int(np.searchsorted(self.ticks, lo, side="right"))
        stop = int(np.searchsorted(self.ticks, hi, side="left"))
        ticks, qpm = self.ticks[start:stop], self.qpm[start:stop]
        if start > 0:
            ticks = np.concatenate(([lo], ticks))
            qpm = np.concatenate((self.qpm[start - 1 : start], qpm))
        return TempoMap(ticks - offset, qpm)

    def seconds(self, ticks: Any, ticks_per_quarter: int) -> np.ndarray:
        """Seconds from tick 0 to each of ``ticks`` (any shape), following the map."""
        query = np.asarray(ticks, dtype=np.float64)
        starts = np.concatenate(([0.0], self.ticks))
        qpm = np.concatenate(([DEFAULT_QPM], self.qpm))
        if len(self) and self.ticks[0] <= 0:  # a change at tick 0 replaces the default
            starts, qpm = starts[1:], qpm[1:]
        seconds_per_tick = 60.0 / (qpm * ticks_per_quarter)
        at_start = np.concatenate(([0.0], np.cumsum(np.diff(starts) * seconds_per_tick[:-1])))
        index = np.clip(np.searchsorted(starts, query, side="right") - 1, 0, None)
        result: np.ndarray = at_start[index] + (query - starts[index]) * seconds_per_tick[index]
        return result


def as_tempo_map(tempos: Sequence[Tempo]) -> TempoMap:
    """``tempos`` itself when it is a :class:`TempoMap`, else a map built from it."""
    return tempos if isinstance(tempos, TempoMap) else TempoMap.from_events(tempos)
