"""Generators for the two note-grid families: biaxial (note states) and piano-roll (frames).

Both walk forward one time step at a time carrying the recurrent state. The primer is fed
first (teacher forcing: the primer's own notes are chosen), then notes are sampled with
temperature, the anti-silence rule and a guard that releases notes held too long.

Both run under ``torch.inference_mode`` (no autograd bookkeeping) and return NumPy arrays.
The biaxial model chooses one note at a time (78 per step): its sampling rule is drawn for the
whole step up front (:class:`cadenza.models.notewalk.NoteRule`), so the walk up the keyboard
does one comparison per note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from cadenza.errors import DataError
from cadenza.generation.base import GenerationConfig, GenerationResult
from cadenza.generation.candidates import CandidateChoice, CandidateRule
from cadenza.generation.guides import HarmonyGuide, MetreGuide, RhythmGuide
from cadenza.generation.loudness import LoudnessDrift, LoudnessMemory
from cadenza.generation.parallels import AvoidParallels
from cadenza.generation.rhythmcopy import RhythmCopy
from cadenza.models.base import SequenceModel
from cadenza.models.notewalk import NoteRule
from cadenza.representations.base import Representation
from cadenza.sampling import AdaptiveSilence, Density, apply_temperature_bits, bernoulli


def _primer_batch(primer: np.ndarray | None, count: int, step_shape: tuple[int, ...]) -> np.ndarray:
    """(count, T0, ...) float32 primer, or one silent step when there is none."""
    if primer is None or len(primer) == 0:
        primer = np.zeros((1, *step_shape), dtype=np.float32)
    if primer.shape[1:] != step_shape:
        raise DataError(f"primer steps must have shape {step_shape}, got {primer.shape[1:]}")
    return np.repeat(primer[None].astype(np.float32), count, axis=0)


def _plan_step(config: GenerationConfig, index: int, generated: list[torch.Tensor]) -> Any:
    """The plan's change at generated step ``index`` (``None`` without a plan)."""
    if config.plan is None:
        return None
    return config.plan.step(index, _NumpySteps(generated))


class _NumpySteps:
    """The generated steps as NumPy arrays, converted only when a plan reads one."""

    def __init__(self, steps: list[torch.Tensor]) -> None:
        self.steps = steps

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.steps[index].numpy()


def _forced_on(weights: np.ndarray | None, change: Any) -> np.ndarray | None:
    """Weight 1 for the notes a plan's prior turns on: a clamped melody note outside the key
    or the range still sounds."""
    if weights is None or change is None or change.prior is None:
        return weights
    on = (np.nan_to_num(change.prior[..., 0], nan=0.0) >= 1.0).any(axis=0)  # (N,)
    return np.where(on, np.float32(1.0), weights).astype(np.float32)


