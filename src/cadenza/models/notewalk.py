"""The biaxial model's walk up the keyboard at generation time, in NumPy.

At every generated step the note-axis LSTM stack runs once per note, lowest first, and each
note is sampled before the next one is predicted (its lower neighbour's choice is part of the
next note's input). With 78 notes and small layers this is thousands of tiny operations per
step, so their fixed cost, not arithmetic, sets the speed. NumPy's per-call cost on small
arrays is a fraction of PyTorch's, and the walk below keeps the work per note and layer to
ten calls:

* the gate rows are reordered from PyTorch's ``i, f, g, o`` to ``i, f, o, g`` and the rows of
  the three sigmoid gates are halved, so one ``tanh`` over all gates gives
  ``sigmoid(x) = (1 + tanh(x / 2)) / 2`` for ``i, f, o`` and ``tanh(x)`` for ``g``;
* each layer multiplies one buffer ``[input | own h]`` by one stacked weight matrix, and
  writes its new ``h`` straight into the buffers that read it;
* the first layer's time-axis part (the same input for every note's step) is projected for
  all notes at once before the walk;
* the sampling rule is pre-computed for the whole step (:class:`NoteRule`): the uniforms, the
  anti-silence exponent (``U < p ** c`` is ``U ** (1 / c) < p``) and the temperature (a scale
  on the output layer) leave one comparison per note.

The result equals the teacher-forced PyTorch forward pass to float32 rounding
(``tests/test_model_biaxial.py`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cadenza.errors import ConfigError, DataError
from cadenza.models.chordcontext import CHORD_INPUTS, ChordWalk

__all__ = ["NoteRule", "walk_notes"]

LayerWeights = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # w_ih, w_hh, b_ih, b_hh


@dataclass(frozen=True)
class NoteRule:
    """How every note of one step is chosen, for a batch of B sequences and N notes.

    Exactly one of ``thresholds`` / ``forced`` is set:

    Attributes:
        thresholds: (N, B, 2) float32: note ``n`` of row ``b`` plays when its P(play) exceeds
            ``thresholds[n, b, 0]`` and is re-articulated when it plays and P(articulate)
            exceeds ``thresholds[n, b, 1]``.
        allowed: (N, B) bool or ``None``: where false, a note that plays must be
            re-articulated or it is released (the guard against endless held notes).
        forced: (N, B, 2) float32: the notes to choose regardless of the probabilities
            (primer steps, likelihood evaluation).
        temperature: divides the output logits before the sigmoid.
        prior: (N, B, 2) float32 or ``None``: where not NaN, a note's [play, articulate]
            probabilities become ``prior_weight * p + (1 - prior_weight) * prior`` before the
            thresholds are applied (composing controls: a form's repeat, an ending, a
            clamped melody; weight 0 with a 0/1 prior chooses exactly the prior).
        prior_weight: the model's share in that mixture, in [0, 1].
        probabilities: false for a forced step whose probabilities nobody reads (a primer
            walked for its state): the model skips the walk up the keyboard, the notes are
            the forced ones and the probabilities NaN.
    """

    thresholds: np.ndarray | None = None
    allowed: np.ndarray | None = None
    forced: np.ndarray | None = None
    temperature: float = 1.0
    prior: np.ndarray | None = None
    prior_weight: float = 0.0
    probabilities: bool = True

    def __post_init__(self) -> None:
        if (self.thresholds is None) == (self.forced is None):
            raise ConfigError("a NoteRule needs exactly one of thresholds and forced")
        if not self.temperature > 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature}")
        if not self.probabilities and self.forced is None:
            raise ConfigError("only a forced NoteRule can skip its probabilities")

    @classmethod
    def bernoulli(
        cls,
        uniforms: np.ndarray,
        conservativity: np.ndarray | float = 1.0,
        allowed: np.ndarray | None = None,
        temperature: float = 1.0,
        play_weights: np.ndarray | None = None,
        onset_weights: np.ndarray | None = None,
        sounding: np.ndarray | None = None,
    ) -> NoteRule:
        """The original's rule: play when ``U < P(play) ** c``, articulate when ``U' < P(art.)``.

        ``uniforms`` (N, B, 2) in [0, 1); ``conservativity`` ``c`` > 0, a float or (B,);
        ``allowed`` (B, N) bool or ``None``; ``play_weights`` (N,) in [0, 1] multiply each
        note's chance to play (``U ** (1 / c) < P(play) * w``; 0 = never), the composing
        controls of :mod:`cadenza.controls`. ``onset_weights`` (N, B) > 0 multiply each
        note's chance to *start*: P(play) of a note silent at the step before (``sounding``
        (B, N) bool says which sound), P(articulate) of one sounding (the onset guides of
        :mod:`cadenza.generation.guides`).
        """
        uniforms = np.asarray(uniforms, dtype=np.float32)
        if uniforms.ndim != 3 or uniforms.shape[2] != 2:
            raise DataError(f"uniforms must be (N, B, 2), got {uniforms.shape}")
        c = np.broadcast_to(np.asarray(conservativity, dtype=np.float64), uniforms.shape[1:2])
        if not bool((c > 0).all()):
            raise ConfigError("conservativity must be positive")
        thresholds = uniforms.copy()
        play = uniforms[:, :, 0].astype(np.float64) ** (1.0 / c)  # (N, B)
        if play_weights is not None:
            w = np.asarray(play_weights, dtype=np.float64)[:, None]
            play = np.divide(play, w, out=np.full_like(play, np.inf), where=w > 0)
        thresholds[:, :, 0] = play.astype(np.float32)
        if onset_weights is not None:
            w = np.asarray(onset_weights, dtype=np.float32)  # (N, B)
            if sounding is None:
                raise DataError("onset weights need the notes sounding before the step")
            on = np.asarray(sounding, dtype=bool).T  # (N, B)
            thresholds[:, :, 0] = np.where(on, thresholds[:, :, 0], thresholds[:, :, 0] / w)
            thresholds[:, :, 1] = np.where(on, thresholds[:, :, 1] / w, thresholds[:, :, 1])
        allowed_t = None
        if allowed is not None and not bool(np.all(allowed)):
            allowed_t = np.ascontiguousarray(np.asarray(allowed, dtype=bool).T)  # (N, B)
        return cls(thresholds=thresholds, allowed=allowed_t, temperature=temperature)

    @classmethod
    def teacher(cls, notes: np.ndarray, probabilities: bool = True) -> NoteRule:
        """Choose the given ``notes`` (B, N, 2) whatever the model predicts (``probabilities``
        false: nobody reads what it predicts, see the class)."""
        notes = np.asarray(notes, dtype=np.float32)
        if notes.ndim != 3 or notes.shape[2] != 2:
            raise DataError(f"forced notes must be (B, N, 2), got {notes.shape}")
        return cls(forced=np.ascontiguousarray(notes.transpose(1, 0, 2)),
                   probabilities=probabilities)

    @property
    def shape(self) -> tuple[int, int]:
        """(N, B) the rule is built for."""
        array = self.thresholds if self.thresholds is not None else self.forced
        assert array is not None
        return int(array.shape[0]), int(array.shape[1])

    def choose(self, probs: np.ndarray, note: int) -> np.ndarray:
        """The (B, 2) choice for ``note`` given its tempered probabilities ``probs`` (B, 2)."""
        if self.forced is not None:
            return self.forced[note]
        assert self.thresholds is not None
        if self.prior is not None:
            prior = self.prior[note]  # (B, 2)
            probs = np.where(np.isnan(prior), probs,
                             self.prior_weight * probs + (1 - self.prior_weight) * prior)
        chosen = self.thresholds[note] < probs  # (B, 2) bool
        chosen[:, 1] &= chosen[:, 0]
        if self.allowed is not None:
            chosen[:, 0] &= self.allowed[note] | chosen[:, 1]
        return chosen


def _gate_rows(hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """Row order ``i, f, o, g`` from PyTorch's ``i, f, g, o`` and the per-row scale."""
    order = np.r_[0 : 2 * hidden, 3 * hidden : 4 * hidden, 2 * hidden : 3 * hidden]
    scale = np.r_[np.full(3 * hidden, 0.5), np.ones(hidden)].astype(np.float32)
    return order, scale


