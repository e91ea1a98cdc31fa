"""Time-varying composing controls of the grid families: a form that returns to its phrases and
an ending on a cadence.

A plan says, for each generated step, how the sampler's per-note probabilities change: a
weight per note multiplying P(play) (0 = never) and a *prior*, [play, articulate] per note
(NaN where free), mixed with the model's probabilities as ``w * p + (1 - w) * prior``
(``w = 0`` with a 0/1 prior chooses exactly the prior). Plans see what was generated so far,
so a repeated phrase can follow the phrase it repeats.

* :class:`FormPlan`: ``form="AABA"``, ``phrase_steps``: the first phrase of each letter is
  free; a later phrase with the same letter takes the first one's notes as its prior, step
  for step, with the model's share ``variation`` (0 = an exact repeat). With
  ``rhythm_returns`` r, each returning phrase keeps, with chance r, only its first
  statement's rhythm: where no note started at the source step none starts (sounding notes
  may go on), and the notes that do start are the model's own. Real piano music repeats the
  rhythm of its bars far more often than their notes (``docs/benchmarks.md``, "Realism").
  Steps from ``free_from`` on are never copied: the cadence of an ending takes them.
* :func:`auto_form`: the default form of a piece, drawn from its seed (see ``AUTO_FORMS``).
* :class:`EndingPlan`: the bar before the last leans on the dominant seventh chord of the key
  (other pitch classes weighted ``1 - strength``); the last bar is the tonic triad, tonic in
  the bass, struck on its first step, and nothing else sounds. The bass holds to the bar's
  end; the notes above it are released after ``hold_steps`` (by default they hold too), as a
  pianist's right hand lets go of a final chord over a held bass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cadenza.controls import Key
from cadenza.errors import ConfigError, check_number

__all__ = ["AUTO_FORM", "AUTO_FORMS", "NO_FORM", "EndingPlan", "FormPlan", "Plan", "StepPrior",
           "auto_form", "check_ending_hold", "check_rhythm_returns", "combine", "rhythm_prior"]

AUTO_FORM = "auto"  # the form value that draws one of AUTO_FORMS from the piece's seed
NO_FORM = "none"  # the form value that asks for none (through-composed)
# The forms the default draws from, with their weights: three in seven pieces through-composed
# (None), the others one of four common four-phrase forms with exact repeats. The real piano
# pieces of the held-out set repeat about a fifth of their bars exactly; a model composing
# bar after bar repeats none (docs/benchmarks.md, "Music gates").
AUTO_FORMS: tuple[tuple[str | None, int], ...] = (
    (None, 3), ("AABA", 1), ("ABAC", 1), ("AABB", 1), ("ABAB", 1))
BEATS_PER_BAR = 4  # the grid families compose 4/4 bars
_FORM_STREAM = 0x466F726D  # "Form": mixed into the seed so the draw has its own random stream
_RETURN_STREAM = 0x52657475  # "Retu": whether a returning phrase keeps its rhythm only


def check_ending_hold(beats: float) -> float:
    """How long a cadence's final chord sounds, in beats: above 0 and at most a 4/4 bar, else
    ConfigError naming it."""
    expected = f"a number of beats above 0 and at most {BEATS_PER_BAR}"
    value = check_number("ending_hold", beats, 0.0, float(BEATS_PER_BAR), expected)
    if value <= 0.0:
        raise ConfigError(f"ending_hold must be {expected}, got {beats!r}")
    return value


@dataclass
class StepPrior:
    """How one generated step's probabilities change (see the module docstring)."""

    weights: np.ndarray | None = None  # (N,) in [0, 1]
    prior: np.ndarray | None = None  # (B, N, 2), NaN where free
    prior_weight: float = 0.0


def for_batch(prior: np.ndarray, generated: Sequence[np.ndarray]) -> np.ndarray:
    """One (N, 2) prior repeated for every sequence of the batch: (B, N, 2), B read from the
    generated steps (1 before the first, which the samplers broadcast)."""
    batch = len(generated[0]) if len(generated) else 1
    return np.broadcast_to(prior, (batch, *prior.shape)).copy()


class Plan:
    """Base of the plans: no change at any step."""

    def step(self, index: int, generated: Sequence[np.ndarray]) -> StepPrior | None:
        """The change at generated step ``index`` (0 = the first after the primer), given the
        generated steps so far, each (B, N, C)."""
        return None


