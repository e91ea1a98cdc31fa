"""The chord-so-far inputs of the biaxial note axis.

The note axis walks up the keyboard and chooses each note after the ones below it; in the
original model it sees only its lower neighbour's choice, so which pitches already sound in
the chord it is building must survive in a small LSTM's memory across dozens of keys. With
``chord_inputs`` the first note-axis layer also reads, for note ``n``, twelve counts: how
many notes already chosen to play at this step lie ``k`` semitones (mod 12) below it, for
``k = 0..11``. Intervals, not pitches, so the input means the same in every key (the
relative-pitch idea of Johnson 2017's tied parallel networks); a seventh or a second against
the chord is then one input away.

The same numbers come from two paths that tests hold equal: :func:`chord_counts`, all notes
at once from the known notes of a training window, and :class:`ChordWalk`, note by note as
generation chooses them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cadenza.errors import CheckpointError

__all__ = ["CHORD_INPUTS", "ChordWalk", "chord_counts", "grow_for_chords", "interval_matrix"]

CHORD_INPUTS = 12  # interval classes 0..11 semitones below the note, mod 12

_MATRICES: dict[tuple[int, torch.device, torch.dtype], torch.Tensor] = {}


def interval_matrix(num_notes: int, device: torch.device | None = None,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(N, N * 12) 0/1 matrix: row ``m``, column ``n * 12 + k`` is 1 when ``m < n`` and
    ``(n - m) mod 12 == k``, so ``play @ matrix`` counts the notes below each note by
    interval class."""
    key = (num_notes, torch.device(device or "cpu"), dtype)
    cached = _MATRICES.get(key)
    if cached is None:
        m = torch.arange(num_notes)[:, None]
        n = torch.arange(num_notes)[None, :]
        below = (m < n)[..., None]  # (N, N, 1)
        classes = ((n - m) % CHORD_INPUTS)[..., None] == torch.arange(CHORD_INPUTS)
        cached = (below & classes).reshape(num_notes, num_notes * CHORD_INPUTS)
        cached = cached.to(device=key[1], dtype=dtype)
        _MATRICES[key] = cached
    return cached


def chord_counts(play: torch.Tensor) -> torch.Tensor:
    """``play`` (..., N) 0/1 of one step's notes -> (..., N, 12): for every note, the notes
    playing below it by interval class (mod 12)."""
    n = play.shape[-1]
    matrix = interval_matrix(n, play.device, play.dtype)
    return (play @ matrix).reshape(*play.shape[:-1], n, CHORD_INPUTS)


class ChordWalk:
    """The chord-so-far counts, kept note by note during a walk up the keyboard.

    ``counts`` holds, for a batch of B rows, how many chosen notes have each pitch class
    (note index mod 12); :meth:`inputs` reads them as intervals below note ``n``.
    """

    def __init__(self, batch: int) -> None:
        self.counts = np.zeros((batch, CHORD_INPUTS), np.float32)
        self._order = (np.arange(CHORD_INPUTS)[:, None]
                       - np.arange(CHORD_INPUTS)[None, :]) % CHORD_INPUTS  # [n % 12, k]

    def inputs(self, note: int, out: np.ndarray) -> None:
        """Write note ``note``'s (B, 12) counts into ``out``."""
        np.take(self.counts, self._order[note % CHORD_INPUTS], axis=1, out=out)

    def add(self, note: int, play: np.ndarray) -> None:
        """Count the (B,) 0/1 ``play`` choices of note ``note``."""
        self.counts[:, note % CHORD_INPUTS] += play


def grow_for_chords(saved_config: dict[str, Any], weights: dict[str, torch.Tensor],
                    chord_inputs: bool) -> dict[str, torch.Tensor]:
    """The saved ``weights`` for a model with ``chord_inputs``: where the saved model had
    none, the new input columns of the first note layer start at zero."""
    saved = bool(saved_config.get("chord_inputs", False))
    if saved == chord_inputs:
        return weights
    if saved:
        raise CheckpointError("the saved model reads chord_inputs and this one does not; "
                              "add --set chord_inputs=true")
    name = "note_layers.0.weight_ih_l0"
    old = weights[name]
    grown = old.new_zeros(old.shape[0], old.shape[1] + CHORD_INPUTS)
    grown[:, : old.shape[1]] = old
    return {**weights, name: grown}
