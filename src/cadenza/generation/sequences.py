"""Generators for the two message/token families: the attention LSTM over MIDI messages and
the note/chord token LSTM.

Both sample categorically (temperature, top-k, top-p) and guard against the complaint users
of the originals had most: the same note repeated forever. The events generator also keeps
note_off messages meaningful: it only releases pitches that are sounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from cadenza.errors import DataError
from cadenza.generation.base import GenerationConfig, GenerationResult
from cadenza.generation.token_density import DENSE, FREE, SPARSE, OnsetRate
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation
from cadenza.sampling import categorical, log_weights

UNKNOWN_ELEMENT = 0  # id of "<unk>" in the note-token vocabulary


def element_weights(representation: Representation, config: GenerationConfig) -> np.ndarray:
    """The key and range weights of every note-token element: the product of its pitches'
    weights (a rest or an unknown element: 1)."""
    assert config.pitch_weights is not None
    return elements_weighted(representation, config.pitch_weights.weights)


def elements_weighted(representation: Representation, table: np.ndarray) -> np.ndarray:
    """Every note-token element's weight under per-MIDI-pitch weights ``table`` (128,)."""
    from cadenza.representations.notetokens import REST, UNKNOWN, element_pitches

    elements = representation.elements  # type: ignore[attr-defined]
    return np.array([1.0 if e in (REST, UNKNOWN)
                     else float(np.prod(table[element_pitches(e)])) for e in elements],
                    dtype=np.float32)


def _ending_biases(config: GenerationConfig,
                   bias: Callable[[np.ndarray], torch.Tensor]) -> list[torch.Tensor]:
    """The logit bias of each phase of ``config.ending`` (none, dominant, tonic), made once
    from its per-pitch weights by ``bias``; all zero without an ending."""
    if config.ending is None:
        return []
    return [torch.zeros(()), *(bias(table) for table in config.ending.tables())]


def _ending_bias(config: GenerationConfig, biases: list[torch.Tensor],
                 done: int) -> torch.Tensor | float:
    """The bias of element ``done``: its phase's (0.0 before the ending or without one)."""
    if config.ending is None:
        return 0.0
    return biases[config.ending.phase_at(done, config.length)]


def _notes_in(element: str) -> int:
    """Onsets of a note-token element (a rest or an unknown element: none)."""
    from cadenza.representations.notetokens import REST, UNKNOWN, element_pitches

    return 0 if element in (REST, UNKNOWN) else len(element_pitches(element))


def _steer_shifts(rate: OnsetRate, shifts: np.ndarray, element_logits: torch.Tensor,
                  shift_logits: torch.Tensor, elements: tuple[str, ...]) -> None:
    """``--density``: refuse the shifts (and, when sparse, the rest) that would take a row
    further out of its band; in place."""
    from cadenza.representations.notetokens import REST

    states = rate.states()
    rest = elements.index(REST) if REST in elements else None
    for row in np.flatnonzero(states != FREE):
        allowed = torch.from_numpy(rate.allowed_steps(shifts, int(states[row])))
        shift_logits[row] = shift_logits[row].masked_fill(~allowed, -1e9)
        if states[row] == SPARSE and rest is not None:
            element_logits[row, rest] = -1e9


def _steered_deltas(ticks: np.ndarray, states: np.ndarray, rate: OnsetRate,
                    representation: Representation) -> np.ndarray:
    """``--density`` for the events: a sparse row's next delta at most half a beat, a dense
    row's at least half a beat (snapped to the known deltas)."""
    half = rate.steps_per_beat / 2
    steered = ticks.astype(np.float64).copy()
    steered[states == SPARSE] = np.minimum(steered[states == SPARSE], np.floor(half))
    steered[states == DENSE] = np.maximum(steered[states == DENSE], np.ceil(half))
    snapped = representation.snap_delta(steered.astype(np.int64))  # type: ignore[attr-defined]
    return np.asarray(snapped, dtype=np.int64)


def _check_primer(primer: np.ndarray | None, name: str) -> np.ndarray:
    if primer is None or len(primer) == 0:
        raise DataError(f"{name} generation needs a primer of at least one message/token")
    if primer.ndim != 2 or primer.shape[1] != 3:
        raise DataError(f"{name} primer must have shape (L, 3), got {primer.shape}")
    return primer.astype(np.int64)


def default_events_primer(pitch: int = 60) -> np.ndarray:
    """A one-message primer (a note_on of ``pitch``) for when no real primer is at hand."""
    return np.array([[pitch, 1, 0]], dtype=np.int64)