def auto_form(seed: int) -> str | None:
    """The form the default draws for a piece composed with ``seed`` (the same seed, the same
    form; ``None``: through-composed)."""
    forms = [form for form, _ in AUTO_FORMS]
    weights = np.array([weight for _, weight in AUTO_FORMS], dtype=np.float64)
    stream = np.random.default_rng([seed, _FORM_STREAM])  # not the sampler's own stream
    choice = stream.choice(len(forms), p=weights / weights.sum())
    return forms[int(choice)]


@dataclass
class FormPlan(Plan):
    """A form such as ``AABA`` over phrases of ``phrase_steps`` steps (see the module)."""

    form: str
    phrase_steps: int
    variation: float = 0.0
    free_from: int | None = None  # generated steps from here on are left to other plans
    rhythm_returns: float = 0.0
    seed: int | None = None  # of the rhythm-returns draw (None: nondeterministic)
    _rhythm_only: dict[int, bool] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.form or not self.form.isalpha() or not self.form.isupper():
            raise ConfigError(f"form must be capital letters such as AABA, got {self.form!r}")
        if self.phrase_steps < 1:
            raise ConfigError(f"phrase length must be positive, got {self.phrase_steps}")
        if not 0.0 <= self.variation <= 1.0:
            raise ConfigError(f"variation must be in [0, 1], got {self.variation}")
        check_rhythm_returns(self.rhythm_returns)

    def step(self, index: int, generated: Sequence[np.ndarray]) -> StepPrior | None:
        if self.free_from is not None and index >= self.free_from:
            return None
        phrase, offset = divmod(index, self.phrase_steps)
        letter = self.form[phrase % len(self.form)]
        first = next(j for j in range(phrase + 1) if self.form[j % len(self.form)] == letter)
        if first == phrase:
            return None
        if self.rhythm_only(phrase):
            return rhythm_prior(generated, first * self.phrase_steps + offset, index)
        source = np.asarray(generated[first * self.phrase_steps + offset], dtype=np.float32)
        # a piano-roll frame (B, K) has play only; note states (B, N, C) play and articulate
        prior = np.stack([source, source], axis=-1) if source.ndim == 2 else source[..., :2]
        return StepPrior(prior=np.ascontiguousarray(prior), prior_weight=self.variation)

    def rhythm_only(self, phrase: int) -> bool:
        """Whether returning phrase ``phrase`` keeps only its first statement's rhythm (drawn
        once per phrase from the plan's seed)."""
        if self.rhythm_returns <= 0.0:
            return False
        if phrase not in self._rhythm_only:
            stream = np.random.default_rng(None if self.seed is None
                                           else [self.seed, _RETURN_STREAM, phrase])
            self._rhythm_only[phrase] = bool(stream.random() < self.rhythm_returns)
        return self._rhythm_only[phrase]


def check_rhythm_returns(share: float) -> float:
    """A share of rhythm-only returns in [0, 1], else ConfigError naming it."""
    return check_number("rhythm_returns", share, 0.0, 1.0, "a share in 0..1")


def rhythm_prior(generated: Sequence[np.ndarray], source: int, index: int) -> StepPrior:
    """Generated step ``index`` keeps the rhythm of step ``source``: in every row where no
    note started at ``source``, no note starts (a sounding note may go on, unstruck); where
    notes started, the lowest of them starts again, none starts below it, and the notes above
    are the model's choice.
    The bass line returns under new upper parts, as in a variation; the walk up the keyboard
    starts from the bass, so every note above it is chosen knowing it."""
    def plays(step: int) -> np.ndarray:  # (B, N) of a note state, (B, K) of a piano roll
        frame = np.asarray(generated[step])
        return (frame[..., 0] if frame.ndim == 3 else frame) > 0

    def struck(step: int) -> np.ndarray:
        frame = np.asarray(generated[step])
        return frame[..., 1] > 0 if frame.ndim == 3 else np.zeros(frame.shape, dtype=bool)

    before = plays(source - 1) if source > 0 else np.zeros_like(plays(source))
    started = plays(source) & (struck(source) | ~before)
    lowest = np.where(started.any(-1), started.argmax(-1), started.shape[-1])  # (B,)
    below = np.arange(started.shape[-1])[None, :] < lowest[:, None]  # (B, N): none starts
    sounding = plays(index - 1)
    prior = np.full((*sounding.shape, 2), np.nan, dtype=np.float32)
    prior[..., 0] = np.where(below & ~sounding, 0.0, np.nan)
    prior[..., 1] = np.where(below, 0.0, np.nan)
    rows = np.flatnonzero(lowest < started.shape[-1])
    prior[rows, lowest[rows]] = 1.0  # the lowest note started at the source starts again
    return StepPrior(prior=prior, prior_weight=0.0)


