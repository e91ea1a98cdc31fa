"""Corpus pipeline: scan a folder, split it, encode and cache its pieces.

The entry point is :func:`build_corpus`; benchmark sets load with :func:`load_benchmark`.
Batch makers for the models live in :mod:`cadenza.data.batching` (imported separately, as
they need torch).
"""

from cadenza.data.augment import augmented_scores, transpose_range_for, transpose_score
from cadenza.data.boulanger import RestrictedUnpickler, load_benchmark, safe_unpickle
from cadenza.data.cache import CacheStats, PieceCache, default_cache_dir
from cadenza.data.composers import ComposerIndex
from cadenza.data.corpus import Corpus, CorpusConfig, Piece
from cadenza.data.pipeline import build_corpus
from cadenza.data.split import GENERATION, SPLITS, TEST, TRAIN, VALID, SplitConfig, assign_split

__all__ = [
    "GENERATION",
    "SPLITS",
    "TEST",
    "TRAIN",
    "VALID",
    "CacheStats",
    "ComposerIndex",
    "Corpus",
    "CorpusConfig",
    "Piece",
    "PieceCache",
    "RestrictedUnpickler",
    "SplitConfig",
    "assign_split",
    "augmented_scores",
    "build_corpus",
    "default_cache_dir",
    "load_benchmark",
    "safe_unpickle",
    "transpose_range_for",
    "transpose_score",
]