def _times(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None:
        return a if b is None else b
    return a * b


def _clamped(change: Any) -> torch.Tensor | None:
    """(B, N) bool: the notes a plan's prior turns on exactly at this step (a clamped melody
    note, a cadence chord), which no polyphony cap may let go; ``None`` without a prior
    that decides alone."""
    if change is None or change.prior is None or change.prior_weight > 0:
        return None
    return torch.from_numpy(np.nan_to_num(change.prior[..., 0], nan=0.0) >= 1.0)


def cap_polyphony(play: torch.Tensor, probs: torch.Tensor, limit: int) -> torch.Tensor:
    """``play`` (B, N) 0/1 with at most ``limit`` ones per row: the most probable sounding
    notes are kept (``limit`` 0 keeps everything)."""
    if not limit or int(play.sum(-1).max()) <= limit:
        return play
    score = torch.where(play > 0, probs.float(), torch.full_like(probs.float(), -1.0))
    keep = torch.zeros_like(play)
    keep.scatter_(-1, score.topk(limit, dim=-1).indices, 1.0)
    return play * keep


class HoldGuard:
    """Counts how long each note has sounded and forbids holding past ``max_steps``.

    What a hold is differs by family. A note state says where a note is struck again
    (``articulate``), so a biaxial note's count restarts at each re-articulation: the guard
    forbids *holding* one note longer, and a re-struck note may go on. A piano roll has no
    articulation bit, so its count runs while the key stays on and restarts only after a
    silent frame: a key on for ``max_steps`` frames in a row is released for one frame.
    """

    def __init__(self, shape: tuple[int, ...], max_steps: int) -> None:
        self.max_steps = max_steps
        self.held = torch.zeros(shape)
        self.forced_releases = 0

    def mask(self) -> torch.Tensor:
        """1 where a note may keep sounding without re-articulation, 0 where it must stop."""
        if not self.max_steps:
            return torch.ones_like(self.held)
        return (self.held < self.max_steps).float()

    def take_rows(self, index: np.ndarray) -> None:
        """Row ``i`` continues from row ``index[i]`` (a choice among candidate draws)."""
        self.held = self.held[torch.from_numpy(index)]

    def update(self, play: torch.Tensor, articulate: torch.Tensor | None = None) -> None:
        """Count one more step for every sounding note (``articulate``: restart where set)."""
        held = self.held + 1
        if articulate is not None:
            held = torch.where(articulate > 0, 1.0, held)
        self.held = torch.where(play > 0, held, 0.0)


@dataclass
class _Trackers:
    """What the biaxial walk keeps per row besides the model's state: the anti-silence and
    density rules, the hold guard, the onset guides, the loudness memory and drift."""

    silence: AdaptiveSilence
    density: Density
    hold: HoldGuard
    metre: MetreGuide | None
    rhythm: RhythmGuide | None
    harmony: HarmonyGuide | None
    loudness: LoudnessMemory | None = None
    drift: LoudnessDrift | None = None

    @classmethod
    def build(cls, config: GenerationConfig, rows: int, low: int, num_notes: int,
              steps_per_quarter: int, velocity_bins: int = 0) -> _Trackers:
        silence = AdaptiveSilence(rows, config.silence,  # a density band replaces it
                                  enabled=config.adaptive and config.density is None)
        loudness = (LoudnessMemory(config.velocity_memory, rows, velocity_bins)
                    if config.velocity_memory > 0 and velocity_bins else None)
        drift = (LoudnessDrift(config.velocity_drift, rows, velocity_bins, 4 * steps_per_quarter,
                               seed=config.seed)
                 if config.velocity_drift > 0 and velocity_bins else None)
        return cls(silence, Density(rows, config.density, steps_per_quarter),
                   HoldGuard((rows, num_notes), config.max_hold_steps),
                   *_guides(config, rows, low, num_notes), loudness=loudness, drift=drift)

    def velocity_weights(self, grid_step: int) -> torch.Tensor | None:
        """(B, bins) weights of the velocity bins at ``grid_step`` from the loudness memory
        and drift; ``None`` without either."""
        weights = self.loudness.weights() if self.loudness is not None else None
        if self.drift is not None:
            drift = self.drift.weights(grid_step)
            weights = drift if weights is None else weights * drift
        return weights

    def update(self, notes: torch.Tensor, sounding: torch.Tensor, grid_step: int,
               sampled: bool, allowed: torch.Tensor, bins: torch.Tensor | None = None) -> None:
        """Count the (B, N, C) ``notes`` chosen at ``grid_step`` after ``sounding`` (B, N);
        the loudness memory keeps the (B, N) velocity ``bins`` started there."""
        if self.loudness is not None and bins is not None:
            self.loudness.update(bins)
        # (B,) notes started at this step: struck again, or sounding after silence
        onsets = ((notes[..., 0] > 0) & ((notes[..., 1] > 0) | ~sounding)).sum(-1)
        if sampled:
            self.silence.update(notes[..., 0].sum(-1))
            self.density.update(onsets)
            if self.metre is not None:
                self.metre.update(grid_step, onsets.numpy())
            released = (allowed == 0) & sounding & (notes[..., 0] == 0)
            self.hold.forced_releases += int(released.sum())
        if self.rhythm is not None:  # the primer's rhythm too: the first bars echo it
            self.rhythm.update(grid_step, onsets.numpy())
        self.hold.update(notes[..., 0], notes[..., 1])
        if self.harmony is not None:
            self.harmony.update(notes[..., 0].numpy())

    def take_rows(self, index: np.ndarray) -> None:
        """Row ``i`` continues from row ``index[i]``."""
        for tracker in (self.silence, self.density, self.hold, self.metre, self.rhythm,
                        self.harmony, self.loudness, self.drift):
            if tracker is not None:
                tracker.take_rows(index)


@torch.inference_mode()
def generate_biaxial(
    model: SequenceModel,
    representation: Representation,
    primer: np.ndarray | None,
    config: GenerationConfig,
) -> GenerationResult:
    """Continue a (T0, N, 2) note-state primer by ``config.length`` steps."""
    features_fn: Callable[..., np.ndarray] = representation.input_features  # type: ignore[attr-defined]
    num_notes, channels = representation.feature_shape[:2]  # channel 2: velocity bins
    choice = candidate_choice(config)
    rows = choice.rows if choice is not None else config.count
    batch = _primer_batch(primer, rows, (num_notes, channels))  # (B, T0, N, C)
    b, t0 = batch.shape[:2]
    gen = config.generator()
    low = int(getattr(representation.config, "low", 0))
    track = _Trackers.build(config, b, low, num_notes, representation.config.steps_per_quarter,
                            int(getattr(model.config, "velocity_bins", 0) or 0))
    state = model.init_state(b)
    device = next(model.parameters()).device
    current = batch[:, 0]  # (B, N, C)
    weights = (config.pitch_weights.for_notes(low, num_notes)
               if config.pitch_weights is not None else None)
    out_steps = [torch.from_numpy(batch[:, t]) for t in range(t0)]
    probs_seen: list[torch.Tensor] = []
    if track.harmony is not None:
        track.harmony.update(batch[:, 0, :, 0])
    total = t0 - 1 + config.length
    for t in range(total):
        config.report(t, total)
        feats = features_fn(current[:, None], first_step=config.first_step + t)[:, 0]  # (B, N, 80)
        forced = t + 1 < t0
        allowed = track.hold.mask()
        grid_step = config.first_step + t + 1  # the step being chosen, from a bar line
        sounding = np.ascontiguousarray(current[..., 0]) > 0  # (B, N) before this step
        change = None
        if forced:
            rule = NoteRule.teacher(batch[:, t + 1, :, :2], probabilities=False)
        else:
            change = _plan_step(config, t + 1 - t0, out_steps[t0:])
            rule = _sampled_rule(config, gen, change, weights,
                                 (track.metre, track.rhythm, track.harmony), grid_step,
                                 (track.silence.conservativity * track.density.factor).numpy(),
                                 (allowed > 0).numpy(), sounding)
        outputs, state = model.step(torch.from_numpy(feats).to(device), state, rule=rule,
                                    style=config.style, style_strength=config.style_strength)
        sounding_t = torch.from_numpy(sounding)
        notes = _chosen_notes(outputs, config, not forced, channels == 3, sounding_t, gen,
                              track.velocity_weights(grid_step) if channels == 3 else None,
                              change)
        bins = (torch.from_numpy(batch[:, t + 1, :, 2]) if forced else notes[..., 2]
                ) if track.loudness is not None else None  # a primer's step: its own
        track.update(notes, sounding_t, grid_step, not forced, allowed, bins)
        current = notes.numpy()
        if not forced:
            probs_seen.append(outputs["probs"][..., 0].cpu())
            out_steps.append(notes)
            if choice is not None:
                state, current = _keep_rows(choice.choose(out_steps), state, current, track,
                                            (out_steps, probs_seen))
    config.report(total, total)
    keep = slice(None, None, choice.candidates if choice is not None else 1)  # a row a piece
    arrays = torch.stack(out_steps, dim=1).to(torch.uint8).numpy()[keep]  # (B, T0 + L, N, 2)
    probs = torch.stack(probs_seen, dim=1).numpy()[keep]  # (B, L, N)
    return GenerationResult(
        arrays=list(arrays),
        primer_length=t0,
        probabilities=list(probs),
        stats={"boosted_steps": track.silence.boosted_steps,
               "forced_releases": track.hold.forced_releases,
               "density_steps": track.density.adjusted_steps},
        first_step=config.first_step,
    )


def candidate_choice(config: GenerationConfig) -> CandidateChoice | None:
    """The choice among candidate draws of each step that ``config`` asks for: rhythm copy
    and avoiding parallels, each where its strength is above 0 (``None``: neither)."""
    rules: list[CandidateRule] = []
    if config.rhythm_copy > 0:
        rules.append(RhythmCopy(config.rhythm_copy, config.count, seed=config.seed))
    if config.avoid_parallels > 0:
        rules.append(AvoidParallels(config.avoid_parallels, config.count, seed=config.seed))
    return CandidateChoice(rules, config.count) if rules else None


def _keep_rows(index: np.ndarray, state: list[tuple[torch.Tensor, torch.Tensor]],
               current: np.ndarray, track: _Trackers,
               histories: tuple[list[torch.Tensor], ...]
               ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], np.ndarray]:
    """Every row continues from row ``index[i]``: the time axis' (h, c) (rows B * N), the
    current step, the trackers and, in place, each list of (B, ...) steps in ``histories``."""
    rows = torch.from_numpy(index)
    num_notes = current.shape[1]
    state_rows = (rows[:, None] * num_notes + torch.arange(num_notes)).reshape(-1)
    track.take_rows(index)
    for history in histories:
        history[:] = [step[rows] for step in history]
    return [(h[:, state_rows], c[:, state_rows]) for h, c in state], current[index]