@dataclass
class EndingPlan(Plan):
    """An authentic cadence over the last two bars of ``total_steps`` (see the module)."""

    key: Key
    total_steps: int
    steps_per_bar: int
    low: int  # MIDI pitch of note 0 of the representation
    num_notes: int
    strength: float = 0.95
    allowed: np.ndarray | None = None  # (128,) bool: pitches the chord may use (a --range)
    max_notes: int = 0  # at most this many notes in the final chord (0: four)
    hold_steps: int = 0  # steps the final chord's upper notes sound (0: all the bar, as the bass)

    def __post_init__(self) -> None:
        if self.total_steps < 2 * self.steps_per_bar:
            raise ConfigError("an ending needs at least two bars")
        if not 0 <= self.hold_steps <= self.steps_per_bar:
            raise ConfigError(f"the final chord's hold must be 0..{self.steps_per_bar} steps, "
                              f"got {self.hold_steps}")
        tonic = self.key.tonic
        self.final_chord = self._voicing(tonic, 3 if self.key.mode == "minor" else 4)
        dominant = (tonic + 7) % 12
        self.dominant_classes = {dominant, (dominant + 4) % 12, (dominant + 7) % 12,
                                 (dominant + 10) % 12}

    def _voicing(self, tonic: int, third: int) -> list[int]:
        """The final chord: the tonic in the bass, open in octave 3 when it fits (C3..G3),
        else the first close triad that fits the model's keys, ``allowed`` and
        ``max_notes``.

        Raises:
            ConfigError: no voicing fits.
        """
        bass = 48 + tonic if 48 + tonic <= 55 else 36 + tonic
        candidates = [[bass, bass + 12, bass + 12 + third, bass + 19]]
        for octave_bass in sorted(range(tonic, 128, 12), key=lambda b: abs(b - bass)):
            candidates.append([octave_bass, octave_bass + third, octave_bass + 7])
        for chord in candidates:
            if self.max_notes:
                chord = chord[: max(self.max_notes, 1)]
            fits = all(self.low <= p < self.low + self.num_notes and p < 128 for p in chord)
            if fits and (self.allowed is None or all(self.allowed[p] for p in chord)):
                return chord
        raise ConfigError(f"the final chord of {self.key} does not fit in the model's keys "
                          "and the asked range")

    def step(self, index: int, generated: Sequence[np.ndarray]) -> StepPrior | None:
        bar = self.steps_per_bar
        pitches = self.low + np.arange(self.num_notes)
        if index >= self.total_steps - bar:  # the held tonic chord, nothing else
            prior = np.zeros((self.num_notes, 2), dtype=np.float32)
            into = index - (self.total_steps - bar)  # steps into the last bar
            bass = min(self.final_chord)
            for pitch in self.final_chord:
                if pitch == bass or into < (self.hold_steps or bar):
                    prior[pitch - self.low] = (1.0, 1.0 if into == 0 else 0.0)
            return StepPrior(prior=for_batch(prior, generated))
        if index >= self.total_steps - 2 * bar:  # the dominant seventh
            inside = np.isin(pitches % 12, sorted(self.dominant_classes))
            return StepPrior(weights=np.where(inside, 1.0, 1.0 - self.strength)
                             .astype(np.float32))
        return None


@dataclass
class CombinedPlan(Plan):
    """Several plans: weights multiply; priors merge note by note, a later plan's winning
    where both set one; the smaller model share of the two is kept."""

    plans: tuple[Plan, ...]

    def step(self, index: int, generated: Sequence[np.ndarray]) -> StepPrior | None:
        out: StepPrior | None = None
        for plan in self.plans:
            change = plan.step(index, generated)
            if change is None:
                continue
            if out is None:
                out = StepPrior(change.weights, change.prior, change.prior_weight)
                continue
            if change.weights is not None:
                out.weights = (change.weights if out.weights is None
                               else out.weights * change.weights)
            if change.prior is not None:
                if out.prior is None:
                    out.prior, out.prior_weight = change.prior, change.prior_weight
                else:
                    out.prior = np.where(np.isnan(change.prior), out.prior, change.prior)
                    out.prior_weight = min(out.prior_weight, change.prior_weight)
        return out


def combine(*plans: Plan | None) -> Plan | None:
    """One plan of the given ones (``None`` entries skipped), or ``None``."""
    present = tuple(p for p in plans if p is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else CombinedPlan(present)
