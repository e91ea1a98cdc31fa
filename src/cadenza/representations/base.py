"""The interface every representation implements.

A representation turns a quantised :class:`~cadenza.score.Score` into a NumPy array a model can
learn from, and back. Each one has a frozen ``Config`` dataclass (saved as JSON with every cache
entry and checkpoint) and, where it needs one, a vocabulary learnt from the training split with
:meth:`Representation.fit`.

Contract, for every subclass:
    * ``encode(score) -> np.ndarray`` with the documented shape and dtype;
    * ``decode(array) -> Score`` with ``ticks_per_quarter`` equal to the representation's grid;
    * ``decode(encode(x))`` reproduces the notes of a quantised ``x`` (pitch, onset, duration),
      up to the limits each class documents (range, caps, piano-roll merging of re-strikes);
    * ``to_dict()`` / ``from_dict()`` round-trip the configuration and vocabulary exactly.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cadenza.errors import ConfigError, DataError
from cadenza.fileio import sha256_json, write_json_atomic
from cadenza.representations._common import check_int, check_pitch_range
from cadenza.score import Score

PIANO_LOW = 21  # A0, lowest key of an 88-key piano
PIANO_HIGH = 108  # C8, highest key
PIANO_KEYS = PIANO_HIGH - PIANO_LOW + 1


@dataclass(frozen=True)
class RepresentationConfig:
    """Base of every representation config: common checks live in ``__post_init__``."""

    steps_per_quarter: int = 4

    def __post_init__(self) -> None:
        if self.steps_per_quarter <= 0:
            raise ConfigError(f"steps_per_quarter must be positive, got {self.steps_per_quarter}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KeyboardConfig(RepresentationConfig):
    """Base of the grid representations' configs: a time grid and a keyboard axis.

    Attributes:
        steps_per_quarter: time steps per quarter note (rows per beat).
        low, high: MIDI pitches of the first and last key of the keyboard axis (inclusive).
    """

    steps_per_quarter: int = 4
    low: int = PIANO_LOW
    high: int = PIANO_HIGH

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_int(owner, "steps_per_quarter", self.steps_per_quarter, 1)
        check_pitch_range(owner, self.low, self.high)
        super().__post_init__()

    @property
    def num_keys(self) -> int:
        """Keys on the keyboard axis, ``high - low + 1``."""
        return self.high - self.low + 1


class Representation(ABC):
    """One way of writing music as arrays. Subclasses set ``name`` and ``config_class``."""

    name: ClassVar[str]
    config_class: ClassVar[type[RepresentationConfig]]

    def __init__(self, config: RepresentationConfig | None = None) -> None:
        config = config if config is not None else self.config_class()
        if not isinstance(config, self.config_class):
            raise ConfigError(
                f"{self.name} needs a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config

    # -- the contract --------------------------------------------------------------------
    @abstractmethod
    def encode(self, score: Score) -> np.ndarray:
        """Encode a quantised score (``ticks_per_quarter == steps_per_quarter``)."""

    @abstractmethod
    def decode(self, array: np.ndarray) -> Score:
        """Decode an array made by :meth:`encode` (or sampled by a model) into a score."""

    @property
    @abstractmethod
    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one time step / token of the encoded array (everything after axis 0)."""

    def onset_tick(self, array: np.ndarray, index: int) -> int:
        """Tick (grid step) at which element ``index`` of ``array`` begins.

        For grid representations the element index is the step; message and token
        representations override this. Used to mark where generated music starts.
        """
        return int(index)

    def index_at_tick(self, array: np.ndarray, tick: int) -> int:
        """The first element of ``array`` whose onset is at or after ``tick`` (``len(array)``
        when none is): onsets never decrease along an encoding, so it is found by bisection."""
        lo, hi = 0, len(array)
        while lo < hi:
            middle = (lo + hi) // 2
            if self.onset_tick(array, middle) < tick:
                lo = middle + 1
            else:
                hi = middle
        return lo

    def transpose_array(self, array: np.ndarray, semitones: int) -> np.ndarray:
        """``array`` (from :meth:`encode`) moved ``semitones`` up; what leaves the range is lost.

        Used for training-split augmentation. Subclasses that can transpose override it.
        """
        raise ConfigError(f"{self.name} does not support transposition")

    def fit(self, scores: Iterable[Score]) -> None:  # noqa: B027 - optional hook
        """Learn a vocabulary from training scores (no-op for fixed-vocabulary classes)."""

    @property
    def is_fitted(self) -> bool:
        """True when :meth:`encode` can be called (always, without a vocabulary)."""
        return True

    # -- persistence ---------------------------------------------------------------------
    def vocabulary(self) -> dict[str, Any]:
        """The learnt state (empty when there is none), JSON-compatible."""
        return {}

    def load_vocabulary(self, vocab: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore what :meth:`vocabulary` returned."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": self.config.to_dict(), "vocab": self.vocabulary()}

    def fingerprint(self) -> str:
        """Hash of the configuration and vocabulary: part of every cache key."""
        return sha256_json(self.to_dict())

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, self.to_dict())

    # -- helpers for subclasses ----------------------------------------------------------
    def check_quantised(self, score: Score) -> None:
        if score.ticks_per_quarter != self.config.steps_per_quarter:
            raise DataError(
                f"{self.name}: score {score.name!r} has {score.ticks_per_quarter} ticks per "
                f"quarter; quantise it to {self.config.steps_per_quarter} first"
            )

    def check_array(self, array: np.ndarray) -> None:
        if array.ndim != 1 + len(self.feature_shape) or array.shape[1:] != self.feature_shape:
            raise DataError(
                f"{self.name}: expected an array of shape (N, "
                f"{', '.join(map(str, self.feature_shape))}), got {array.shape}"
            )


def load_representation(data: dict[str, Any] | str | Path) -> Representation:
    """Rebuild a representation from :meth:`Representation.to_dict` output or its JSON file."""
    from cadenza.representations import REGISTRY

    if not isinstance(data, dict):
        try:
            data = json.loads(Path(data).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{data}: cannot read representation JSON ({exc})") from None
    assert isinstance(data, dict)
    name = data.get("name")
    if name not in REGISTRY:
        raise ConfigError(f"unknown representation {name!r}; known: {', '.join(sorted(REGISTRY))}")
    cls = REGISTRY[name]
    try:
        config = cls.config_class(**data.get("config", {}))
    except TypeError as exc:
        raise ConfigError(f"bad {name} config: {exc}") from None
    rep = cls(config)
    rep.load_vocabulary(data.get("vocab", {}))
    return rep
