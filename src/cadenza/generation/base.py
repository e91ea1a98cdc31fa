"""What every family's generator takes and returns.

Generation works on encoded arrays (the representation's own format); turning them into a
:class:`~cadenza.score.Score`, MIDI, WAV or pictures happens in :mod:`cadenza.generation.decoding`.
A primer is one encoded array (steps / messages / tokens of a real piece); the generated part
continues it, one step at a time, carrying the model's recurrent state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from cadenza.controls import PitchWeights
from cadenza.errors import ConfigError
from cadenza.generation.guides import check_guide
from cadenza.generation.loudness import check_velocity_drift, check_velocity_memory
from cadenza.generation.parallels import check_avoid_parallels
from cadenza.generation.rhythmcopy import check_rhythm_copy
from cadenza.models.styleinput import check_style_strength
from cadenza.sampling import AdaptiveSilenceConfig

MAX_LENGTH = 100_000
MIN_TEMPERATURE = 0.01  # below it every family's sampling is an argmax, with overflow risks
MAX_TEMPERATURE = 5.0  # far past where every model's output is noise
DEFAULT_THRESHOLD = 0.1  # the piano-roll floor when neither the user nor the model sets one


def check_sampling(temperature: float, threshold: float, top_k: int, top_p: float) -> None:
    """Raise ``ConfigError`` naming the first sampling setting out of range."""
    if not MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE:
        raise ConfigError(
            f"temperature must be in [{MIN_TEMPERATURE}, {MAX_TEMPERATURE}], got {temperature}")
    if not 0 <= threshold < 1:
        raise ConfigError(f"threshold must be in [0, 1), got {threshold}")
    if top_k < 0 or not 0 < top_p <= 1:
        raise ConfigError(f"need top_k >= 0 and 0 < top_p <= 1, got {top_k}, {top_p}")


@dataclass
class GenerationConfig:
    """How to sample.

    Attributes:
        length: how much to generate after the primer, in the representation's unit (steps
            for biaxial and piano-roll, messages for events, tokens for note tokens).
        count: pieces generated together along a batch dimension.
        temperature: > 1 is bolder, < 1 more conservative (all families).
        threshold: piano-roll rule: probabilities below it never sound (default 0.1).
        top_k, top_p: categorical truncation for the events and note-token models.
        adaptive: use the anti-silence rule (biaxial and piano-roll models).
        max_hold_steps: release a note held longer than this many steps (0 = never).
        max_repeats: for events / tokens, forbid the same pitch / element more than this many
            times in a row (0 = no limit).
        seed: seed of the sampler's random generator (``None`` = nondeterministic).
        pitch_weights: composing controls (key, range) as a weight per MIDI pitch multiplying
            each note's probability of sounding (:mod:`cadenza.controls`); grid families.
        density: grid families: keep note onsets per beat within (low, high), a two-sided
            anti-silence rule (:class:`cadenza.sampling.Density`).
        plan: grid families: time-varying controls (a form, an ending), see
            :mod:`cadenza.generation.plan`.
        max_polyphony: grid families: at most this many notes sound at once; beyond it the
            least probable of the step's sounding notes are let go (0 = no limit).
        first_step: where the primer's first element lies on the piece's grid, in steps from a
            bar line (grid families): the biaxial beat inputs count from it, and the decoded
            piece keeps the primer's place in its bar. A primer cut at its first sound in
            the middle of a bar (an anacrusis) has ``first_step`` > 0.
        bars: families that count bars in their tokens (the transformer): end every piece at
            the bar line this many bars after the primer; ``length`` is then an upper bound.
        ending: token families: a :class:`cadenza.generation.token_ending.TokenEnding` that
            steers the last elements (or bars) to the dominant, then the tonic triad.
        velocity_temperature: models with a dynamics output: each started note's velocity bin
            is drawn from the model's distribution raised to ``1 / velocity_temperature`` and
            renormalised (< 1: steadier dynamics, nearer the most likely loudness).
        velocity_memory: models with a dynamics output: each started note's velocity bin is
            kept within about this many bins of the piece's recent level (0 = off; see
            :mod:`cadenza.generation.loudness`).
        velocity_drift: models with a dynamics output: the standard deviation of each piece's
            loudness tilt, drawn afresh at every bar line so that bars differ in level as
            phrases of real music do (0 = off; see :mod:`cadenza.generation.loudness`).
        metre_guide: biaxial: strength of the metre guide, which steers the share of onsets
            at each bar position toward ``onset_profile`` (0 = off; see
            :mod:`cadenza.generation.guides`).
        onset_profile: the training corpus' share of onsets per 16th of a 4/4 bar.
        rhythm_guide: biaxial: strength of the rhythm guide, which favours onsets where the
            bar before had them (0 = off).
        harmony_guide: biaxial: strength of the harmony guide, which favours the onsets of
            the pitch classes the piece has sounded over about ``harmony_half_life`` steps
            (0 = off).
        rhythm_copy: biaxial: the chance that a step starts a note where the same step a bar
            earlier did, chosen among several draws of the step (0 = off; see
            :mod:`cadenza.generation.rhythmcopy`).
        avoid_parallels: biaxial: the chance that a step is held to moving in no parallel
            fifth or octave from the sonority before, chosen among several draws of the step
            (0 = off; see :mod:`cadenza.generation.parallels`).
        style: biaxial models trained with styles: the index of the style every piece is
            composed in (``None``: no style, see :mod:`cadenza.models.styleinput`).
        style_strength: how far the style's vector is pushed from the centre of the model's
            styles, ``c + s * (e - c)`` (1: the style's own embedding; 0: every style alike;
            > 1: what sets the style apart, exaggerated).
        progress: called as ``progress(done, total)`` with the steps (or messages / tokens)
            of the generation loop done so far and their total; may raise to abort.
    """

    length: int = 128
    count: int = 1
    temperature: float = 1.0
    threshold: float = DEFAULT_THRESHOLD
    top_k: int = 0
    top_p: float = 1.0
    adaptive: bool = True
    silence: AdaptiveSilenceConfig = field(default_factory=AdaptiveSilenceConfig)
    max_hold_steps: int = 64
    max_repeats: int = 8
    seed: int | None = None
    first_step: int = 0
    pitch_weights: PitchWeights | None = None
    max_polyphony: int = 0
    density: tuple[float, float] | None = None
    bars: int | None = None
    velocity_temperature: float = 1.0
    velocity_memory: float = 0.0
    velocity_drift: float = 0.0
    metre_guide: float = 0.0
    onset_profile: tuple[float, ...] | None = None
    rhythm_guide: float = 0.0
    harmony_guide: float = 0.0
    harmony_half_life: float = 32.0
    rhythm_copy: float = 0.0
    avoid_parallels: float = 0.0
    style: int | None = None
    style_strength: float = 1.0
    ending: Any = field(default=None, repr=False, compare=False)  # TokenEnding
    plan: Any = field(default=None, repr=False, compare=False)  # generation.plan.Plan
    progress: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.length <= MAX_LENGTH:
            raise ConfigError(f"length must be in 1..{MAX_LENGTH}, got {self.length}")
        if not 1 <= self.count <= 256:
            raise ConfigError(f"count must be in 1..256, got {self.count}")
        check_sampling(self.temperature, self.threshold, self.top_k, self.top_p)
        if self.max_hold_steps < 0 or self.max_repeats < 0:
            raise ConfigError("max_hold_steps and max_repeats must be >= 0")
        if not 0 <= self.max_polyphony <= 128:
            raise ConfigError(f"max_polyphony must be in 0..128, got {self.max_polyphony}")
        if self.bars is not None and not 1 <= self.bars <= 4096:
            raise ConfigError(f"bars must be in 1..4096, got {self.bars}")
        if self.first_step < 0:
            raise ConfigError(f"first_step must be >= 0, got {self.first_step}")
        check_velocity_temperature(self.velocity_temperature)
        check_velocity_memory(self.velocity_memory)
        check_velocity_drift(self.velocity_drift)
        check_guide("metre_guide", self.metre_guide)
        check_guide("rhythm_guide", self.rhythm_guide)
        check_guide("harmony_guide", self.harmony_guide)
        check_rhythm_copy(self.rhythm_copy)
        check_avoid_parallels(self.avoid_parallels)
        check_style_strength(self.style_strength)
        if not self.harmony_half_life > 0:
            raise ConfigError(f"harmony_half_life must be positive, got {self.harmony_half_life}")

    def report(self, done: int, total: int) -> None:
        """Tell :attr:`progress` (when set) that ``done`` of ``total`` loop steps are done."""
        if self.progress is not None:
            self.progress(done, total)

    def generator(self) -> torch.Generator:
        gen = torch.Generator()
        if self.seed is None:
            gen.seed()
        else:
            gen.manual_seed(self.seed)
        return gen


def check_velocity_temperature(value: float) -> None:
    """Raise ConfigError unless ``value`` is a velocity temperature in (0, 10]."""
    if not 0 < value <= 10:
        raise ConfigError(f"velocity temperature must be in (0, 10], got {value}")


@dataclass
class GenerationResult:
    """Encoded pieces (primer followed by new material) and what the sampler saw.

    Attributes:
        arrays: one encoded array per piece, primer included.
        primer_length: length of the primer part along axis 0 (same for every piece).
        probabilities: per piece, the probabilities the sampler drew from at each generated
            step, (length, keys) for the biaxial / piano-roll models; ``None`` otherwise.
        stats: counts of what the guards did (boosted steps, forced releases, repeats broken).
        first_step: the configuration's ``first_step``: the grid step of ``arrays[i][0]``.
    """

    arrays: list[np.ndarray]
    primer_length: int
    probabilities: list[np.ndarray] | None = None
    stats: dict[str, float] = field(default_factory=dict)
    first_step: int = 0
