"""Features of bar-aligned excerpts, for telling composed music from real music.

An *excerpt* is a window of a quantised score (:data:`STEPS_PER_QUARTER` steps per quarter,
:data:`STEPS_PER_BAR` steps per 4/4 bar) that starts on a bar line: the notes *starting* in
it, their times measured from its start and their durations cut at its end
(:func:`excerpt_notes`). :func:`features` describes one excerpt by named numbers; the prefix
of a name is its group:

* ``harmony``: pitch-class shares rotated to the excerpt's estimated tonic (Krumhansl-Kessler,
  :func:`cadenza.controls.detect_key`), minor mode, share in the key, pitch-class entropy,
  interval classes of the pitches sounding at each onset, bar-to-bar pitch-class cosine at
  lags 1 and 4, chord sizes (notes struck together);
* ``metre``: share of onset steps on each 16th of the bar, and the eighth-off-beat ratio;
* ``density``: notes and onset steps per beat, polyphony, silent share;
* ``durations``: histogram of note lengths, mean log2 length;
* ``register``: mean, spread and span of pitch;
* ``melody``: intervals of the top voice;
* ``repetition``: bars that repeat an earlier bar literally, in rhythm, or transposed;
* ``dynamics``: velocity mean, spread, change from bar to bar, accent of the top voice.

Every feature is invariant under transposition except ``register.pitch_mean``, which moves
by the transposition (a whole excerpt played a fourth higher sits a fourth higher); no
feature depends on the key's name. Every feature is defined on an empty excerpt (silence
is a fact about composed music, not an error), so a silent excerpt stands out instead of
being skipped. Used by ``benchmarks/realism.py`` with :mod:`cadenza.metrics.twosample`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cadenza.controls import detect_key
from cadenza.errors import DataError
from cadenza.metrics.timeline import bars
from cadenza.metrics.twosample import constant_columns
from cadenza.score import NOTE_DTYPE, Score, section_cuts

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16
EXCERPT_BARS = 16
DYNAMICS = "dynamics"
NOT_TRANSPOSITION_INVARIANT = ("register.pitch_mean",)
EIGHTH_OFFBEATS = (2, 6, 10, 14)  # 0-based 16th positions of the eighth-note off-beats
SIXTEENTH_OFFBEATS = tuple(range(1, STEPS_PER_BAR, 2))  # the odd 16th positions
DURATION_BINS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 7), (8, 8), (9, 15), (16, None))
INTERVAL_BINS = ((0, 0), (1, 2), (3, 4), (5, 7), (8, 12), (13, None))  # |semitones|


# -- excerpts ------------------------------------------------------------------------------------
def excerpt_notes(score: Score, start_tick: int, steps: int) -> np.ndarray:
    """The notes of ``score`` starting in ``[start_tick, start_tick + steps)``, moved to start
    from 0, each cut to end by ``steps``; notes of no length are left out.

    Raises:
        DataError: the score is not quantised to :data:`STEPS_PER_QUARTER`.
    """
    if score.ticks_per_quarter != STEPS_PER_QUARTER:
        raise DataError(f"score {score.name!r} has {score.ticks_per_quarter} ticks per quarter; "
                        f"excerpts need a score quantised to {STEPS_PER_QUARTER}")
    notes = score.notes
    inside = ((notes["start"] >= start_tick) & (notes["start"] < start_tick + steps)
              & (notes["duration"] > 0))
    out = notes[inside].copy()
    out["start"] -= start_tick
    out["duration"] = np.minimum(out["duration"], steps - out["start"])
    return out


def sounding_share(notes: np.ndarray, steps: int) -> float:
    """Share of the ``steps`` steps at which at least one note sounds (0 to 1)."""
    return float(_sounding(notes, steps).any(axis=1).mean()) if steps else 0.0


def window_starts(score: Score, num_bars: int = EXCERPT_BARS, min_sounding: float = 0.5
                  ) -> list[int]:
    """Start ticks of non-overlapping windows of ``num_bars`` 4/4 bars, taken in order.

    Each starts on a bar line of the score (of its own metre), ends by the end of its last
    note, has no section cut strictly inside (where a metre filter removed music,
    :func:`cadenza.score.section_cuts`), and is *mostly sounding*: something sounds in at
    least ``min_sounding`` of its steps. A window that fails is tried again one bar later.
    """
    steps = num_bars * STEPS_PER_BAR
    cuts = section_cuts(score)
    starts: list[int] = []
    free_from = 0
    for line in bars(score)[:, 0].tolist():
        end = line + steps
        if line < free_from or any(line < cut < end for cut in cuts):
            continue
        if end > score.end_tick:
            break
        if sounding_share(excerpt_notes(score, line, steps), steps) >= min_sounding:
            starts.append(line)
            free_from = end
    return starts


# -- the shared view of one excerpt ----------------------------------------------------------
def _sounding(notes: np.ndarray, steps: int) -> np.ndarray:
    """Which pitches sound at each step: bool array of shape ``(steps, 128)``."""
    change = np.zeros((steps + 1, 128), dtype=np.int32)  # (T + 1, 128)
    pitch = notes["pitch"].astype(np.int64)
    np.add.at(change, (notes["start"], pitch), 1)
    np.add.at(change, (np.minimum(notes["start"] + notes["duration"], steps), pitch), -1)
    return np.cumsum(change[:-1], axis=0) > 0  # (T, 128)


@dataclass(frozen=True)
class _View:
    """One excerpt's notes and the arrays every group reads."""

    notes: np.ndarray
    steps: int
    pitch: np.ndarray  # (N,) int64
    roll: np.ndarray  # (T, 128) bool
    pc_counts: np.ndarray  # (T, 12) distinct sounding pitches per pitch class
    onsets: np.ndarray  # (G,) distinct onset steps
    onset_sizes: np.ndarray  # (G,) notes starting at each
    onset_tops: np.ndarray  # (G,) highest pitch starting at each

    @classmethod
    def of(cls, notes: np.ndarray, steps: int) -> _View:
        roll = _sounding(notes, steps)
        padded = np.zeros((steps, 132), dtype=np.int64)  # 11 octaves of 12
        padded[:, :128] = roll
        onsets, first, sizes = np.unique(notes["start"], return_index=True, return_counts=True)
        pitch = notes["pitch"].astype(np.int64)
        tops = np.maximum.reduceat(pitch, first) if len(pitch) else pitch
        return cls(notes, steps, pitch, roll, padded.reshape(steps, 11, 12).sum(axis=1),
                   onsets.astype(np.int64), sizes, tops)

    @property
    def beats(self) -> float:
        return self.steps / STEPS_PER_QUARTER

    @property
    def num_bars(self) -> int:
        return self.steps // STEPS_PER_BAR

    def bar_of(self, ticks: np.ndarray) -> np.ndarray:
        return np.asarray(ticks) // STEPS_PER_BAR

    def top_voice(self) -> np.ndarray:
        """Indices (into ``onsets``) of the onsets whose highest new note is the highest
        pitch sounding then: the melody line as a listener hears it on top."""
        if not len(self.onsets):
            return self.onsets
        highest = 127 - np.argmax(self.roll[self.onsets, ::-1], axis=1)
        return np.flatnonzero(self.onset_tops >= highest)


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros(len(counts))


