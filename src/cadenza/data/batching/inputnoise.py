"""Rhythmic noise on the steps a biaxial model reads, against exposure bias.

A biaxial model is trained on the true past (teacher forcing) but composes from its own.
Its own past has small rhythmic slips: a note a sixteenth early or late, a note left out.
Measured on the valid split, the metre below the beat then fades within a few bars, because
the model keeps the rhythm it has just heard rather than the beat (see ``docs/benchmarks.md``,
"Why the metre fades"). Training on a slightly wrong past teaches it to lean on what stays
right: the beat inputs and the longer context.

:func:`corrupt_onsets` changes the *input* steps of a training window only; the targets stay
the true next steps, and validation batches are never corrupted. Each note start is chosen
with probability ``rate``, and a chosen note is, with equal chance,

* **dropped**: the note and the steps it is held for are silenced;
* **late**: it starts one step later (a one-step note moves to the next step, if free);
* **early**: it starts one step earlier, when that step is silent for its key.
"""

from __future__ import annotations

import numpy as np

__all__ = ["corrupt_onsets"]


def corrupt_onsets(state: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``state`` ``(T, N, C)`` (play, articulate, ...) with rhythmic slips.

    ``rate`` is the chance that a note start is disturbed (0 returns an unchanged copy and
    draws nothing from ``rng``). Channels past the second (velocity bins) follow the notes.
    """
    out = np.array(state, copy=True)
    if rate <= 0.0:
        return out
    play = out[..., 0] > 0
    onsets = play & (out[..., 1] > 0)
    chosen = onsets & (rng.random(onsets.shape) < rate)
    if not chosen.any():
        return out
    kind = rng.integers(0, 3, size=onsets.shape)  # 0 dropped, 1 late, 2 early
    _drop(out, chosen & (kind == 0))
    _delay(out, chosen & (kind == 1))
    _advance(out, chosen & (kind == 2))
    return out


def _drop(out: np.ndarray, start: np.ndarray) -> None:
    """Silence each chosen note from its start through the steps it is held."""
    dropping = np.zeros(out.shape[1], dtype=bool)
    for t in range(out.shape[0]):
        held = (out[t, :, 0] > 0) & (out[t, :, 1] == 0)
        dropping = start[t] | (dropping & held)
        out[t, dropping] = 0


def _delay(out: np.ndarray, start: np.ndarray) -> None:
    """Move each chosen start one step later: the held step after it becomes the start, or a
    one-step note moves to the next step where that step is silent."""
    steps, notes = np.nonzero(start[:-1])
    for t, n in zip(steps.tolist(), notes.tolist(), strict=True):
        after = out[t + 1, n]
        if after[0] > 0 and after[1] == 0:  # held on: start it there instead
            after[1] = 1
            after[2:] = out[t, n, 2:]
        elif after[0] == 0:  # a one-step note: move it
            out[t + 1, n] = out[t, n]
        else:  # the next step starts the same key again: leave the note as it is
            continue
        out[t, n] = 0


def _advance(out: np.ndarray, start: np.ndarray) -> None:
    """Start each chosen note one step earlier where that step is silent for its key."""
    steps, notes = np.nonzero(start[1:])
    for t, n in zip((steps + 1).tolist(), notes.tolist(), strict=True):
        if out[t - 1, n, 0] == 0:
            out[t - 1, n] = out[t, n]
            out[t, n, 1] = 0  # now held from the step before
