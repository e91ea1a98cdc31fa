"""The biaxial LSTM's two walks up the keyboard, choosing the notes of one generated step.

After the time stack has advanced one step, the note stack runs once per note, lowest first,
and each note is chosen before the next one is predicted (its choice is the next note's
input). Two walks do it, with equal results to float32 rounding:

* :func:`numpy_walk`, the fast path generation uses on the CPU: the sampling rule
  (:class:`~cadenza.models.notewalk.NoteRule`) is drawn for the whole step up front and the
  walk runs in NumPy (:func:`cadenza.models.notewalk.walk_notes`);
* :func:`torch_walk`, on any device and with any per-note sampler callable (the likelihood
  protocol's greedy walk, a replay of known notes, :func:`bernoulli_notes`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import nn

from cadenza.errors import DataError
from cadenza.models.chordcontext import CHORD_INPUTS, ChordWalk
from cadenza.models.notewalk import NoteRule, walk_notes

if TYPE_CHECKING:
    from cadenza.models.biaxial import BiaxialLSTM

__all__ = ["NoteSampler", "bernoulli_notes", "numpy_walk", "torch_sampler", "torch_walk"]

NoteSampler = Callable[[torch.Tensor, int], torch.Tensor]  # (probs (B, 2), note) -> (B, 2)


def bernoulli_notes(
    probs: torch.Tensor,
    conservativity: float | torch.Tensor = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample [play, articulate] for one note of every sequence, as the original did.

    Play when ``U < P(play) ** conservativity``; articulate when played and
    ``U' < P(articulate)``. ``probs`` is (B, 2); ``conservativity`` a float or (B,) tensor
    (below 1 makes notes likelier). Returns (B, 2) float 0/1.
    """
    u = torch.rand(probs.shape, generator=generator, device=probs.device, dtype=probs.dtype)
    play = u[:, 0] < probs[:, 0] ** conservativity
    articulate = play & (u[:, 1] < probs[:, 1])
    return torch.stack([play, articulate], dim=-1).to(probs.dtype)  # (B, 2)


def torch_sampler(rule: NoteRule) -> NoteSampler:
    """``rule`` as a per-note sampler of the PyTorch walk (used off the CPU)."""

    def sample(probs: torch.Tensor, note: int) -> torch.Tensor:
        chosen = rule.choose(probs.detach().float().cpu().numpy(), note)
        return torch.from_numpy(np.asarray(chosen, dtype=np.float32)).to(probs.device)

    return sample


def _layers_and_projection(
    model: BiaxialLSTM, time_out: torch.Tensor
) -> tuple[list[list[nn.Parameter]], torch.Tensor]:
    """The note layers' ``(w_ih, w_hh, b_ih, b_hh)`` and the first layer's input projection
    of the time output plus both its biases, for all notes at once: (B, N, 4 * H0)."""
    b, n, ht = time_out.shape
    layers = [cast(nn.LSTM, lstm).all_weights[0] for lstm in model.note_layers]
    w_ih0, _, b_ih0, b_hh0 = layers[0]
    projected = torch.addmm(b_ih0 + b_hh0, time_out.reshape(b * n, ht), w_ih0[:, :ht].t())
    return layers, projected.reshape(b, n, -1)


def _numpy32(tensor: torch.Tensor) -> np.ndarray:
    """A float32 NumPy view (or copy) of a CPU tensor."""
    return tensor.detach().to(torch.float32).numpy()


def numpy_walk(model: BiaxialLSTM, time_out: torch.Tensor, rule: NoteRule
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The walk in NumPy (CPU only), every note chosen by ``rule``: time_out (B, N, Ht) ->
    probs, notes (B, N, 2), the probabilities after the rule's temperature."""
    layers, projected = _layers_and_projection(model, time_out)
    w_ih0, w_hh0, b_ih0, b_hh0 = layers[0]
    weights = [(w_ih0[:, time_out.shape[-1]:], w_hh0, b_ih0, b_hh0), *layers[1:]]
    probs_np, notes_np = walk_notes(
        [tuple(_numpy32(w) for w in layer) for layer in weights],  # type: ignore[misc]
        (_numpy32(model.output.weight), _numpy32(model.output.bias)),
        _numpy32(projected),
        rule,
        chord_inputs=model.config.chord_inputs,
    )
    probs = torch.from_numpy(probs_np).to(time_out.dtype)
    notes = torch.from_numpy(notes_np).to(time_out.dtype)
    return probs, notes


def torch_walk(
    model: BiaxialLSTM, time_out: torch.Tensor, sample: NoteSampler, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The walk in PyTorch (any device, any sampler): time_out (B, N, Ht) -> probs, notes
    (B, N, 2).

    Each layer advances with the fused ``torch.lstm_cell``. The first layer's input is split:
    its time-output part, the same for every note's step, is projected for all notes at once
    and passed as the cell's per-row input bias, so the cell only multiplies the lower
    neighbour's [play, articulate] (B, 2) (and the chord-so-far counts) by its slice of the
    input weights.
    """
    b, n, ht = time_out.shape
    layers, projected = _layers_and_projection(model, time_out)
    w_ih0, w_hh0, _, _ = layers[0]  # (4H, in), (4H, H)
    pre0 = projected.transpose(0, 1).contiguous()  # (N, B, 4 * H0)
    w_lower = w_ih0[:, ht:].contiguous()  # (4 * H0, note_inputs)
    chord = ChordWalk(b) if model.config.chord_inputs else None
    context = np.zeros((b, CHORD_INPUTS), np.float32)
    out_w = (model.output.weight.t() / temperature).contiguous()  # (Hn, 2)
    out_b = model.output.bias / temperature  # (2,)
    hs = [time_out.new_zeros(b, w_hh.shape[1]) for _, w_hh, _, _ in layers]
    cs = [h.clone() for h in hs]
    lower = time_out.new_zeros(b, 2)
    probs = time_out.new_empty(b, n, 2)
    notes = time_out.new_empty(b, n, 2)
    for note in range(n):
        below = lower
        if chord is not None:
            chord.inputs(note, context)
            below = torch.cat([lower, torch.from_numpy(context).to(lower)], dim=-1)
        hs[0], cs[0] = torch.lstm_cell(below, (hs[0], cs[0]), w_lower, w_hh0, pre0[note])
        x = hs[0]
        for layer in range(1, len(layers)):
            w_ih, w_hh, b_ih, b_hh = layers[layer]
            hs[layer], cs[layer] = torch.lstm_cell(
                x, (hs[layer], cs[layer]), w_ih, w_hh, b_ih, b_hh
            )
            x = hs[layer]
        p = torch.sigmoid(torch.addmm(out_b, x, out_w))  # (B, 2)
        chosen = sample(p, note).to(p.dtype)
        if chosen.shape != (b, 2):
            raise DataError(
                f"biaxial sampler must return (B, 2) = {(b, 2)}, got {chosen.shape}"
            )
        probs[:, note] = p
        notes[:, note] = chosen
        lower = chosen
        if chord is not None:
            chord.add(note, chosen[:, 0].detach().float().cpu().numpy())
    return probs, notes
