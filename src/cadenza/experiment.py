"""Wiring a training run together: data -> representation -> model -> batches -> trainer.

:func:`prepare_experiment` is what ``cadenza train`` and ``cadenza benchmark`` call: it builds
the corpus with the preset's representation, fits vocabularies on the training split, sizes
the model to them and makes the batch makers of the training and validation splits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cadenza import __version__
from cadenza.budget import check_training_memory
from cadenza.data.batching.base import BatchMaker
from cadenza.data.boulanger import default_steps_per_quarter, is_benchmark_file
from cadenza.data.corpus import Corpus, CorpusConfig
from cadenza.data.pipeline import build_corpus
from cadenza.data.styles import StyleChoice, StyleLabels, label_pieces
from cadenza.errors import ConfigError, DataError
from cadenza.families import get_family
from cadenza.models.base import ModelConfig, SequenceModel
from cadenza.models.registry import build_model, fit_config, get_preset
from cadenza.overrides import apply_overrides
from cadenza.representations import REGISTRY
from cadenza.representations.base import PIANO_HIGH, PIANO_LOW, Representation

log = logging.getLogger(__name__)

VALID_SPLIT = "valid"
TRAIN_SPLIT = "train"


@dataclass
class Experiment:
    """Everything a training run needs, built from a preset and a data source."""

    preset: str
    model: SequenceModel
    representation: Representation
    corpus: Corpus
    train_batches: BatchMaker
    valid_batches: BatchMaker | None
    source: Path
    styles: StyleLabels | None = None
    style_choice: StyleChoice | None = None

    @cached_property
    def stats(self) -> dict[str, list[float]] | None:
        """Notes per bar and polyphony of the training pieces (5th, 50th, 95th percentile),
        measured once; composing warns of pieces far outside them."""
        from cadenza.degeneration import corpus_stats

        return corpus_stats(self.representation, self.corpus.arrays(TRAIN_SPLIT))

    @cached_property
    def onset_profile(self) -> list[float] | None:
        """A biaxial run's share of onsets per 16th of the bar over its training pieces, the
        target of the metre guide (:mod:`cadenza.generation.guides`); ``None`` otherwise."""
        from cadenza.generation.guides import onset_profile

        if "onset_guides" not in get_family(self.model.family).controls:
            return None
        try:
            profile = onset_profile(self.corpus.arrays(TRAIN_SPLIT))
        except ConfigError:  # no onsets at all
            return None
        return [round(float(share), 5) for share in profile]

    def run_info(self, train_config: dict[str, Any]) -> dict[str, Any]:
        """The JSON saved as ``run.json`` and inside every checkpoint."""
        profile = self.onset_profile
        return {
            "cadenza_version": __version__,
            "preset": self.preset,
            "family": self.model.family,
            "model": self.model.config.to_dict(),
            "representation": self.representation.to_dict(),
            "data": {
                "source": str(self.source),
                "corpus": self.corpus.config.to_dict(),
                "splits": self.corpus.split_counts(),
                "composers": sorted(self.corpus.composers()),
                **({"stats": self.stats} if self.stats else {}),
                **({"styles": self.style_info()} if self.styles is not None else {}),
            },
            "train": train_config,
            **({"generation": {"onset_profile": profile}} if profile else {}),
        }


    def style_info(self) -> dict[str, Any]:
        """How a styled run labelled its pieces: the choice, the training pieces per style and
        what was merged or left out."""
        assert self.styles is not None and self.style_choice is not None
        return {**self.style_choice.to_dict(), "train_pieces": self.styles.train_counts,
                "notes": list(self.styles.notes)}


def make_representation(family: str, source: str | Path | None = None,
                        protocol: bool = False, model: ModelConfig | None = None
                        ) -> Representation:
    """The family's representation with its default config.

    Benchmark sets keep their own grid. For the likelihood protocol (``protocol``, and always
    on a benchmark set) a family whose note range is narrower than the piano's is widened to
    all 88 keys, so that every key is scored.
    """
    record = get_family(family)
    cls = REGISTRY[record.representation]
    config: Any = cls.config_class()
    benchmark = source is not None and is_benchmark_file(source)
    if source is not None and benchmark:
        config = replace(config, steps_per_quarter=default_steps_per_quarter(source))
    if (benchmark or protocol) and record.full_keyboard_benchmark:
        config = replace(config, low=PIANO_LOW, high=PIANO_HIGH)
    if model is not None and record.shared_fields:  # e.g. the biaxial velocity bins
        config = replace(config, **{name: getattr(model, name) for name in record.shared_fields})
    return cls(config)


def fit_window(
    config: ModelConfig, arrays: list[np.ndarray], *, pads_short_pieces: bool = False
) -> ModelConfig:
    """Shorten ``seq_len`` when most training pieces are shorter than one window.

    Benchmark sets such as JSB chorales (one step per quarter, ~50 steps a piece) are much
    shorter than the 128-step windows of the biaxial presets. Where the batch maker drops
    pieces shorter than a window, the window becomes the median piece length minus one,
    rounded down to a multiple of 8 (at least 8), so half the pieces still fit. Where it pads
    them (``pads_short_pieces``), the window becomes the 75th-percentile length minus one,
    rounded up to a multiple of 8, so three pieces in four are trained on whole.
    """
    seq_len = int(getattr(config, "seq_len", 0))
    if not seq_len or not arrays:
        return config
    lengths = np.array([len(a) for a in arrays])
    if np.mean(lengths > seq_len) >= 0.5:
        return config
    if pads_short_pieces:
        new_len = max(8, -(-(int(np.percentile(lengths, 75)) - 1) // 8) * 8)
    else:
        new_len = max(8, (int(np.median(lengths)) - 1) // 8 * 8)
    if new_len >= seq_len:
        return config
    log.warning(
        "most training pieces are shorter than seq_len=%d; using seq_len=%d", seq_len, new_len
    )
    return replace(config, seq_len=new_len)


def split_arrays(corpus: Corpus, split: str, labels: StyleLabels | None
                 ) -> tuple[list[np.ndarray], list[int] | None]:
    """A split's arrays and, in a styled run, their styles (unlabelled pieces left out)."""
    parts = corpus.piece_arrays(split)
    if labels is None:
        return [array for _, array in parts], None
    kept = [(labels.index(piece.path), array) for piece, array in parts]
    return ([array for style, array in kept if style is not None],
            [style for style, _ in kept if style is not None])