def _sampled_rule(config: GenerationConfig, gen: torch.Generator, change: Any,
                  weights: np.ndarray | None,
                  guides: tuple[MetreGuide | None, RhythmGuide | None, HarmonyGuide | None],
                  grid_step: int, conservativity: np.ndarray, allowed: np.ndarray,
                  sounding: np.ndarray) -> NoteRule:
    """The sampling rule of a generated step: the plan's ``change`` at the step, the key's
    and range's ``weights``, the onset ``guides`` at ``grid_step``, the anti-silence and
    density ``conservativity`` (B,), the hold guard's ``allowed`` (B, N) and the notes
    ``sounding`` (B, N) before the step."""
    b, num_notes = sounding.shape
    uniforms = torch.rand((num_notes, b, 2), generator=gen, dtype=torch.float32)
    step_weights = _forced_on(_times(weights, change.weights if change else None), change)
    metre, rhythm, harmony = guides
    onset_weights = _onset_weights((metre, rhythm), harmony, grid_step, change, (num_notes, b))
    rule = NoteRule.bernoulli(uniforms.numpy(), conservativity, allowed, config.temperature,
                              step_weights, onset_weights, sounding)
    if change is not None and change.prior is not None:
        rule = replace(rule, prior=np.ascontiguousarray(change.prior.transpose(1, 0, 2)),
                       prior_weight=change.prior_weight)
    return rule