def _stacked_weights(
    layers: list[LayerWeights], sizes: list[int], projected: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Each layer's weights stacked over its buffer ``[h | lower]`` (first layer) or
    ``[h_below | h]``, transposed for ``buffer @ weights``, and its summed biases, gate rows in
    the order ``i, f, o, g`` with the sigmoid rows halved; and the first layer's projected
    time-axis input in the same order, note-major: (N, B, 4H)."""
    weights, biases = [], []
    for i, (w_ih, w_hh, b_ih, b_hh) in enumerate(layers):
        order, scale = _gate_rows(sizes[i])
        if i == 0:
            stacked = np.concatenate([w_hh, w_ih], axis=1)  # acts on [h0 | lower]
            pre0 = np.ascontiguousarray(
                (projected[:, :, order] * scale).transpose(1, 0, 2)
            )  # (N, B, 4H)
        else:
            stacked = np.concatenate([w_ih, w_hh], axis=1)  # acts on [h_below | h]
        weights.append(np.ascontiguousarray((stacked[order] * scale[:, None]).T))
        biases.append(((b_ih + b_hh)[order] * scale).astype(np.float32))
    return weights, biases, pre0


def _buffers(
    b: int, sizes: list[int], extra: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray | None]]:
    """The walk's buffers for a batch of ``b``: ``xs[l] = [layer input | layer l's own h]``
    (layer 0's input is the lower note and, ``extra`` wide, the chord so far); each layer's
    own ``h`` as a view into its buffer, and the view of the next layer's buffer it feeds
    (``None`` for the top layer)."""
    depth = len(sizes)
    xs = [np.zeros((b, sizes[0] + 2 + extra), np.float32)]
    xs += [np.zeros((b, sizes[i - 1] + sizes[i]), np.float32) for i in range(1, depth)]
    own = [xs[0][:, : sizes[0]]] + [xs[i][:, sizes[i - 1] :] for i in range(1, depth)]
    feeds: list[np.ndarray | None] = [xs[i + 1][:, : sizes[i]] for i in range(depth - 1)]
    return xs, own, [*feeds, None]


def _gate_buffers(b: int, sizes: list[int]) -> tuple[
    list[np.ndarray], list[tuple[np.ndarray, ...]], list[np.ndarray], list[np.ndarray]
]:
    """Per layer: the (B, 4H) gates, their views ``(sigmoid rows, i, f, o, g)``, the zeroed
    (B, H) cell and a (B, H) scratch buffer."""
    gates: list[np.ndarray] = [np.empty((b, 4 * h), np.float32) for h in sizes]
    views: list[tuple[np.ndarray, ...]] = [
        (g[:, : 3 * h], g[:, :h], g[:, h : 2 * h], g[:, 2 * h : 3 * h], g[:, 3 * h :])
        for g, h in zip(gates, sizes, strict=True)
    ]
    cells: list[np.ndarray] = [np.zeros((b, h), np.float32) for h in sizes]
    scratch: list[np.ndarray] = [np.empty((b, h), np.float32) for h in sizes]
    return gates, views, cells, scratch


def _halved_output(
    output: tuple[np.ndarray, np.ndarray], temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    """The output layer's weight (Hn, 2) and bias scaled by ``0.5 / temperature``, so that
    ``(1 + tanh(h @ w + b)) / 2`` is the tempered sigmoid."""
    out_w, out_b = output
    half = np.float32(0.5 / temperature)
    w_out = np.ascontiguousarray(out_w.T * half).astype(np.float32)  # (Hn, 2)
    return w_out, (out_b * half).astype(np.float32)


def walk_notes(
    layers: list[LayerWeights],
    output: tuple[np.ndarray, np.ndarray],
    projected: np.ndarray,
    rule: NoteRule,
    chord_inputs: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the note-axis stack up the keyboard, choosing each note with ``rule``.

    Args:
        layers: per note-axis LSTM layer, PyTorch's ``(w_ih (4H, in), w_hh (4H, H), b_ih,
            b_hh)``, except that the first layer's ``w_ih`` is only its lower-note part
            (4H, 2), or (4H, 14) with ``chord_inputs``, and its biases are already inside
            ``projected``.
        output: ``(weight (2, Hn), bias (2,))`` of the final linear layer.
        projected: (B, N, 4H) float32, the first layer's input projection of the time-axis
            output plus both its biases (``time_out @ w_ih[:, :Ht].T + b_ih + b_hh``, left to
            the caller: a large product belongs to PyTorch, which honours its thread setting).
        rule: how to choose each note.
        chord_inputs: the first layer also reads the chord-so-far counts
            (:mod:`cadenza.models.chordcontext`) after the lower note.

    Returns:
        ``(probs, notes)``, each (B, N, 2) float32: [P(play), P(articulate)] after the rule's
        temperature, and the chosen [play, articulate].
    """
    b, n, _ = projected.shape
    if rule.shape != (n, b):
        raise DataError(f"note rule is for (N, B) = {rule.shape}, the step has {(n, b)}")
    sizes = [w_hh.shape[1] for _, w_hh, _, _ in layers]
    depth = len(layers)
    extra = CHORD_INPUTS if chord_inputs else 0
    if layers[0][0].shape[1] != 2 + extra:
        raise DataError(f"the first note layer reads {layers[0][0].shape[1]} inputs besides "
                        f"the time axis, the walk gives it {2 + extra}")
    weights, biases, pre0 = _stacked_weights(layers, sizes, projected)
    xs, own, feeds = _buffers(b, sizes, extra)
    lower = xs[0][:, sizes[0] : sizes[0] + 2]
    context = xs[0][:, sizes[0] + 2 :]
    chord = ChordWalk(b) if chord_inputs else None
    gates, views, cells, scratch = _gate_buffers(b, sizes)
    w_out, b_out = _halved_output(output, rule.temperature)
    top = own[-1]
    p = np.empty((b, 2), np.float32)
    probs = np.empty((n, b, 2), np.float32)
    notes = np.empty((n, b, 2), np.float32)
    for note in range(n):
        if chord is not None:
            chord.inputs(note, context)
        for i in range(depth):
            g = gates[i]
            sig, gi, gf, go, gg = views[i]
            np.dot(xs[i], weights[i], out=g)
            g += pre0[note] if i == 0 else biases[i]
            np.tanh(g, out=g)
            sig *= 0.5
            sig += 0.5
            c = cells[i]
            c *= gf
            c += gi * gg
            np.tanh(c, out=scratch[i])
            np.multiply(scratch[i], go, out=own[i])
            feed = feeds[i]
            if feed is not None:
                feed[...] = own[i]
        np.dot(top, w_out, out=p)
        p += b_out
        np.tanh(p, out=p)
        p *= 0.5
        p += 0.5
        probs[note] = p
        chosen = rule.choose(p, note)
        notes[note] = chosen
        lower[...] = chosen
        if chord is not None:
            chord.add(note, lower[:, 0])
    return (np.ascontiguousarray(probs.transpose(1, 0, 2)),
            np.ascontiguousarray(notes.transpose(1, 0, 2)))