def _batch_makers(
    config: ModelConfig, corpus: Corpus, representation: Representation,
    transpose: tuple[int, int], max_eval_batches: int, labels: StyleLabels | None = None,
) -> tuple[BatchMaker, BatchMaker | None]:
    """The batch makers of the training and validation splits (``None`` for a validation
    split without one full window). ``transpose`` (0, 0): the model config's range. In a
    styled run (``labels``) every batch carries its windows' styles."""
    family = get_family(config.family)
    maker_class = family.batch_maker_class()
    if transpose == (0, 0):
        low, high = getattr(config, "transpose_range", (0, 0))
        transpose = (int(low), int(high))
    batch_size = int(config.batch_size)
    seq_len = int(config.seq_len)
    extra = family.batch_maker_options(config)  # e.g. biaxial windows start on bar lines
    train_arrays, train_styles = split_arrays(corpus, TRAIN_SPLIT, labels)
    if labels is not None:
        extra["styles"] = train_styles
    train = maker_class(
        train_arrays, representation, batch_size, seq_len,
        transpose_range=transpose, max_eval_batches=max_eval_batches, **extra,
    )
    valid_arrays, valid_styles = split_arrays(corpus, VALID_SPLIT, labels)
    valid: BatchMaker | None = None
    if valid_arrays:
        if labels is not None:
            extra["styles"] = valid_styles
        try:
            valid = maker_class(
                valid_arrays, representation, batch_size, seq_len,
                max_eval_batches=max_eval_batches, **extra,
            )
        except DataError as exc:
            log.warning("no validation: %s", exc)
    return train, valid


