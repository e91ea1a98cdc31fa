"""Biaxial LSTM (Johnson 2015): one LSTM stack along time, one along the keyboard.

Inputs are the ``notestate`` features of each step and note (80 numbers, see
:func:`cadenza.representations.notestate.NoteState.input_features`); outputs are, for every
note of the next step, P(play) and P(articulate | play)::

    features (B, T, N, 80)
    -> time axis: LSTM stack along T for each of the B*N (sequence, note) pairs, weights
       shared across notes                                            (B, T, N, Ht)
    -> concat the lower neighbour's actual [play, articulate] at the predicted step
       (zeros for the lowest note)                                    (B, T, N, Ht + 2)
       and, with ``chord_inputs``, the notes playing below by interval class
       (:mod:`cadenza.models.chordcontext`)                           (B, T, N, Ht + 14)
    -> note axis: LSTM stack up the N notes for each of the B*T (sequence, step) pairs
                                                                      (B, T, N, Hn)
    -> Linear(Hn, 2) -> sigmoid: [P(play), P(articulate | play)]       (B, T, N, 2)

Training is teacher-forced and fully parallel: one fused ``nn.LSTM`` call per layer on each
axis (:mod:`cadenza.models.biaxialforward`). Dropout follows the original: it is applied to the
output of every LSTM layer (time and note stacks) with one mask per sequence, shared along the
axis the LSTM runs over. Initial LSTM states are zero.

Generation (:meth:`BiaxialLSTM.step`) advances the time stack by one step, then walks up the
notes one at a time, sampling each note before the next one is predicted (in NumPy on the CPU,
in PyTorch elsewhere; see :mod:`cadenza.models.biaxialwalk`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn

from cadenza.errors import ConfigError, DataError
from cadenza.models.base import (
    Batch,
    LayerState,
    ModelConfig,
    PlayScores,
    SequenceModel,
    check_probability,
)
from cadenza.models.biaxialforward import (
    check_batch,
    note_stack,
    step_mask,
    teacher_forced_loss,
    time_stack,
)
from cadenza.models.biaxialwalk import (
    NoteSampler,
    bernoulli_notes,
    numpy_walk,
    torch_sampler,
    torch_walk,
)
from cadenza.models.chordcontext import CHORD_INPUTS, grow_for_chords
from cadenza.models.chordplace import (
    grow_for_voicing,
    velocity_logits,
    voicing_layer,
)
from cadenza.models.notewalk import NoteRule
from cadenza.models.styleinput import check_styles, grow_for_styles, with_style
from cadenza.representations.notestate import NUM_FEATURES

__all__ = [
    "NUM_NOTES",
    "PRESETS",
    "BiaxialConfig",
    "BiaxialLSTM",
    "NoteSampler",
    "bernoulli_notes",
    "build",
    "config_for",
]

NUM_NOTES = 78  # MIDI 24..101, the note axis of the notestate representation
LSTMState = tuple[torch.Tensor, torch.Tensor]


def _check_sizes(name: str, sizes: tuple[int, ...]) -> None:
    if len(sizes) == 0 or any(not isinstance(s, int) or s <= 0 for s in sizes):
        raise ConfigError(f"{name} must be a non-empty tuple of positive ints, got {sizes!r}")


@dataclass
class BiaxialConfig(ModelConfig):
    """Sizes of the biaxial LSTM and the shape of its training data.

    Attributes:
        time_sizes: units of each time-axis LSTM layer, bottom first.
        note_sizes: units of each note-axis LSTM layer, bottom first.
        dropout: probability of zeroing a unit of each LSTM layer's output in training.
        num_notes: notes on the keyboard axis (78 for ``notestate``); sizes the generation state.
        batch_size: segments per training batch.
        seq_len: predicted steps per segment (a window holds ``seq_len + 1`` steps).
        segment_step: training windows start on multiples of this many steps (16 = one 4/4
            bar of 16th notes), so the beat features line up with the bar as in the original.
        transpose_range: inclusive semitone range of training transposition; ``(0, 0)`` is off.
        velocity_bins: 0, or the number of velocity bins the model predicts for each note it
            starts (a dynamics output beside play and articulate, as DeepJ's "volume"); the
            note-state representation then carries the corpus' velocities in as many bins.
        chord_inputs: the note axis also reads, for every note, how many notes already
            chosen below it at the same step lie at each interval class (12 counts, see
            :mod:`cadenza.models.chordcontext`); off in the original.
        velocity_voicing: with ``velocity_bins``, the velocity of a started note also reads
            its place in the step's chord, once the step's notes are chosen (top, bottom,
            notes above and below; :mod:`cadenza.models.chordplace`). Off in earlier models.
        input_noise: chance that a note start in the steps a training window reads is
            dropped or moved a step (:mod:`cadenza.data.batching.inputnoise`); targets and
            validation stay true. 0 (the original) is off.
        styles: the style labels the model is conditioned on (composers or periods, see
            :mod:`cadenza.data.styles`); empty: none. Each has a learned embedding of
            ``style_size`` numbers read by the time axis at every step
            (:mod:`cadenza.models.styleinput`).
        style_size: numbers in each style's embedding.
    """

    family: ClassVar[str] = "biaxial"
    positive_fields: ClassVar[tuple[str, ...]] = (
        "num_notes", "batch_size", "seq_len", "segment_step",
    )

    time_sizes: tuple[int, ...] = (300, 300)
    note_sizes: tuple[int, ...] = (100, 50)
    dropout: float = 0.5
    num_notes: int = NUM_NOTES
    batch_size: int = 10
    seq_len: int = 128
    segment_step: int = 16
    transpose_range: tuple[int, int] = (0, 0)
    velocity_bins: int = 0
    chord_inputs: bool = False
    input_noise: float = 0.0
    velocity_voicing: bool = False
    styles: tuple[str, ...] = ()
    style_size: int = 16

    def __post_init__(self) -> None:
        self.time_sizes = tuple(self.time_sizes)
        self.note_sizes = tuple(self.note_sizes)
        _check_sizes("time_sizes", self.time_sizes)
        _check_sizes("note_sizes", self.note_sizes)
        check_probability("dropout", self.dropout)
        super().__post_init__()
        if not isinstance(self.velocity_bins, int) or not 0 <= self.velocity_bins <= 127:
            raise ConfigError(f"velocity_bins must be an int in 0..127, got {self.velocity_bins!r}")
        if not isinstance(self.chord_inputs, bool):
            raise ConfigError(f"chord_inputs must be true or false, got {self.chord_inputs!r}")
        if not isinstance(self.velocity_voicing, bool):
            raise ConfigError(f"velocity_voicing must be true or false, got "
                              f"{self.velocity_voicing!r}")
        if self.velocity_voicing and not self.velocity_bins:
            raise ConfigError("velocity_voicing needs a dynamics output: set velocity_bins too")
        if not 0.0 <= self.input_noise < 1.0:
            raise ConfigError(f"input_noise must be in [0, 1), got {self.input_noise!r}")
        self.styles = tuple(self.styles)
        check_styles(self.styles, self.style_size)

    @property
    def time_inputs(self) -> int:
        """Inputs of the first time-axis layer: the note-state features and the style."""
        return NUM_FEATURES + (self.style_size if self.styles else 0)

    @property
    def note_inputs(self) -> int:
        """Inputs of the first note-axis layer besides the time axis' output."""
        return 2 + (CHORD_INPUTS if self.chord_inputs else 0)


PRESETS: dict[str, BiaxialConfig] = {
    # Johnson's published sizes: 8 bars of 16th notes per segment, 10 segments per batch.
    "biaxial-paper": BiaxialConfig(),
    # About 1 s per batch on 2 CPU cores (8x fewer FLOPs than the paper size); like the
    # paper model it first learns each note's average rate, then, after a few hundred
    # batches, how notes continue and follow one another.
    "biaxial-small": BiaxialConfig(
        time_sizes=(96, 96), note_sizes=(48, 32), dropout=0.5, batch_size=10, seq_len=128
    ),
    "biaxial-debug": BiaxialConfig(
        time_sizes=(16,), note_sizes=(8,), dropout=0.0, batch_size=4, seq_len=32
    ),
}


class _NoteStateLike(Protocol):
    """What :func:`config_for` needs of the ``notestate`` representation."""

    @property
    def feature_shape(self) -> tuple[int, ...]: ...

    @property
    def config(self) -> Any: ...


def config_for(config: BiaxialConfig, representation: _NoteStateLike) -> BiaxialConfig:
    """Copy of ``config`` whose ``num_notes`` and ``velocity_bins`` match ``representation``
    (N of its (T, N, 2) or (T, N, 3) arrays)."""
    bins = int(getattr(representation.config, "velocity_bins", 0))
    return replace(config, num_notes=int(representation.feature_shape[0]), velocity_bins=bins)


class BiaxialLSTM(SequenceModel):
    """Johnson's biaxial LSTM over ``notestate`` arrays.

    Batches (from :class:`cadenza.data.batching.notestate.NoteStateBatchMaker`):
        ``features``: (B, T, N, 80) float32, the input features of steps 0..T-1;
        ``target``: (B, T, N, 2) float32, [play, articulate] of steps 1..T.
    """

    family: ClassVar[str] = "biaxial"
    representation: ClassVar[str] = "notestate"
    layer_label: ClassVar[str] = "time"
    config: BiaxialConfig

    def __init__(self, config: BiaxialConfig) -> None:
        super().__init__(config)
        sizes = (config.time_inputs, *config.time_sizes)
        self.time_layers = nn.ModuleList(
            nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(len(sizes) - 1)
        )
        sizes = (config.time_sizes[-1] + config.note_inputs, *config.note_sizes)
        self.note_layers = nn.ModuleList(
            nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(len(sizes) - 1)
        )
        self.output = nn.Linear(config.note_sizes[-1], 2)
        # Dynamics: a velocity bin for each note, from the time axis (the notes' past).
        self.velocity = (nn.Linear(config.time_sizes[-1], config.velocity_bins)
                         if config.velocity_bins else None)
        # ... and, with velocity_voicing, from the note's place in its step's chord
        self.voicing = voicing_layer(config.velocity_bins) if config.velocity_voicing else None
        # Conditioning: one learned vector per style, read by the time axis at every step.
        self.style_embedding = (nn.Embedding(len(config.styles), config.style_size)
                                if config.styles else None)

    def velocity_logits(self, time_out: torch.Tensor, notes: torch.Tensor,
                        where: torch.Tensor | None = None) -> torch.Tensor:
        """Velocity logits from ``time_out`` and the step's ``notes`` (``where``: of those
        notes only), see :func:`cadenza.models.chordplace.velocity_logits`."""
        assert self.velocity is not None
        return velocity_logits(self.velocity, self.voicing, time_out, notes, where)

    # -- teacher-forced forward (see cadenza.models.biaxialforward) ---------------------
    def time_forward(self, features: torch.Tensor, style: torch.Tensor | int | None = None,
                     style_strength: float = 1.0) -> torch.Tensor:
        """Time-axis stack: features (B, T, N, F) -> last-layer output (B, T, N, Ht).

        ``style``: a styled model's (B,) style indices (or one for all; ``None``: zeros);
        ``style_strength``: 1 in training (see :mod:`cadenza.models.styleinput`)."""
        features = with_style(self.style_embedding, features, style, style_strength)
        return time_stack(self.time_layers, features, self.config.dropout, self.training)

    def note_logits(self, time_out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Note-axis stack under teacher forcing -> logits (B, T, N, 2).

        ``time_out`` (B, T, N, Ht); ``target`` (B, T, N, 2) the actual notes being predicted,
        of which each note sees its lower neighbour's.
        """
        return note_stack(self.note_layers, self.output, time_out, target,
                          dropout=self.config.dropout, training=self.training,
                          chord_inputs=self.config.chord_inputs)

    def logits(self, features: torch.Tensor, target: torch.Tensor,
               style: torch.Tensor | int | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, T, N, 2) of [play, articulate | play]."""
        check_batch(features, target, self.config.velocity_bins)
        return self.note_logits(self.time_forward(features, style), target)

    @torch.no_grad()
    def predict_probs(self, batch: Batch) -> torch.Tensor:
        """Teacher-forced probabilities (B, T, N, 2): [P(play), P(articulate | play)]
        (a styled model reads ``batch["style"]`` when there is one)."""
        return torch.sigmoid(self.logits(batch["features"], batch["target"],
                                         batch.get("style")))

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean binary cross-entropy of play plus masked articulate, per (step, note)
        (:func:`cadenza.models.biaxialforward.teacher_forced_loss`)."""
        return teacher_forced_loss(self, batch)

    def summed_cost_terms(self, batch: Batch) -> float:
        """(sequence, step, note) cells the loss is averaged over (padding left out)."""
        target = batch["target"]
        return max(float(step_mask(batch, target).sum()), 1.0) * target.shape[2]

    # -- generation ---------------------------------------------------------------------
    def init_state(self, batch_size: int) -> list[LSTMState]:
        """Zero (h, c) of every time-axis layer, each (1, B * num_notes, H)."""
        weight = self.output.weight
        rows = batch_size * self.config.num_notes
        return [
            (
                torch.zeros(1, rows, h, device=weight.device, dtype=weight.dtype),
                torch.zeros(1, rows, h, device=weight.device, dtype=weight.dtype),
            )
            for h in self.config.time_sizes
        ]

    @torch.no_grad()
    def step(
        self, inputs: Any, state: Any, **kwargs: Any
    ) -> tuple[dict[str, torch.Tensor], list[LSTMState]]:
        """Generate the notes of one time step (meant for eval mode: no dropout is applied).

        Args:
            inputs: features of the current step (B, N, 80), built from the last notes.
            state: the time-axis state from :meth:`init_state` or the previous ``step``.
            rule: a :class:`cadenza.models.notewalk.NoteRule` choosing every note of the step
                (sampling thresholds or forced notes, temperature); on the CPU the walk up the
                keyboard then runs in NumPy (:func:`cadenza.models.notewalk.walk_notes`), the
                fast path generation uses.
            sample: instead of ``rule``, any ``sample(probs (B, 2), note_index) -> (B, 2)``
                float 0/1 choosing each note (lowest first) from its probabilities.
            conservativity, generator: without ``rule`` or ``sample``, notes are drawn with
                :func:`bernoulli_notes` using these (default 1 and torch's global generator).
            style: a styled model's style index (or (B,) indices); ``None``: no style.
            style_strength: the style's strength (1: as trained; :mod:`cadenza.models.styleinput`).

        Returns:
            ``({"probs": (B, N, 2), "notes": (B, N, 2)}, new_state)``: the probabilities the
            model gave each note (after the rule's temperature, before conservativity) and the
            chosen notes.
        """
        rule: NoteRule | None = kwargs.pop("rule", None)
        sample: NoteSampler | None = kwargs.pop("sample", None)
        conservativity = kwargs.pop("conservativity", 1.0)
        generator = kwargs.pop("generator", None)
        style = kwargs.pop("style", None)
        strength = kwargs.pop("style_strength", 1.0)
        if kwargs:
            raise TypeError(f"biaxial step got unknown argument(s): {', '.join(sorted(kwargs))}")
        features = inputs
        b, n, f = features.shape
        if f != NUM_FEATURES or state[0][0].shape[1] != b * n:
            raise DataError(
                f"biaxial step: features (B, N, {NUM_FEATURES}) must match the state's "
                f"B * N = {state[0][0].shape[1]}, got {tuple(features.shape)}"
            )
        x = with_style(self.style_embedding, features.to(self.output.weight.dtype), style,
                       strength)
        x = x.reshape(b * n, 1, -1)  # (B*N, 1, F + E)
        new_state: list[LSTMState] = []
        for lstm, layer_state in zip(self.time_layers, state, strict=True):
            x, (h, c) = lstm(x, layer_state)  # (B*N, 1, H)
            new_state.append((h, c))
        time_out = x.reshape(b, n, -1)  # (B, N, Ht)
        if rule is not None and rule.forced is not None and not rule.probabilities:
            # a primer walked for its state: the forced notes, no walk up the keyboard
            notes = torch.from_numpy(rule.forced.transpose(1, 0, 2)).to(time_out)  # (B, N, 2)
            probs = torch.full_like(notes, float("nan"))
        elif rule is not None and time_out.device.type == "cpu":
            probs, notes = numpy_walk(self, time_out, rule)
        else:
            temperature = 1.0
            if rule is not None:
                sample, temperature = torch_sampler(rule), rule.temperature
            elif sample is None:

                def sample(probs: torch.Tensor, note_index: int) -> torch.Tensor:
                    return bernoulli_notes(probs, conservativity, generator)

            probs, notes = self.walk_notes(time_out, sample, temperature)
        outputs = {"probs": probs, "notes": notes}
        if self.velocity is not None:  # (B, N, bins) distribution of each note's velocity
            temperature = rule.temperature if rule is not None else 1.0
            logits = self.velocity_logits(time_out, notes.to(time_out.dtype))
            outputs["velocity_probs"] = torch.softmax(logits / temperature, -1)
        return outputs, new_state

    def walk_notes(
        self, time_out: torch.Tensor, sample: NoteSampler, temperature: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the note stack up the keyboard, sampling each note: -> probs, notes (B, N, 2).

        The PyTorch walk (any device, any sampler callable), see
        :func:`cadenza.models.biaxialwalk.torch_walk`.
        """
        return torch_walk(self, time_out, sample, temperature)

    # -- scoring and inspection --------------------------------------------------------
    @torch.no_grad()
    def play_scores(self, representation: Any, piece: np.ndarray) -> PlayScores:
        """Play logits of a (T, N, 2) piece and its keys predicted from the past alone.

        Only the play bits are scored (see :mod:`cadenza.likelihood`).

        Feature row ``t`` describes step ``t - 1`` (row 0 the silent step in front), at that
        step's beat, exactly as training windows count it. The past-only prediction walks up
        each frame on the model's own greedy choices (``P(play) >= 0.5``) for the lower keys,
        articulated where the key was silent at the true previous step.
        """
        state = piece.astype(np.float32)  # (T, N, 2)
        # Articulate = "starts sounding here", a function of the play bits, so that the walk
        # conditions on play bits only and the product is their exact likelihood (a MIDI
        # folder's own re-strikes of held keys are information a piano roll does not have).
        previous = np.concatenate([np.zeros_like(state[:1, :, 0]), state[:-1, :, 0]])
        state[..., 1] = state[..., 0] * (1 - previous)
        padded = np.concatenate([np.zeros_like(state[:1]), state])  # silent step in front
        features = representation.input_features(padded[:-1], first_step=-1)
        device = self.output.weight.device
        target = torch.from_numpy(state)[None].to(device)  # (1, T, N, 2)
        time_out = self.time_forward(torch.from_numpy(features)[None].to(device))
        logits = self.note_logits(time_out, target)  # (1, T, N, 2)
        before = torch.from_numpy(padded[:-1, :, 0].copy()).to(device)  # (T, N)

        def greedy(probs: torch.Tensor, note: int) -> torch.Tensor:  # probs (T, 2)
            play = (probs[:, 0] >= 0.5).to(probs.dtype)
            return torch.stack([play, play * (1 - before[:, note])], dim=-1)

        _, notes = self.walk_notes(time_out[0], greedy)  # every frame is one row of the walk
        return PlayScores(logits[0, ..., 0], target[0, ..., 0], notes[..., 0] > 0.5)

    @torch.inference_mode()
    def read_primer(self, representation: Any, primer: np.ndarray, first_step: int = 0
                    ) -> Iterator[list[LSTMState]]:
        """Teacher-force a (T, N, 2) primer; the beat counts from ``first_step``."""
        device = self.output.weight.device
        state = self.init_state(1)
        for t in range(len(primer)):
            current = primer[t].astype(np.float32)[None, None]  # (1, 1, N, 2)
            feats = representation.input_features(current, first_step=first_step + t)[:, 0]
            rule = NoteRule.teacher(primer[min(t + 1, len(primer) - 1)][None, :, :2],
                                    probabilities=False)
            _, state = self.step(torch.from_numpy(feats).to(device), state, rule=rule)
            yield state

    def layer_states(self, state: Any) -> list[LayerState]:
        """Time-axis layers (run once per note, weights tied): each unit's mean over notes."""
        notes = self.config.num_notes
        return [(h[0, :notes].mean(0).float().cpu().numpy(),
                 c[0, :notes].mean(0).float().cpu().numpy()) for h, c in state]

    def adapt_weights(
        self, saved_config: dict[str, Any], weights: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """A model saved without ``chord_inputs``, styles or ``velocity_voicing`` initialises
        one with them: the new input columns of the first note (time) layer and the voicing
        weights start at zero, so the model predicts exactly what the saved one did until
        training teaches it to use them."""
        weights = grow_for_voicing(saved_config, weights, self.voicing)
        weights = grow_for_styles(saved_config, weights, self.state_dict(), self.config.styles)
        return grow_for_chords(saved_config, weights, self.config.chord_inputs)

    # -- accounting ---------------------------------------------------------------------
    def flops_per_batch(self, batch: Batch) -> float:
        """Matmul FLOPs of forward + backward (3x forward) for ``batch``."""
        b, t, n = batch["features"].shape[:3]
        c = self.config
        per_cell = _lstm_flops((c.time_inputs, *c.time_sizes)) + _lstm_flops(
            (c.time_sizes[-1] + c.note_inputs, *c.note_sizes)) + 2 * 2 * c.note_sizes[-1]
        return 3.0 * b * t * n * per_cell


def _lstm_flops(sizes: tuple[int, ...]) -> int:
    """Matmul FLOPs of one step of a stack of LSTM layers ``sizes[0] -> sizes[1] -> ...``."""
    return sum(2 * 4 * sizes[i + 1] * (sizes[i] + sizes[i + 1]) for i in range(len(sizes) - 1))


def build(config: BiaxialConfig) -> BiaxialLSTM:
    """The model for ``config``."""
    return BiaxialLSTM(config)