def _chosen_notes(outputs: dict[str, torch.Tensor], config: GenerationConfig, sampled: bool,
                  dynamics: bool, sounding_before: torch.Tensor, gen: torch.Generator,
                  velocity_weights: torch.Tensor | None = None,
                  change: Any = None) -> torch.Tensor:
    """(B, N, C) the notes the model chose at a step: on a ``sampled`` step (not the
    primer's) at most ``config.max_polyphony`` at once, the notes the plan's ``change``
    clamps kept first; with ``dynamics``, a velocity bin for every note started here
    (weighted by the (B, bins) ``velocity_weights`` of a loudness memory or drift)."""
    notes = outputs["notes"].cpu().float()  # (B, N, 2)
    if config.max_polyphony and sampled:
        rank = outputs["probs"][..., 0].cpu().float()
        clamped = _clamped(change)
        if clamped is not None:
            rank = rank + 2.0 * clamped.float()  # above every free note's probability
        kept = cap_polyphony(notes[..., 0], rank, config.max_polyphony)
        notes = notes * kept[..., None]
    if dynamics:
        bins = _velocity_bins(outputs, notes, sounding_before, gen, config.velocity_temperature,
                              velocity_weights)
        notes = torch.cat([notes, bins[..., None]], dim=-1)
    return notes


def _guides(config: GenerationConfig, batch: int, low: int, num_notes: int
            ) -> tuple[MetreGuide | None, RhythmGuide | None, HarmonyGuide | None]:
    """The onset guides a configuration asks for (:mod:`cadenza.generation.guides`)."""
    metre = (MetreGuide(np.asarray(config.onset_profile), config.metre_guide, batch)
             if config.metre_guide > 0 and config.onset_profile is not None else None)
    rhythm = RhythmGuide(config.rhythm_guide, batch) if config.rhythm_guide > 0 else None
    harmony = (HarmonyGuide(config.harmony_guide, batch, low, num_notes,
                            half_life_steps=config.harmony_half_life)
               if config.harmony_guide > 0 else None)
    return metre, rhythm, harmony


def _onset_weights(timing: tuple[MetreGuide | None, RhythmGuide | None],
                   harmony: HarmonyGuide | None, step: int, change: Any,
                   shape: tuple[int, int]) -> np.ndarray | None:
    """(N, B) onset weights of the guides at grid step ``step``; 1 where a plan's prior
    decides a note (a clamped melody note, a cadence chord stay exact)."""
    guides = [guide for guide in timing if guide is not None]
    if not guides and harmony is None:
        return None
    weights = np.ones(shape, dtype=np.float32)
    if harmony is not None:
        weights *= harmony.weights()
    for guide in guides:
        weights *= guide.weights(step)[None, :]
    if change is not None and change.prior is not None:
        free = np.isnan(change.prior[..., 0]).T  # (N, B)
        weights = np.where(free, weights, np.float32(1.0)).astype(np.float32)
    return weights


