"""Onset guides of the biaxial sampler: soft, adaptive weights on where notes start.

Run on its own output, the biaxial model drifts: within a few bars its onsets lose the metre
below the beat (the eighth-note off-beats fall to the level of the other sixteenths, the
downbeats swell), and its pitch-class content wanders from bar to bar far more than real
music's (``docs/benchmarks.md``, "Realism"). Given the true past it predicts both well, so
the guides act where the free-running walk goes astray, on the note *onsets* only (a silent
note's chance to start, a sounding note's chance to be struck again; held notes are left
alone):

* :class:`MetreGuide` compares the onsets generated so far at each position of the bar with
  the training corpus' onset profile and weights the next step's onsets by
  ``(target share / generated share) ** strength`` (the generated share starts at the target,
  as ``prior_onsets`` onsets spread like it), so a position the walk neglects is favoured
  until it has its share again;
* :class:`RhythmGuide` weights the onsets of each step by how many notes started at the same
  position a bar earlier against that bar's mean, ``((earlier + 1) / (mean + 1)) **
  strength``: real piano music keeps a figure (an accompaniment pattern, a dotted rhythm)
  from bar to bar far more than the free-running walk does;
* :class:`HarmonyGuide` keeps a decaying pitch-class histogram of what sounded (the primer
  included) and weights each note's onset by ``(share of its pitch class / the histogram's
  mean share) ** strength``: the notes of the piece's own recent harmony are favoured over
  ones it has not used, the piece's memory of its key made explicit.

Both weigh about 1 on average, so the number of notes stays near the model's own. Strength 0
turns a guide off; the calibrated strengths of a model live in its ``config.json``
``"generation"`` (``metre_guide``, ``rhythm_guide``, ``harmony_guide``) and the corpus'
profile in ``"onset_profile"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cadenza.errors import ConfigError, check_number
from cadenza.generation.parallels import check_avoid_parallels
from cadenza.generation.rhythmcopy import check_rhythm_copy

__all__ = ["GUIDES", "HarmonyGuide", "MetreGuide", "RhythmGuide", "check_guide",
           "onset_profile"]

# their request and config names (rhythm copy: cadenza.generation.rhythmcopy, and avoiding
# parallels: cadenza.generation.parallels, are probabilities, choices among draws)
GUIDES = ("metre_guide", "rhythm_guide", "harmony_guide", "rhythm_copy", "avoid_parallels")

MAX_WEIGHT = 4.0  # no guide multiplies an onset's chance by more than this (or less than 1/4)
STEPS_PER_BAR = 16  # 4/4 in sixteenths: the grid the biaxial family composes on


def check_guide(name: str, strength: float) -> float:
    """A guide strength in [0, 4] (rhythm copy, avoiding parallels: a probability in
    [0, 1]), else ConfigError naming it."""
    if name == "rhythm_copy":
        return check_rhythm_copy(strength)
    if name == "avoid_parallels":
        return check_avoid_parallels(strength)
    return check_number(name, strength, 0.0, 4.0, "a number in 0..4")


def onset_profile(arrays: list[np.ndarray], steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray:
    """The share of note onsets at each position of the bar, over note-state arrays
    ``(T, N, C)`` whose step 0 is a bar line (``[..., 1]`` is the articulation bit)."""
    counts = np.zeros(steps_per_bar, dtype=np.float64)
    for array in arrays:
        steps = np.nonzero(np.asarray(array)[..., 1] > 0)[0]
        counts += np.bincount(steps % steps_per_bar, minlength=steps_per_bar)
    if counts.sum() == 0:
        raise ConfigError("no onsets to take a profile from")
    return counts / counts.sum()


def _clip(weights: np.ndarray) -> np.ndarray:
    return np.clip(weights, 1.0 / MAX_WEIGHT, MAX_WEIGHT).astype(np.float32)


@dataclass
class MetreGuide:
    """Steer the share of onsets at each bar position toward ``profile`` (see the module).

    Attributes:
        profile: (P,) onset share per position of the bar, summing to 1 (P steps a bar).
        strength: the exponent of the correction; 0 is off.
        batch: rows generated together (each is steered by its own onsets).
        prior_onsets: how many onsets, spread like ``profile``, the count starts with: the
            larger, the slower the guide reacts.
    """

    profile: np.ndarray
    strength: float
    batch: int
    prior_onsets: float = 64.0
    counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.profile = np.asarray(self.profile, dtype=np.float64)
        if self.profile.ndim != 1 or len(self.profile) < 1 or (self.profile < 0).any() \
                or not np.isclose(self.profile.sum(), 1.0, atol=1e-3):
            raise ConfigError("an onset profile is a list of shares per bar position summing "
                              f"to 1, got {self.profile.tolist()}")
        check_guide("metre_guide", self.strength)
        self.counts = np.zeros((self.batch, len(self.profile)), dtype=np.float64)

    def weights(self, step: int) -> np.ndarray:
        """(B,) weights of the onsets of grid step ``step`` (counted from a bar line)."""
        position = step % len(self.profile)
        target = self.profile[position]
        seen = self.counts[:, position] + self.prior_onsets * target
        share = seen / (self.counts.sum(axis=1) + self.prior_onsets)
        ratio = np.divide(target, share, out=np.ones_like(share), where=share > 0)
        return _clip(ratio ** self.strength)

    def take_rows(self, index: np.ndarray) -> None:
        """Row ``i`` continues from row ``index[i]`` (rhythm copy's choice of candidates)."""
        self.counts = self.counts[index]

    def update(self, step: int, onsets: np.ndarray) -> None:
        """Count the (B,) onsets chosen at grid step ``step``."""
        self.counts[:, step % len(self.profile)] += np.asarray(onsets, dtype=np.float64)


@dataclass
class RhythmGuide:
    """Favour onsets where the bar before had them (see the module).

    Attributes:
        strength: the exponent of the weight; 0 is off.
        batch: rows generated together.
        steps_per_bar: the period the rhythm is compared over.
    """

    strength: float
    batch: int
    steps_per_bar: int = STEPS_PER_BAR
    recent: np.ndarray = field(init=False)
    seen: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        check_guide("rhythm_guide", self.strength)
        self.recent = np.zeros((self.batch, self.steps_per_bar), dtype=np.float64)

    def weights(self, step: int) -> np.ndarray:
        """(B,) weights of the onsets of grid step ``step``."""
        if self.seen < self.steps_per_bar:  # no whole bar to echo yet
            return np.ones(self.batch, dtype=np.float32)
        earlier = self.recent[:, step % self.steps_per_bar]
        mean = self.recent.mean(axis=1)
        return _clip(((earlier + 1.0) / (mean + 1.0)) ** self.strength)

    def take_rows(self, index: np.ndarray) -> None:
        """Row ``i`` continues from row ``index[i]`` (rhythm copy's choice of candidates)."""
        self.recent = self.recent[index]

    def update(self, step: int, onsets: np.ndarray) -> None:
        """Record the (B,) onsets chosen at grid step ``step`` (the primer's too)."""
        self.recent[:, step % self.steps_per_bar] = np.asarray(onsets, dtype=np.float64)
        self.seen += 1


@dataclass
class HarmonyGuide:
    """Favour the pitch classes the piece has been sounding (see the module).

    Attributes:
        strength: the exponent of the weight; 0 is off.
        batch: rows generated together.
        low: MIDI pitch of note 0 of the note axis; ``num_notes`` its length.
        half_life_steps: steps after which a sounding note counts half as much.
        floor: a pitch-class share every class has besides its history (so one never heard
            is unlikely, not impossible).
    """

    strength: float
    batch: int
    low: int
    num_notes: int
    half_life_steps: float = 32.0
    floor: float = 0.02
    history: np.ndarray = field(init=False)
    classes: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        check_guide("harmony_guide", self.strength)
        if not self.half_life_steps > 0:
            raise ConfigError(f"half_life_steps must be positive, got {self.half_life_steps}")
        self.history = np.zeros((self.batch, 12), dtype=np.float64)
        self.classes = (self.low + np.arange(self.num_notes)) % 12
        self.decay = 0.5 ** (1.0 / self.half_life_steps)

    def weights(self) -> np.ndarray:
        """(N, B) weights of each note's onset at the next step."""
        total = self.history.sum(axis=1, keepdims=True)
        if not total.any():
            return np.ones((self.num_notes, self.batch), dtype=np.float32)
        share = np.divide(self.history, total, out=np.full_like(self.history, 1 / 12),
                          where=total > 0) + self.floor  # (B, 12)
        mean = (share * (share - self.floor)).sum(axis=1, keepdims=True)  # E[share] over hist.
        per_class = (share / mean) ** self.strength  # (B, 12)
        return _clip(per_class[:, self.classes].T)

    def take_rows(self, index: np.ndarray) -> None:
        """Row ``i`` continues from row ``index[i]`` (rhythm copy's choice of candidates)."""
        self.history = self.history[index]

    def update(self, play: np.ndarray) -> None:
        """Add the (B, N) notes sounding at a step (the primer's steps too)."""
        sounding = np.asarray(play, dtype=np.float64)
        by_class = np.zeros((self.batch, 12), dtype=np.float64)
        np.add.at(by_class.T, self.classes, sounding.T)
        self.history = self.history * self.decay + by_class