def _binned(values: np.ndarray, edges: Sequence[tuple[int, int | None]]) -> np.ndarray:
    """Share of ``values`` in each inclusive ``(low, high)`` bin (``None``: no upper end)."""
    counts = np.array([((values >= lo) & (values <= (hi if hi is not None else np.inf))).sum()
                       for lo, hi in edges], dtype=np.float64)
    return _shares(counts)


def _bin_name(edges: tuple[int, int | None]) -> str:
    """``"4"``, ``"5_7"`` or ``"16plus"`` for the bins ``(4, 4)``, ``(5, 7)``, ``(16, None)``."""
    low, high = edges
    return f"{low}plus" if high is None else str(low) if high == low else f"{low}_{high}"


def _mean_cosine(vectors: np.ndarray, lag: int) -> float:
    """Mean cosine similarity of rows ``i`` and ``i + lag`` over pairs where both have
    notes; 0 when there is no such pair."""
    norms = np.linalg.norm(vectors, axis=1)
    values = [float(vectors[i] @ vectors[i + lag] / (norms[i] * norms[i + lag]))
              for i in range(len(vectors) - lag) if norms[i] > 0 and norms[i + lag] > 0]
    return float(np.mean(values)) if values else 0.0


# -- the groups ----------------------------------------------------------------------------------
def _harmony(x: _View) -> dict[str, float]:
    weights = x.notes["duration"].astype(np.float64)
    histogram = np.bincount(x.pitch % 12, weights=weights, minlength=12)
    key = detect_key(x.pitch, weights)
    share = _shares(np.roll(histogram, -key.tonic))  # pitch classes from the tonic up
    out = {f"pc_{k:02d}": float(share[k]) for k in range(12)}
    out["minor"] = float(key.mode == "minor")
    out["in_key_share"] = float(_shares(histogram)[sorted(key.pitch_classes)].sum())
    used = share[share > 0]
    out["pc_entropy"] = float(-(used * np.log2(used)).sum())
    counts = x.pc_counts[x.onsets]  # (G, 12): what sounds when something is struck
    pairs = np.zeros(7)
    pairs[0] = (counts * (counts - 1) // 2).sum()
    for interval in range(1, 7):
        products = (counts * np.roll(counts, -interval, axis=1)).sum()
        pairs[interval] = products / 2 if interval == 6 else products
    out |= {f"interval_class_{k}": float(v) for k, v in enumerate(_shares(pairs))}
    per_bar = x.pc_counts.reshape(x.num_bars, STEPS_PER_BAR, 12).sum(axis=1).astype(float)
    out["bar_cosine_lag1"] = _mean_cosine(per_bar, 1)
    out["bar_cosine_lag4"] = _mean_cosine(per_bar, 4)
    sizes = x.onset_sizes
    out["chord_size_mean"] = float(sizes.mean()) if len(sizes) else 0.0
    for size, share_of in zip(("1", "2", "3", "4plus"),
                              _binned(sizes, ((1, 1), (2, 2), (3, 3), (4, None))), strict=True):
        out[f"chord_size_{size}"] = float(share_of)
    return out


def offbeat_shares(onset_shares: np.ndarray) -> tuple[float, float]:
    """Mean share of onsets on an eighth-note off-beat (positions 2, 6, 10, 14 of 16) and on
    the other off-beat 16ths (the odd positions), from the 16 per-position shares."""
    return (float(onset_shares[list(EIGHTH_OFFBEATS)].mean()),
            float(onset_shares[list(SIXTEENTH_OFFBEATS)].mean()))


def _metre(x: _View) -> dict[str, float]:
    positions = np.bincount(x.onsets % STEPS_PER_BAR, minlength=STEPS_PER_BAR)
    share = _shares(positions.astype(np.float64))
    out = {f"position_{k:02d}": float(share[k]) for k in range(STEPS_PER_BAR)}
    eighth, sixteenth = offbeat_shares(share)
    out["eighth_offbeat_ratio"] = eighth / (eighth + sixteenth) if eighth + sixteenth else 0.5
    return out


def _density(x: _View) -> dict[str, float]:
    sounding = x.roll.sum(axis=1)
    return {
        "notes_per_beat": len(x.notes) / x.beats,
        "onsets_per_beat": len(x.onsets) / x.beats,
        "polyphony": float(sounding[sounding > 0].mean()) if sounding.any() else 0.0,
        "silent_share": float((sounding == 0).mean()),
    }


def _durations(x: _View) -> dict[str, float]:
    durations = x.notes["duration"].astype(np.int64)
    out = {f"length_{_bin_name(edges)}": float(v)
           for edges, v in zip(DURATION_BINS, _binned(durations, DURATION_BINS), strict=True)}
    out["log2_length_mean"] = float(np.log2(durations).mean()) if len(durations) else 0.0
    return out


def _register(x: _View) -> dict[str, float]:
    if not len(x.pitch):
        return {"pitch_mean": 0.0, "pitch_sd": 0.0, "pitch_span_5_95": 0.0, "texture_span": 0.0}
    low, high = np.percentile(x.pitch, [5, 95])
    many = x.roll.sum(axis=1) >= 2
    rows = x.roll[many]
    spans = (127 - np.argmax(rows[:, ::-1], axis=1)) - np.argmax(rows, axis=1)
    return {"pitch_mean": float(x.pitch.mean()), "pitch_sd": float(x.pitch.std()),
            "pitch_span_5_95": float(high - low),
            "texture_span": float(spans.mean()) if len(spans) else 0.0}


def _melody(x: _View) -> dict[str, float]:
    line = x.onset_tops[x.top_voice()]
    steps = np.diff(line)
    sizes = np.abs(steps)
    out = {f"interval_{_bin_name(edges)}": float(v)
           for edges, v in zip(INTERVAL_BINS, _binned(sizes, INTERVAL_BINS), strict=True)}
    out["interval_mean"] = float(sizes.mean()) if len(sizes) else 0.0
    moves = steps[steps != 0]
    out["up_share"] = float((moves > 0).mean()) if len(moves) else 0.5
    return out


def _repetition(x: _View) -> dict[str, float]:
    bar = x.bar_of(x.notes["start"])
    position = x.notes["start"] % STEPS_PER_BAR
    seen: dict[str, set[bytes]] = {"literal": set(), "rhythm": set(), "transposed": set()}
    repeats = dict.fromkeys(seen, 0)
    filled = 0
    for index in range(x.num_bars):
        mine = bar == index
        if not mine.any():
            continue
        filled += 1
        pitch = x.pitch[mine]
        keys = {"literal": np.unique(np.stack([position[mine], pitch]), axis=1),
                "rhythm": np.unique(position[mine]),
                "transposed": np.unique(np.stack([position[mine], pitch - pitch.min()]), axis=1)}
        for name, content in keys.items():
            key = content.astype(np.int64).tobytes()
            repeats[name] += key in seen[name]
            seen[name].add(key)
    return {f"{name}_bar_repeats": count / filled if filled else 0.0
            for name, count in repeats.items()}


def _dynamics(x: _View) -> dict[str, float]:
    velocity = x.notes["velocity"].astype(np.float64)
    if not len(velocity):
        return {"velocity_mean": 0.0, "velocity_sd": 0.0, "velocity_bar_change": 0.0,
                "top_voice_accent": 0.0}
    bar = x.bar_of(x.notes["start"])
    counts = np.bincount(bar, minlength=x.num_bars)
    sums = np.bincount(bar, weights=velocity, minlength=x.num_bars)
    means = sums[counts > 0] / counts[counts > 0]
    top_rows = np.flatnonzero(np.isin(x.notes["start"], x.onsets[x.top_voice()])
                              & (x.pitch == np.repeat(x.onset_tops, x.onset_sizes)))
    return {"velocity_mean": float(velocity.mean()), "velocity_sd": float(velocity.std()),
            "velocity_bar_change": float(np.abs(np.diff(means)).mean()) if len(means) > 1
            else 0.0,
            "top_voice_accent": float(velocity[top_rows].mean() - velocity.mean())
            if len(top_rows) else 0.0}


GROUPS: tuple[tuple[str, Callable[[_View], dict[str, float]]], ...] = (
    ("harmony", _harmony), ("metre", _metre), ("density", _density), ("durations", _durations),
    ("register", _register), ("melody", _melody), ("repetition", _repetition),
    (DYNAMICS, _dynamics),
)


# -- the public face ------------------------------------------------------------------------------
def features(notes: np.ndarray, steps: int) -> dict[str, float]:
    """The named features of one excerpt of ``steps`` steps (a whole number of bars), in a
    fixed order; ``notes`` as :func:`excerpt_notes` gives them (sorted, starts in
    ``[0, steps)``).

    Raises:
        DataError: ``steps`` is not a positive whole number of bars, or a note lies outside.
    """
    if steps <= 0 or steps % STEPS_PER_BAR:
        raise DataError(f"an excerpt must be a whole number of {STEPS_PER_BAR}-step bars, "
                        f"got {steps} steps")
    if len(notes) and (int(notes["start"].min()) < 0 or int(notes["start"].max()) >= steps):
        raise DataError(f"an excerpt of {steps} steps has a note starting outside it")
    view = _View.of(notes, steps)
    return {f"{group}.{name}": value
            for group, describe in GROUPS for name, value in describe(view).items()}


def feature_names() -> list[str]:
    """The names :func:`features` returns, in its order."""
    return list(features(np.empty(0, dtype=NOTE_DTYPE), STEPS_PER_BAR))


def feature_matrix(excerpts: Sequence[np.ndarray], steps: int) -> np.ndarray:
    """Features of many excerpts of ``steps`` steps: float array ``(len(excerpts), F)``."""
    rows = [list(features(notes, steps).values()) for notes in excerpts]
    return np.asarray(rows, dtype=np.float64).reshape(len(excerpts), len(feature_names()))


def is_dynamics(name: str) -> bool:
    """Whether a feature measures loudness (left out of a notes-only test)."""
    return name.startswith(DYNAMICS + ".")


def feature_masks(x: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Which columns of ``x`` ``(N, F)`` (named ``names``) each test uses: ``"all"`` the
    features that vary over the rows (one value everywhere is constant by construction and
    says nothing), ``"notes"`` those of them that are not :func:`is_dynamics`."""
    varying = ~constant_columns(x)
    return {"all": varying, "notes": varying & ~np.array([is_dynamics(n) for n in names])}
