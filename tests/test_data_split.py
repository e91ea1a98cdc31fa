"""Splitting by path hash, corpus configuration, and training-only transposition."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.data.augment import (
    augmented_scores,
    check_transpose_range,
    transpose_range_for,
    transpose_score,
)
from cadenza.data.corpus import CorpusConfig
from cadenza.data.split import (
    GENERATION,
    SPLITS,
    TEST,
    TRAIN,
    VALID,
    SplitConfig,
    assign_split,
)
from cadenza.errors import ConfigError
from cadenza.score import Score

PATHS = [f"Composer{i % 7}/piece_{i:04d}.mid" for i in range(2000)]


def test_split_is_deterministic() -> None:
    first = [assign_split(p) for p in PATHS]
    assert [assign_split(p) for p in PATHS] == first
    assert set(first) == set(SPLITS)


def test_split_fractions_are_roughly_respected() -> None:
    config = SplitConfig(train=0.6, valid=0.2, generation=0.1, test=0.1)
    counts = {name: 0 for name in SPLITS}
    for path in PATHS:
        counts[assign_split(path, config)] += 1
    # 2000 draws: each fraction within 3.5 standard deviations of its expectation.
    for name, fraction in ((TRAIN, 0.6), (VALID, 0.2), (GENERATION, 0.1), (TEST, 0.1)):
        sd = (len(PATHS) * fraction * (1 - fraction)) ** 0.5
        assert abs(counts[name] - len(PATHS) * fraction) < 3.5 * sd, counts


def test_adding_files_never_moves_existing_ones() -> None:
    before = {p: assign_split(p) for p in PATHS[:500]}
    after = {p: assign_split(p) for p in PATHS}  # 1500 files added
    assert all(after[p] == split for p, split in before.items())


def test_split_depends_on_the_relative_path_and_salt_only() -> None:
    assert assign_split("a/b.mid") == assign_split("a/b.mid", SplitConfig())
    salted = SplitConfig(salt="another")
    moved = sum(assign_split(p) != assign_split(p, salted) for p in PATHS)
    assert moved > len(PATHS) // 10  # a different salt reshuffles


def test_split_edge_fractions() -> None:
    all_train = SplitConfig(train=1.0, valid=0.0, generation=0.0, test=0.0)
    assert {assign_split(p, all_train) for p in PATHS} == {TRAIN}
    no_train = SplitConfig(train=0.0, valid=0.5, generation=0.5, test=0.0)
    assert TRAIN not in {assign_split(p, no_train) for p in PATHS}


@pytest.mark.parametrize(
    "fractions", [(0.8, 0.1, 0.2, 0.0), (0.5, 0.1, 0.1, 0.1), (1.2, -0.1, -0.1, 0.0),
                  (-0.1, 0.6, 0.5, 0.0), (0.7, 0.1, 0.1, 0.2), (0.8, 0.1, 0.2, -0.1)]
)
def test_bad_split_fractions_are_refused(fractions: tuple[float, float, float, float]) -> None:
    with pytest.raises(ConfigError, match="split fraction"):
        SplitConfig(*fractions)


def test_corpus_config_round_trips_and_validates() -> None:
    config = CorpusConfig(meters=("4/4", "2/4"), min_notes=5,
                          split=SplitConfig(0.5, 0.2, 0.2, 0.1), transpose_range=(-5, 6))
    assert CorpusConfig.from_dict(config.to_dict()) == config
    assert CorpusConfig.from_dict(CorpusConfig(meters=None).to_dict()).meters is None
    options = config.read_options(12)
    assert options.steps_per_quarter == 12 and options.time_signatures == ("4/4", "2/4")
    with pytest.raises(ConfigError):
        CorpusConfig(meters=("four",))
    with pytest.raises(ConfigError):
        CorpusConfig(transpose_range=(3, -3))
    with pytest.raises(ConfigError):
        CorpusConfig(min_notes=-1)


def test_the_test_split_comes_from_the_former_training_split_only() -> None:
    """The held-out test split took its pieces from the old training split (0.8 train, no
    test): valid and generation are the same pieces, and nothing else moved."""
    old = SplitConfig(train=0.8, valid=0.1, generation=0.1, test=0.0)
    for path in PATHS:
        before, now = assign_split(path, old), assign_split(path)
        if now == TEST:
            assert before == TRAIN
        else:
            assert now == before
    assert sum(assign_split(p) == TEST for p in PATHS) > 100


def test_a_split_saved_before_the_test_split_reads_with_no_test_pieces() -> None:
    saved = {"train": 0.8, "valid": 0.1, "generation": 0.1, "salt": "cadenza-split-v1"}
    config = CorpusConfig.from_dict({"split": saved}).split
    assert config.test == 0.0 and config.train == 0.8
    assert TEST not in {assign_split(p, config) for p in PATHS}


# -- transposition ---------------------------------------------------------------------------
def test_transpose_range_is_for_training_only() -> None:
    assert transpose_range_for(TRAIN, (-6, 5)) == (-6, 5)
    for split in (VALID, GENERATION, "test"):
        assert transpose_range_for(split, (-6, 5)) == (0, 0)
    with pytest.raises(ConfigError):
        check_transpose_range((-30, 0))


def test_augmented_scores_transpose_training_pieces_only(tiny_score: Score) -> None:
    train = list(augmented_scores([tiny_score], TRAIN, (-2, 1)))
    assert len(train) == 4  # shifts 0, -2, -1, +1
    assert train[0] is tiny_score
    lowest = [int(s.notes["pitch"].min()) for s in train]
    assert lowest == [48, 46, 47, 49]
    for split in (VALID, GENERATION):
        others = list(augmented_scores([tiny_score, tiny_score], split, (-2, 1)))
        assert len(others) == 2 and all(s is tiny_score for s in others)


def test_transpose_score_drops_notes_leaving_midi_range(tiny_score: Score) -> None:
    up = transpose_score(tiny_score, 60)  # 72 + 60 = 132 > 127: dropped
    assert int(up.notes["pitch"].max()) <= 127
    assert up.num_notes == int(np.sum(tiny_score.notes["pitch"] + 60 <= 127))
    np.testing.assert_array_equal(transpose_score(up, -60).notes["pitch"],
                                  tiny_score.notes["pitch"][tiny_score.notes["pitch"] <= 67])