def preset_settings(preset: str, overrides: Mapping[str, Any] | None = None,
                    labels: Mapping[str, str] | None = None) -> ModelConfig:
    """The config of ``preset`` with ``overrides``, refused in one line when a key is no
    settable field (:func:`cadenza.overrides.apply_overrides`) or when the model it describes
    would not fit in memory (:func:`cadenza.budget.check_training_memory`, at the preset's
    placeholder vocabulary sizes). Nothing is allocated."""
    preset_config = get_preset(preset)
    config = apply_overrides(preset, preset_config, overrides or {}, labels)
    check_training_memory(config, preset=preset, preset_config=preset_config,
                          overrides=overrides, labels=labels)
    return config


def prepare_experiment(
    preset: str,
    source: str | Path,
    *,
    corpus_config: CorpusConfig | None = None,
    overrides: dict[str, Any] | None = None,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: bool | None = None,
    max_eval_batches: int = 50,
    seed: int | None = None,
    protocol: bool = False,
    labels: Mapping[str, str] | None = None,
    style: StyleChoice | None = None,
) -> Experiment:
    """Build corpus, representation, model and batch makers for ``preset`` on ``source``.

    ``overrides`` replace fields of the preset's config (e.g. ``{"seq_len": 64}``); ``labels``
    say how the user gave some of them (``{"batch_size": "--batch-size 64"}``) for the
    messages. With ``seed`` the model's initial weights come from ``torch.manual_seed(seed)``,
    so two fresh runs with one seed start from the same weights. With ``style`` the model is
    conditioned on the pieces' style labels (:mod:`cadenza.data.styles`), whose names become
    the model config's ``styles``.

    Raises:
        ConfigError: an override is no settable field of the preset (see
            :func:`cadenza.overrides.apply_overrides`), or the model would not fit in memory
            (:func:`cadenza.budget.check_training_memory`), checked before the data is read
            and again, with the data's sizes, before the model is built.
    """
    config = preset_settings(preset, overrides, labels)  # before reading any data
    if style is not None and "style" not in get_family(config.family).controls:
        raise ConfigError(f"--style-from: the {config.family} family cannot be conditioned on "
                          "a style (biaxial models can)")
    source = Path(source)
    representation = make_representation(config.family, source, protocol, config)
    corpus_config = corpus_config or CorpusConfig()
    corpus = build_corpus(
        source,
        representation,
        corpus_config,
        workers=workers,
        cache_dir=cache_dir,
        use_cache=use_cache,
        progress=progress,
        fit=True,
    )
    styles = None
    if style is not None:
        styles = label_pieces(style, corpus.root, [(p.path, p.split) for p in corpus.pieces])
        for note in styles.notes:
            log.warning("%s", note)
        config = replace(config, styles=styles.styles)  # type: ignore[call-arg]
    train_arrays = split_arrays(corpus, TRAIN_SPLIT, styles)[0]
    if not train_arrays:
        raise DataError(f"{source}: no piece landed in the training split")
    maker_class = get_family(config.family).batch_maker_class()
    config = fit_config(config, representation)
    if "seq_len" not in (overrides or {}):  # a window the user chose is kept
        config = fit_window(
            config, train_arrays, pads_short_pieces=maker_class.pads_short_pieces
        )
    train, valid = _batch_makers(config, corpus, representation, corpus_config.transpose_range,
                                 max_eval_batches, styles)
    check_training_memory(config, preset=preset, preset_config=get_preset(preset),
                          overrides=overrides, labels=labels)  # the data's sizes now
    if seed is not None:
        torch.manual_seed(seed)
    model = build_model(config)
    return Experiment(preset, model, representation, corpus, train, valid, source, styles,
                      style)