def generate_events(
    model: SequenceModel,
    representation: Representation,
    primer: np.ndarray | None,
    config: GenerationConfig,
) -> GenerationResult:
    """Continue a (T0, 3) message primer ``[pitch, is_on, delta]`` by ``config.length``."""
    from cadenza.models.events import duration_to_ticks

    rep_cfg: Any = representation.config
    low = int(rep_cfg.low)
    primer = _check_primer(primer if primer is not None else default_events_primer(), "events")
    window_len = int(model.config.seq_len)
    b, t0 = config.count, len(primer)
    seq = torch.from_numpy(np.repeat(primer[None], b, axis=0))  # (B, T0, 3) MIDI pitches
    device = next(model.parameters()).device
    gen = config.generator()
    num_pitches = int(rep_cfg.high) - low + 1
    sounding = torch.zeros(b, num_pitches, dtype=torch.bool)
    for row in primer:  # replay the primer to know which pitches sound at its end
        sounding[:, int(row[0]) - low] = bool(row[1])
    run_pitch = torch.full((b,), -1, dtype=torch.long)
    run_length = torch.zeros(b, dtype=torch.long)
    repeats_broken = 0
    keyed = (log_weights(config.pitch_weights.for_notes(low, num_pitches))
             if config.pitch_weights is not None else torch.zeros(num_pitches))  # note-ons
    endings = _ending_biases(config, lambda table: log_weights(table[low:low + num_pitches]))
    rate = (OnsetRate(config.density, b, int(rep_cfg.steps_per_quarter))
            if config.density is not None else None)  # ticks are steps of the score
    for done in range(config.length):
        config.report(done, config.length)
        on_bias = keyed + _ending_bias(config, endings, done)
        window = seq[:, -window_len:].clone()
        window[..., 0] -= low
        outputs, _ = model.step(window.to(device), None)
        on_logits = torch.log(outputs["on_probs"].cpu().float().clamp_min(1e-9))
        is_on = categorical(on_logits, temperature=config.temperature, generator=gen)
        states = rate.states() if rate is not None else None
        if states is not None:  # too few onsets lately: a note-on now
            is_on = torch.where(torch.from_numpy(states == SPARSE), torch.ones_like(is_on), is_on)
        is_on = torch.where(sounding.any(-1), is_on, torch.ones_like(is_on))  # nothing to release
        logits = outputs["pitch_logits"].cpu().float()
        # note_off only for sounding pitches; note_on not for the pitch repeated too often.
        logits = torch.where(is_on[:, None] == 0, logits.masked_fill(~sounding, -1e9),
                             logits + on_bias)
        if config.max_repeats:
            too_many = (run_length >= config.max_repeats) & (is_on == 1)
            if bool(too_many.any()):
                repeats_broken += int(too_many.sum())
                rows = torch.nonzero(too_many).squeeze(-1)
                logits[rows, run_pitch[rows]] = -1e9
        pitch = categorical(logits, temperature=config.temperature, top_k=config.top_k,
                            top_p=config.top_p, generator=gen)
        ticks = duration_to_ticks(outputs["duration"], representation)  # type: ignore[arg-type]
        if rate is not None and states is not None:
            ticks = _steered_deltas(ticks, states, rate, representation)
            for row in range(b):
                rate.add(row, int(is_on[row]), float(ticks[row]))
        delta = torch.from_numpy(ticks)
        rows = torch.arange(b)
        sounding[rows, pitch] = is_on == 1
        same = (pitch == run_pitch) & (is_on == 1)
        run_length = torch.where(is_on == 1, torch.where(same, run_length + 1, 1), run_length)
        run_pitch = torch.where(is_on == 1, pitch, run_pitch)
        message = torch.stack([pitch + low, is_on, delta.long()], dim=-1)  # (B, 3)
        seq = torch.cat([seq, message[:, None]], dim=1)
    config.report(config.length, config.length)
    return GenerationResult(
        arrays=[row.numpy().astype(np.int32) for row in seq],
        primer_length=t0,
        stats={"repeats_broken": repeats_broken},
    )


def generate_notetokens(
    model: SequenceModel,
    representation: Representation,
    primer: np.ndarray | None,
    config: GenerationConfig,
) -> GenerationResult:
    """Continue a (T0, 3) token-id primer ``[element, duration, shift]`` by ``config.length``."""
    primer = _check_primer(primer, "notetokens")
    b, t0 = config.count, len(primer)
    device = next(model.parameters()).device
    seq = torch.from_numpy(np.repeat(primer[None], b, axis=0))  # (B, T0, 3)
    gen = config.generator()
    state = model.init_state(b)
    outputs: dict[str, torch.Tensor] = {}
    for t in range(t0):  # warm the recurrent state on the primer
        outputs, state = model.step(seq[:, t].to(device), state)
    repeats_broken = 0
    keyed = (log_weights(element_weights(representation, config))
             if config.pitch_weights is not None else None)  # key and range by element
    endings = _ending_biases(config, lambda table: log_weights(
        elements_weighted(representation, table)))
    shifts = np.array(representation.shift_values, dtype=np.float64)  # type: ignore[attr-defined]
    elements = representation.elements  # type: ignore[attr-defined]
    rate = (OnsetRate(config.density, b, int(representation.config.steps_per_quarter))
            if config.density is not None else None)
    for done in range(config.length):
        config.report(done, config.length)
        element_logits = outputs["element_logits"].cpu().float()
        if keyed is not None:
            element_logits = element_logits + keyed
        element_logits = element_logits + _ending_bias(config, endings, done)
        element_logits[:, UNKNOWN_ELEMENT] = -1e9
        if config.max_repeats and seq.shape[1] >= config.max_repeats:
            recent = seq[:, -config.max_repeats:, 0]
            stuck = (recent == recent[:, :1]).all(dim=1)
            if bool(stuck.any()):
                repeats_broken += int(stuck.sum())
                rows = torch.nonzero(stuck).squeeze(-1)
                element_logits[rows, recent[rows, 0]] = -1e9
        shift_logits = outputs["shift_logits"].cpu().float()
        if rate is not None:
            _steer_shifts(rate, shifts, element_logits, shift_logits, elements)
        picks = [
            categorical(logits, temperature=config.temperature, top_k=config.top_k,
                        top_p=config.top_p, generator=gen)
            for logits in (element_logits, outputs["duration_logits"].cpu().float(),
                           shift_logits)
        ]
        token = torch.stack(picks, dim=-1)  # (B, 3)
        if rate is not None:
            for row in range(b):
                rate.add(row, _notes_in(elements[int(token[row, 0])]),
                         float(shifts[int(token[row, 2])]))
        seq = torch.cat([seq, token[:, None]], dim=1)
        outputs, state = model.step(token.to(device), state)
    config.report(config.length, config.length)
    return GenerationResult(
        arrays=[row.numpy().astype(np.int32) for row in seq],
        primer_length=t0,
        stats={"repeats_broken": repeats_broken},
    )
