"""Composing controls that act on each key's probability where the sampler draws: a key and a
range of pitches, as one weight per MIDI pitch.

A :class:`PitchWeights` holds a number in ``[0, 1]`` for every MIDI pitch 0..127: the grid
generators multiply each note's probability of sounding by it (0 = never). ``--key "D minor"``
gives out-of-key pitches the weight ``1 - key_strength`` (strength 1: never out of key);
``--range C2-C6`` gives pitches outside the range weight 0. A primer is given music and is
never changed.

The scale of a minor key is the natural minor plus the raised seventh (the harmonic minor's
leading tone), so that a dominant chord stays possible.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cadenza.errors import ConfigError

__all__ = ["Key", "PitchWeights", "detect_key", "parse_key", "parse_pitch", "parse_range",
           "pitch_weights"]

PITCH_CLASSES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor plus the leading tone
_NOTE = re.compile(r"^([a-gA-G])([#b]?)(-?\d+)?$")


@dataclass(frozen=True)
class Key:
    """A key: tonic pitch class 0..11 and mode."""

    tonic: int
    mode: str  # "major" or "minor"

    @property
    def pitch_classes(self) -> frozenset[int]:
        steps = MAJOR if self.mode == "major" else MINOR
        return frozenset((self.tonic + s) % 12 for s in steps)

    def __str__(self) -> str:
        names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
        return f"{names[self.tonic]} {self.mode}"


def _pitch_class(letter: str, accidental: str) -> int:
    return _offset(letter, accidental) % 12


def parse_key(text: str) -> Key:
    """``"D minor"``, ``"Bb major"``, ``"F#m"``, ``"C"`` (major) -> :class:`Key`."""
    words = text.strip().replace("-", " ").split()
    if not words:
        raise ConfigError("key must look like 'D minor' or 'Bb major', got an empty text")
    head, rest = words[0], [w.lower() for w in words[1:]]
    mode = "major"
    if head.endswith("m") and len(head) > 1 and head[:-1].lower() not in ("", "b"):
        head, mode = head[:-1], "minor"
    if rest:
        if rest[0] not in ("major", "minor", "maj", "min") or len(rest) > 1:
            raise ConfigError(f"key must look like 'D minor' or 'Bb major', got {text!r}")
        mode = "minor" if rest[0].startswith("min") else "major"
    match = _NOTE.match(head)
    if match is None or match.group(3) is not None:
        raise ConfigError(f"key must look like 'D minor' or 'Bb major', got {text!r}")
    return Key(_pitch_class(match.group(1), match.group(2)), mode)


def parse_pitch(text: str) -> int:
    """A note name with octave, ``C4`` = 60 (scientific pitch), or a MIDI number."""
    text = text.strip()
    if text.isdigit():
        value = int(text)
    else:
        match = _NOTE.match(text)
        if match is None or match.group(3) is None:
            raise ConfigError(f"a pitch must look like C4, F#2 or Bb5 (or 0..127), got {text!r}")
        value = 12 * (int(match.group(3)) + 1) + _offset(match.group(1), match.group(2))
    if not 0 <= value <= 127:
        raise ConfigError(f"pitch {text!r} is outside MIDI 0..127")
    return value


def _offset(letter: str, accidental: str) -> int:
    """Semitones above the octave's C (B#4 is C5, Cb4 is B3)."""
    return PITCH_CLASSES[letter.lower()] + {"#": 1, "b": -1, "": 0}[accidental]


def parse_range(text: str) -> tuple[int, int]:
    """``"C2-C6"`` -> (36, 84), inclusive."""
    low, sep, high = text.strip().partition("-")
    if not sep:
        raise ConfigError(f"range must look like C2-C6, got {text!r}")
    first, last = parse_pitch(low), parse_pitch(high)
    if first > last:
        raise ConfigError(f"range {text!r} runs downwards; write the low pitch first")
    return first, last


@dataclass(frozen=True)
class PitchWeights:
    """A weight in [0, 1] per MIDI pitch 0..127 multiplying its probability of sounding."""

    weights: np.ndarray  # (128,) float32

    def for_notes(self, low: int, count: int) -> np.ndarray:
        """The weights of ``count`` consecutive pitches from ``low`` (a representation's keys)."""
        return self.weights[low : low + count]


AUTO_KEY = "auto"  # the key the primer's (or melody's) pitch classes suggest


def pitch_weights(key: str | None = None, key_strength: float = 1.0,
                  pitch_range: str | None = None) -> PitchWeights | None:
    """The weights for a key and a range, or ``None`` when neither is asked for."""
    if key == AUTO_KEY:  # resolved once the primer is known (cadenza.composing)
        key = None
    if key is None and pitch_range is None:
        return None
    if not 0.0 <= key_strength <= 1.0:
        raise ConfigError(f"key strength must be in [0, 1], got {key_strength}")
    weights = np.ones(128, dtype=np.float32)
    if key is not None:
        classes = parse_key(key).pitch_classes
        out_of_key = np.array([p % 12 not in classes for p in range(128)])
        weights[out_of_key] = 1.0 - key_strength
    if pitch_range is not None:
        low, high = parse_range(pitch_range)
        weights[:low] = 0.0
        weights[high + 1 :] = 0.0
    return PitchWeights(weights)


# Krumhansl & Kessler (1982) key profiles.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def detect_key(pitches: np.ndarray, durations: np.ndarray | None = None,
               candidates: Sequence[Key] | None = None) -> Key:
    """The key whose Krumhansl-Kessler profile best correlates with the pitch-class
    histogram (weighted by duration when given), among ``candidates`` (default: all 24);
    the first candidate (C major by default) for no notes."""
    keys = list(candidates) if candidates is not None else [
        Key(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]
    if not keys:
        raise ConfigError("detect_key needs at least one candidate key")
    if len(pitches) == 0:
        return keys[0]
    weights = np.ones(len(pitches)) if durations is None else np.asarray(durations, float)
    histogram = np.bincount(np.asarray(pitches) % 12, weights=weights, minlength=12)
    best, best_key = -2.0, keys[0]
    for key in keys:
        profile = _MAJOR if key.mode == "major" else _MINOR
        with np.errstate(invalid="ignore", divide="ignore"):  # one pitch class: no r
            r = float(np.corrcoef(histogram, np.roll(profile, key.tonic))[0, 1])
        if np.isfinite(r) and r > best:
            best, best_key = r, key
    return best_key
