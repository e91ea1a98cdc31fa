"""The models the web server offers: shipped models plus checkpoints found under a folder.

A model's id is what the page sends back: the shipped model's name, or the path of a run or
checkpoint folder relative to the ``--checkpoints`` folder (``runs/pianoroll-jsb``). Ids are
only ever looked up in the table built by scanning; a request never names a path.

The scan is repeated at most every :data:`RESCAN_SECONDS` when the list is asked for, so a
run trained while the server is up appears without a restart (and a run folder always maps
to its current best, else latest, checkpoint).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cadenza.checkpoint import discover_checkpoints, generation_default, read_info
from cadenza.errors import CadenzaError, CheckpointError
from cadenza.shipped import DEFAULT_MODEL

log = logging.getLogger(__name__)

RESCAN_SECONDS = 5.0


@dataclass
class PrimerInfo:
    """Which composers can prime a model (``available`` is false when no primer exists)."""

    composers: list[str]
    available: bool
    message: str | None = None


@dataclass
class ModelEntry:
    """One model the page can choose.

    Attributes:
        id: the model's id in the API.
        checkpoint: the checkpoint folder (a run folder's best, else latest, checkpoint).
        origin: ``"shipped"`` or ``"checkpoints"``.
        info: the checkpoint's ``config.json``.
        card: the shipped model card (empty for others).
    """

    id: str
    checkpoint: Path
    origin: str
    info: dict[str, Any]
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return str(self.info.get("family", "unknown"))

    @property
    def preset(self) -> str:
        return str(self.info.get("preset", "")) or self.family

    def training_steps(self) -> int:
        """Steps the model was trained for in all: the card's count for a shipped model
        (which may span several runs), else the checkpoint's step."""
        from cadenza.shipped import training_steps

        return training_steps(self.info, self.card)

    def temperature(self) -> float:
        """The sampling temperature calibrated for the model (``config.json``
        ``"generation"``), else 1: what the page offers first."""
        value = generation_default(self.info, "temperature", 1.0, self.checkpoint)
        return value if value > 0 else 1.0

    def styles(self) -> list[str]:
        """The styles a styled model composes in (``config.json`` ``model.styles``)."""
        model = self.info.get("model")
        styles = model.get("styles") if isinstance(model, dict) else None
        return [str(s) for s in styles] if isinstance(styles, list) else []

    def corpus(self) -> dict[str, Any]:
        """Name of the training data, its split sizes and its composers (from the config)."""
        data = self.info.get("data") or {}
        source = str(data.get("source") or "")
        splits = data.get("splits") or {}
        card_data = self.card.get("data")
        named = card_data.get("corpus") if isinstance(card_data, dict) else None
        if not named:  # a folder's own name, or the source as recorded ("piano-midi.de (4/4)")
            named = Path(source).name if source and Path(source).exists() else source
        return {
            "name": str(named or "unknown"),
            "pieces": int(sum(int(v) for v in splits.values())),
            "splits": {str(k): int(v) for k, v in splits.items()},
            "composers": [str(c) for c in data.get("composers") or []],
        }


def _family_controls(family: str) -> frozenset[str]:
    from cadenza.families import get_family

    try:
        return get_family(family).controls
    except CadenzaError:
        return frozenset()


def family_grid(family: str) -> bool:
    """Whether the family composes on a time grid (what playing along needs)."""
    from cadenza.families import get_family

    try:
        return get_family(family).grid
    except CadenzaError:
        return False


class ModelCatalog:
    """The table of models, rescanned lazily, with primer composers cached per checkpoint."""

    def __init__(self, checkpoints_dir: Path | None = None, include_shipped: bool = True) -> None:
        self.checkpoints_dir = checkpoints_dir
        self.include_shipped = include_shipped
        self._lock = threading.Lock()
        self._entries: dict[str, ModelEntry] = {}
        self._scanned_at = -float("inf")
        self._primers: dict[Path, PrimerInfo] = {}
        self._primer_locks: dict[Path, threading.Lock] = {}

    # -- the table ---------------------------------------------------------------------------
    def entries(self, refresh: bool = True) -> list[ModelEntry]:
        """Every model, sorted by id (rescanning when the last scan is old and ``refresh``)."""
        with self._lock:
            if refresh and time.monotonic() - self._scanned_at > RESCAN_SECONDS:
                self._entries = self._scan()
                self._scanned_at = time.monotonic()
            return [self._entries[k] for k in sorted(self._entries)]

    def get(self, model_id: str) -> ModelEntry | None:
        """The model called ``model_id``, or ``None``."""
        with self._lock:
            entry = self._entries.get(model_id)
        if entry is None:  # maybe new since the last scan
            entry = next((e for e in self.entries() if e.id == model_id), None)
        return entry

    def _scan(self) -> dict[str, ModelEntry]:
        entries: dict[str, ModelEntry] = {}
        if self.include_shipped:
            from cadenza.shipped import model_card, shipped_models

            for name, folder in shipped_models().items():
                entry = self._entry(name, folder, "shipped")
                if entry is not None:
                    entry.card = model_card(name)
                    entries[name] = entry
        if self.checkpoints_dir is not None and self.checkpoints_dir.is_dir():
            for model_id, folder in discover_checkpoints(self.checkpoints_dir).items():
                key = model_id if model_id not in entries else f"checkpoints/{model_id}"
                entry = self._entry(key, folder, "checkpoints")
                if entry is not None:
                    entries[key] = entry
        return entries

    @staticmethod
    def _entry(model_id: str, checkpoint: Path, origin: str) -> ModelEntry | None:
        try:
            return ModelEntry(model_id, checkpoint, origin, read_info(checkpoint))
        except CheckpointError as exc:
            log.warning("skipping model %s: %s", model_id, exc)
            return None

    # -- primers -----------------------------------------------------------------------------
    def primers(self, entry: ModelEntry) -> PrimerInfo:
        """Composers whose held-out pieces can prime ``entry`` (loads the model once).

        A model whose primers cannot be found (its training data is gone and it ships none)
        gets ``available=False`` and composes from silence.
        """
        with self._lock:
            lock = self._primer_locks.setdefault(entry.checkpoint, threading.Lock())
        with lock:
            cached = self._primers.get(entry.checkpoint)
            if cached is not None:
                return cached
            from cadenza.composing import list_composers

            try:
                info = PrimerInfo(list_composers(entry.checkpoint), True)
            except CadenzaError as exc:
                log.warning("model %s has no primers: %s", entry.id, exc)
                info = PrimerInfo([], False, str(exc))
            self._primers[entry.checkpoint] = info
            return info

    def warm(self) -> None:
        """Load every model and its primers now (meant for a background thread)."""
        for entry in self.entries():
            self.primers(entry)

    def describe(self, entry: ModelEntry) -> dict[str, Any]:
        """The JSON the API gives for one model."""
        primers = self.primers(entry)
        return {
            "id": entry.id,
            "family": entry.family,
            "preset": entry.preset,
            "origin": entry.origin,
            "step": int(entry.info.get("step", 0)),
            "training_steps": entry.training_steps(),
            "controls": sorted(_family_controls(entry.family)),
            "grid": family_grid(entry.family),
            "corpus": entry.corpus(),
            "composers": primers.composers,
            "primers": primers.available,
            "description": str(entry.card.get("description", "")),
            "temperature": entry.temperature(),
            "styles": entry.styles(),
            "default": entry.origin == "shipped" and entry.id == DEFAULT_MODEL,
        }