def _velocity_bins(outputs: dict[str, torch.Tensor], notes: torch.Tensor,
                   sounding_before: torch.Tensor, gen: torch.Generator,
                   temperature: float = 1.0, weights: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """(B, N) bins 1..bins drawn from the model's velocity distribution (raised to
    ``1 / temperature``, times the (B, bins) ``weights`` of a loudness memory or drift) where a note
    starts (struck, or sounding after silence), 0 elsewhere."""
    probs = outputs["velocity_probs"].cpu().float()  # (B, N, bins)
    if temperature != 1.0:  # in log space: a small probability to a large power underflows
        probs = torch.softmax(torch.log(probs.clamp_min(1e-30)) / temperature, dim=-1)
    if weights is not None:
        probs = probs * weights[:, None, :]
        probs = probs / probs.sum(-1, keepdim=True).clamp_min(1e-30)
    drawn = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=gen)
    bins = drawn.reshape(probs.shape[:2]).float() + 1
    starts = (notes[..., 0] > 0) & ((notes[..., 1] > 0) | ~sounding_before)
    return torch.where(starts, bins, 0.0)


@torch.inference_mode()
def generate_pianoroll(
    model: SequenceModel,
    representation: Representation,
    primer: np.ndarray | None,
    config: GenerationConfig,
) -> GenerationResult:
    """Continue a (T0, 88) piano-roll primer by ``config.length`` frames."""
    keys = representation.feature_shape[0]
    batch = _primer_batch(primer, config.count, (keys,))  # (B, T0, K)
    b, t0 = batch.shape[:2]
    gen = config.generator()
    silence = AdaptiveSilence(b, config.silence,  # a density band replaces it
                              enabled=config.adaptive and config.density is None)
    density = Density(b, config.density, representation.config.steps_per_quarter)
    hold = HoldGuard((b, keys), config.max_hold_steps)
    device = next(model.parameters()).device
    state = model.init_state(b)
    frames = [torch.from_numpy(batch[:, t]) for t in range(t0)]
    low = int(getattr(representation.config, "low", 21))
    weights = (torch.from_numpy(config.pitch_weights.for_notes(low, keys).copy())
               if config.pitch_weights is not None else None)
    probs_seen: list[torch.Tensor] = []
    frame = frames[0]
    total = t0 - 1 + config.length
    for t in range(total):
        config.report(t, total)
        outputs, state = model.step(frame.to(device), state)
        if t + 1 < t0:
            frame = frames[t + 1]
            continue
        p = outputs["probs"].cpu().float()  # (B, K)
        probs_seen.append(apply_temperature_bits(p, config.temperature))
        change = _plan_step(config, t + 1 - t0, frames[t0:])
        step_weights = _forced_on(_times(None if weights is None else weights.numpy(),
                                         change.weights if change else None), change)
        if step_weights is not None:
            p = p * torch.from_numpy(step_weights)
        if change is not None and change.prior is not None:
            prior = torch.from_numpy(change.prior[..., 0])  # (B, K): play
            p = torch.where(torch.isnan(prior), p,
                            change.prior_weight * p + (1 - change.prior_weight) * prior)
        frame = bernoulli(p, temperature=config.temperature, threshold=config.threshold,
                          conservativity=silence.exponent(2) * density.exponent(2),
                          generator=gen)
        frame = cap_polyphony(frame, p, config.max_polyphony)
        blocked = (hold.mask() == 0) & (frame > 0)
        hold.forced_releases += int(blocked.sum())
        frame = torch.where(blocked, torch.zeros_like(frame), frame)
        silence.update(frame.sum(-1))
        density.update(((frame > 0) & (frames[-1] <= 0)).sum(-1))
        hold.update(frame)
        frames.append(frame)
    config.report(total, total)
    arrays = torch.stack(frames, dim=1).to(torch.uint8).numpy()
    probs = torch.stack(probs_seen, dim=1).numpy()
    return GenerationResult(
        arrays=list(arrays),
        primer_length=t0,
        probabilities=list(probs),
        stats={"boosted_steps": silence.boosted_steps, "forced_releases": hold.forced_releases},
        first_step=config.first_step,
    )
