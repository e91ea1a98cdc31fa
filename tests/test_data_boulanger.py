"""Benchmark sets: the JSON loader, the restricted unpickler, and corpora built from them."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from cadenza.data import build_corpus
from cadenza.data.boulanger import (
    RestrictedUnpickler,
    default_steps_per_quarter,
    load_benchmark,
    read_benchmark_data,
    safe_unpickle,
    steps_to_score,
)
from cadenza.errors import DataError
from cadenza.representations import PianoRoll, PianoRollConfig
from cadenza.score import Score

JSB_PIECES = {"train": 229, "valid": 76, "test": 77}
JSB_STEPS = {"train": 13807, "valid": 4602, "test": 4725}


def steps_of(score: Score) -> list[list[int]]:
    """The score back as a list of steps of sorted pitches (one tick = one step)."""
    steps: list[set[int]] = [set() for _ in range(score.end_tick)]
    for note in score.notes:
        for t in range(int(note["start"]), int(note["start"] + note["duration"])):
            steps[t].add(int(note["pitch"]))
    return [sorted(s) for s in steps]


def test_steps_to_score_merges_held_pitches() -> None:
    score = steps_to_score([[60, 64], [60], [], [60, 67], [67]], 2, "x")
    rows = [(int(n["start"]), int(n["duration"]), int(n["pitch"])) for n in score.notes]
    assert rows == [(0, 2, 60), (0, 1, 64), (3, 1, 60), (3, 2, 67)]
    assert score.ticks_per_quarter == 2 and score.name == "x"
    assert steps_to_score([], 1).num_notes == 0


def test_default_steps_per_quarter_follows_the_name() -> None:
    assert default_steps_per_quarter("data/jsb_chorales.json") == 1
    assert default_steps_per_quarter("JSB Chorales.pickle") == 1
    assert default_steps_per_quarter("Nottingham.pickle") == 2
    assert default_steps_per_quarter("piano.json") == 4


def test_jsb_loader_matches_the_file(jsb_path: Path) -> None:
    raw = json.loads(jsb_path.read_text())
    splits = load_benchmark(jsb_path)
    assert {name: len(scores) for name, scores in splits.items()} == JSB_PIECES
    assert {name: sum(map(len, pieces)) for name, pieces in raw.items()} == JSB_STEPS
    for name, scores in splits.items():
        for i, score in enumerate(scores):
            assert score.name == f"{name}-{i}"
            assert score.ticks_per_quarter == 1
            # Every step of the file comes back (trailing silent steps aside).
            expected = [sorted(set(step)) for step in raw[name][i]]
            while expected and not expected[-1]:
                expected.pop()
            assert steps_of(score) == expected, score.name


def test_jsb_corpus_keeps_the_benchmark_splits(jsb_path: Path, tmp_path: Path) -> None:
    rep = PianoRoll(PianoRollConfig(steps_per_quarter=1))
    corpus = build_corpus(jsb_path, rep, workers=1, cache_dir=tmp_path, progress=False)
    assert corpus.split_counts() == JSB_PIECES
    assert corpus.primer_split == "test"
    assert corpus.transpose_range("test") == (0, 0)
    assert all(p.composer is None for p in corpus.pieces)
    total_steps = sum(len(p.array) for p in corpus.split("test"))
    assert JSB_STEPS["test"] - 77 <= total_steps <= JSB_STEPS["test"]
    raw = json.loads(jsb_path.read_text())
    first = corpus.split("train")[0]
    assert first.path == "train-0"
    roll = first.array  # (T, 88) at one step per quarter
    for t, step in enumerate(raw["train"][0][: len(roll)]):
        assert sorted(np.flatnonzero(roll[t]) + 21) == sorted(set(step))
    again = build_corpus(jsb_path, PianoRoll(PianoRollConfig(steps_per_quarter=1)),
                         workers=1, cache_dir=tmp_path, progress=False)
    assert again.cache.array_hits == len(corpus) and again.cache.array_misses == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected a dict"),
        ({"train": [[[60]]], "exam": []}, "unknown split"),
        ({"train": "abc"}, "list of pieces"),
        ({"train": [[[60], 61]]}, "list of pitches"),
        ({"train": [[[60, 200]]]}, "not a MIDI note"),
        ({"train": [[["C4"]]]}, "not a MIDI note"),
        ({"train": [[[True]]]}, "not a MIDI note"),
        ({"train": [[[60.5]]]}, "not a MIDI note"),
    ],
)
def test_malformed_benchmark_files_raise_data_error(
    tmp_path: Path, data: object, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=message):
        read_benchmark_data(path)


def test_unreadable_or_invalid_json_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        read_benchmark_data(tmp_path / "absent.json")
    (tmp_path / "broken.json").write_text('{"train": [[[60]]')
    with pytest.raises(DataError, match="not valid JSON"):
        read_benchmark_data(tmp_path / "broken.json")


# -- pickles ---------------------------------------------------------------------------------
class _Exploit:
    """Pickles to a call of os.system: what a malicious benchmark file would hold."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_malicious_pickle_is_refused_without_running(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"train": [[[60]]], "x": _Exploit(f"touch {marker}")}, protocol)
    assert b"system" in payload
    path = tmp_path / "evil.pickle"
    path.write_bytes(payload)
    with pytest.raises(DataError, match="refusing to load"):
        load_benchmark(path)
    with pytest.raises(pickle.UnpicklingError), path.open("rb") as handle:
        RestrictedUnpickler(handle).load()
    assert not marker.exists()


def test_pickles_of_other_objects_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="refusing"):
        safe_unpickle(pickle.dumps({"train": [np.array([[60]])]}))
    with pytest.raises(DataError, match="not a plain-data pickle"):
        safe_unpickle(b"not a pickle at all")
    # Built-in containers that need no class lookup still fail validation when wrong.
    path = tmp_path / "set.pickle"
    path.write_bytes(pickle.dumps({"train": [[{60, 64}]]}, protocol=4))
    with pytest.raises(DataError, match="list of pitches"):
        load_benchmark(path)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_plain_pickle_loads_like_json(tmp_path: Path, protocol: int) -> None:
    data = {"train": [[(60, 64), (60,), ()], [[72]]], "valid": [[[48, 55]]], "test": []}
    path = tmp_path / "Nottingham.pickle"
    path.write_bytes(pickle.dumps(data, protocol))
    splits = load_benchmark(path)
    assert splits["train"][0].ticks_per_quarter == 2
    assert [len(s) for s in splits.values()] == [2, 1, 0]
    assert steps_of(splits["train"][0]) == [[60, 64], [60]]
    assert steps_of(splits["valid"][0]) == [[48, 55]]
