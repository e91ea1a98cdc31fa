"""Deterministic train / test / valid / generation split by hashing each piece's relative path.

A piece's split depends only on its own path (and a salt), never on the other files, so
adding or removing files never moves an existing piece to another split. The *generation*
split holds pieces the model never trains on; they supply primers for sampling. The *test*
split is held out from everything: no checkpoint, temperature or setting is ever chosen on
it, so only final judgements (``benchmarks/realism.py``, ``benchmarks/gates.py``) read it.

The hash positions are laid out as ``[train | test | valid | generation]``, so the test
split took its pieces from the former training split (``cadenza-split-v1`` with 0.8 train)
and the valid and generation splits are the same pieces as before.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

from cadenza.errors import ConfigError

TRAIN = "train"
VALID = "valid"
GENERATION = "generation"
TEST = "test"
SPLITS = (TRAIN, VALID, GENERATION, TEST)


@dataclass(frozen=True)
class SplitConfig:
    """Fractions of the corpus in each split (they must sum to 1) and the hash salt.

    Changing ``salt`` reshuffles every piece; keep the default to stay comparable.
    """

    train: float = 0.7
    valid: float = 0.1
    generation: float = 0.1
    test: float = 0.1
    salt: str = "cadenza-split-v1"

    def __post_init__(self) -> None:
        for name in SPLITS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"split fraction {name} must be in [0, 1], got {value}")
        total = self.train + self.valid + self.generation + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ConfigError(
                f"split fractions must sum to 1, got train={self.train} valid={self.valid} "
                f"generation={self.generation} test={self.test} (sum {total})"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SplitConfig:
        """A saved split; one saved before the test split existed has ``test=0``."""
        data = dict(data)
        data.setdefault("test", 0.0)
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_position(relative_path: str, salt: str = SplitConfig.salt) -> float:
    """A number in ``[0, 1)`` drawn uniformly from the hash of ``salt`` and the path.

    ``relative_path`` should use forward slashes (``Path.as_posix()``) so the split is the
    same on every operating system.
    """
    # surrogateescape: a file name that is not valid UTF-8 hashes by its own bytes
    digest = hashlib.sha256(f"{salt}\0{relative_path}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(relative_path: str, config: SplitConfig | None = None) -> str:
    """The split (``"train"``, ``"test"``, ``"valid"`` or ``"generation"``) of the piece at
    this path."""
    config = config or SplitConfig()
    position = split_position(relative_path, config.salt)
    if position < config.train:
        return TRAIN
    if position < config.train + config.test:
        return TEST
    if position < config.train + config.test + config.valid:
        return VALID
    return GENERATION
