"""Contract tests run on every representation: round trips, idempotence, persistence, errors.

Format details of each class are tested in ``test_representations_<name>.py``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import real_piece_params, real_piece_paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cadenza.errors import ConfigError, DataError
from cadenza.midi import ReadOptions, load_piece
from cadenza.representations import (
    REGISTRY,
    Events,
    EventsConfig,
    NoteState,
    NoteTokens,
    NoteTokensConfig,
    PianoRoll,
    Remi,
    RemiConfig,
    Representation,
    load_representation,
)
from cadenza.score import Score, make_notes, quantise, remove_overlaps

NAMES = sorted(REGISTRY)
Note = tuple[int, int, int]  # (start, duration, pitch)


# -- helpers ---------------------------------------------------------------------------------
def make_rep(name: str, steps_per_quarter: int | None = None) -> Representation:
    """A representation with its default config (optionally another grid)."""
    cls = REGISTRY[name]
    if steps_per_quarter is None:
        return cls()
    return cls(cls.config_class(steps_per_quarter=steps_per_quarter))


def tiny_for(name: str, tiny: Score) -> tuple[Representation, Score]:
    """The default representation ``name`` and the tiny piece on its grid."""
    rep = make_rep(name)
    return rep, quantise(tiny, rep.config.steps_per_quarter)


def note_list(score: Score) -> list[Note]:
    notes = score.notes
    return sorted(
        zip(
            notes["start"].tolist(),
            notes["duration"].tolist(),
            notes["pitch"].tolist(),
            strict=True,
        )
    )


def merge_restrikes(notes: list[Note]) -> list[Note]:
    """Join notes of one pitch where one ends exactly as (or after) the next begins."""
    merged: dict[int, list[list[int]]] = {}
    for start, duration, pitch in sorted(notes, key=lambda n: (n[2], n[0])):
        runs = merged.setdefault(pitch, [])
        if runs and start <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], start + duration)
        else:
            runs.append([start, start + duration])
    return sorted((s, e - s, p) for p, runs in merged.items() for s, e in runs)


def expected_notes(rep: Representation, score: Score) -> list[Note]:
    """What ``decode(encode(score))`` must give, computed without the representation."""
    notes = note_list(score)
    low = getattr(rep.config, "low", 0)
    high = getattr(rep.config, "high", 127)
    notes = [n for n in notes if low <= n[2] <= high]
    if isinstance(rep, NoteTokens | Remi):
        cap = rep.config.max_duration
        notes = sorted((s, min(d, cap), p) for s, d, p in notes)
    if isinstance(rep, PianoRoll):
        notes = merge_restrikes(notes)
    return notes


@lru_cache(maxsize=16)
def read_real(path: Path, steps_per_quarter: int) -> Score:
    score, _ = load_piece(path, ReadOptions(steps_per_quarter=steps_per_quarter))
    return score


def real_rep(name: str) -> Representation:
    """A representation whose caps do not bite on the real test pieces."""
    if name == "events":
        return Events(EventsConfig(max_delta=100_000))
    if name == "remi":
        return Remi(RemiConfig(max_duration=4096))
    return make_rep(name)


REAL = real_piece_paths()


# -- registry and shapes ---------------------------------------------------------------------
def test_registry_names_match_classes() -> None:
    assert NAMES == ["events", "notestate", "notetokens", "pianoroll", "remi"]
    for name, cls in REGISTRY.items():
        assert cls.name == name
        assert cls().config == cls.config_class()


@pytest.mark.parametrize("name", NAMES)
def test_encode_shape_dtype_and_decoded_metadata(name: str, tiny_score: Score) -> None:
    rep, tiny_score = tiny_for(name, tiny_score)
    rep.fit([tiny_score])
    array = rep.encode(tiny_score)
    assert array.shape[1:] == rep.feature_shape
    assert array.dtype == {"pianoroll": np.uint8, "notestate": np.uint8}.get(name, np.int32)
    decoded = rep.decode(array)
    assert decoded.ticks_per_quarter == rep.config.steps_per_quarter
    assert [(t.tick, t.qpm) for t in decoded.tempos] == [(0, 120.0)]
    assert [(s.tick, s.label) for s in decoded.time_signatures] == [(0, "4/4")]
    if isinstance(rep, Remi):  # velocities come back as the middle of their bin
        expected = rep.bin_velocity(rep.velocity_bin(tiny_score.notes["velocity"]))
        assert sorted(decoded.notes["velocity"].tolist()) == sorted(expected.tolist())
    else:
        assert set(decoded.notes["velocity"].tolist()) == {80}


# -- round trips -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_round_trip_tiny(name: str, tiny_score: Score) -> None:
    rep, tiny_score = tiny_for(name, tiny_score)
    rep.fit([tiny_score])
    assert note_list(rep.decode(rep.encode(tiny_score))) == expected_notes(rep, tiny_score)
    # The tiny piece has no re-strike, range or cap issue: every class reproduces it exactly.
    assert expected_notes(rep, tiny_score) == note_list(tiny_score)


@pytest.mark.parametrize("path", real_piece_params())
@pytest.mark.parametrize("name", NAMES)
def test_round_trip_real_pieces(name: str, path: Path) -> None:
    rep = real_rep(name)
    score = read_real(path, rep.config.steps_per_quarter)
    rep.fit([score])
    array = rep.encode(score)
    assert note_list(rep.decode(array)) == expected_notes(rep, score)
    assert np.array_equal(rep.encode(rep.decode(array)), array)


@pytest.mark.parametrize("path", real_piece_params(2))
@pytest.mark.parametrize("name", NAMES)
def test_default_config_is_idempotent_on_real_pieces(name: str, path: Path) -> None:
    """encode(decode(encode(x))) == encode(x) with the default caps and fitted vocabularies."""
    rep = make_rep(name)
    score = read_real(path, rep.config.steps_per_quarter)
    rep.fit([score])
    array = rep.encode(score)
    assert len(array) > 0
    assert np.array_equal(rep.encode(rep.decode(array)), array)


def test_pianoroll_loses_only_restrikes_on_real_piece() -> None:
    """On a real piece the roll differs from the notes exactly by the merged re-strikes."""
    if not REAL:
        pytest.skip("piano-midi.de corpus not found")
    rep = PianoRoll()
    score = read_real(REAL[0], 4)
    notes = [n for n in note_list(score) if 21 <= n[2] <= 108]
    decoded = note_list(rep.decode(rep.encode(score)))
    assert len(decoded) < len(notes)  # the piece has adjacent re-strikes...
    assert decoded == merge_restrikes(notes)  # ...and loses nothing else


@st.composite
def quantised_scores(draw: st.DrawFn, steps_per_quarter: int, low: int, high: int) -> Score:
    """Random overlap-free quantised scores, pitches a little beyond ``[low, high]``."""
    count = draw(st.integers(1, 30))
    starts = draw(st.lists(st.integers(0, 48), min_size=count, max_size=count))
    durations = draw(st.lists(st.integers(1, 12), min_size=count, max_size=count))
    pitches = draw(
        st.lists(st.integers(max(low - 3, 0), min(high + 3, 127)), min_size=count, max_size=count)
    )
    notes = remove_overlaps(make_notes(starts, durations, pitches))
    return Score(notes=notes, ticks_per_quarter=steps_per_quarter, name="random")


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip_property(name: str, data: st.DataObject) -> None:
    rep = make_rep(name)
    low = getattr(rep.config, "low", 40)
    high = getattr(rep.config, "high", 80)
    score = data.draw(quantised_scores(rep.config.steps_per_quarter, low, high))
    expected = expected_notes(rep, score)
    if isinstance(rep, NoteTokens):
        rep.fit([score])
    array = rep.encode(score)
    assert note_list(rep.decode(array)) == expected
    again = rep.encode(rep.decode(array))
    if isinstance(rep, PianoRoll | NoteState):
        # Rows run to score.end_tick, which may belong to a note outside the range: the
        # silent rows after the last kept note do not survive decoding.
        assert not array[len(again) :].any()
        array = array[: len(again)]
    assert np.array_equal(again, array)


@pytest.mark.parametrize("name", NAMES)
def test_empty_score(name: str, tiny_score: Score) -> None:
    rep, tiny_score = tiny_for(name, tiny_score)
    rep.fit([tiny_score])
    empty = tiny_score.copy_with(notes=tiny_score.notes[:0])
    array = rep.encode(empty)
    assert array.shape == (0, *rep.feature_shape)
    assert rep.decode(array).num_notes == 0


# -- persistence -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_to_dict_load_round_trip(name: str, tiny_score: Score, tmp_path: Path) -> None:
    rep, tiny_score = tiny_for(name, tiny_score)
    rep.fit([tiny_score])
    data = json.loads(json.dumps(rep.to_dict()))  # through JSON, as on disk
    again = load_representation(data)
    assert type(again) is type(rep)
    assert again.to_dict() == rep.to_dict()
    assert again.fingerprint() == rep.fingerprint()
    assert np.array_equal(again.encode(tiny_score), rep.encode(tiny_score))
    rep.save(tmp_path / "rep.json")
    from_file = load_representation(tmp_path / "rep.json")
    assert from_file.to_dict() == rep.to_dict()
    assert np.array_equal(from_file.encode(tiny_score), rep.encode(tiny_score))


def test_fingerprint_depends_on_config_and_vocabulary(tiny_score: Score) -> None:
    assert PianoRoll().fingerprint() != make_rep("pianoroll", 8).fingerprint()
    tokens = NoteTokens()
    tokens.fit([tiny_score])
    other = NoteTokens()
    other.fit([tiny_score.transpose(2)])
    assert tokens.fingerprint() != other.fingerprint()


def test_load_representation_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown representation"):
        load_representation({"name": "nope"})
    with pytest.raises(ConfigError, match="low"):
        load_representation({"name": "pianoroll", "config": {"low": 200}})
    with pytest.raises(ConfigError, match="elements"):
        load_representation({"name": "notetokens", "config": {}, "vocab": {"elements": ["x"]}})
    with pytest.raises(ConfigError, match="delta_values"):
        load_representation({"name": "events", "config": {}, "vocab": {"delta_values": [3, 1]}})


# -- transposition ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_transpose_array_matches_transposed_score(name: str, tiny_score: Score) -> None:
    rep, tiny_score = tiny_for(name, tiny_score)
    rep.fit([tiny_score, tiny_score.transpose(3)])
    moved = rep.transpose_array(rep.encode(tiny_score), 3)
    assert moved.shape == rep.encode(tiny_score).shape
    assert np.array_equal(moved, rep.encode(tiny_score.transpose(3)))
    assert np.array_equal(rep.transpose_array(rep.encode(tiny_score), 0), rep.encode(tiny_score))


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_unquantised_score_is_refused(name: str, tiny_score: Score) -> None:
    rep, tiny_score = tiny_for(name, tiny_score)
    rep.fit([tiny_score])
    raw = tiny_score.copy_with(ticks_per_quarter=480)
    with pytest.raises(DataError, match="quantise"):
        rep.encode(raw)
    if name in ("events", "notetokens"):  # the classes that learn from scores
        with pytest.raises(DataError, match="quantise"):
            make_rep(name).fit([raw])


@pytest.mark.parametrize("name", NAMES)
def test_decode_rejects_wrong_shapes(name: str, tiny_score: Score) -> None:
    rep, tiny_score = tiny_for(name, tiny_score)
    rep.fit([tiny_score])
    good = rep.encode(tiny_score)
    bads = [good[0], good[..., None]]
    if rep.feature_shape:  # (for 1-D token arrays, a slice of the last axis is valid)
        bads.append(good[..., :1])
    for bad in bads:
        with pytest.raises(DataError, match="expected an array of shape"):
            rep.decode(bad)
        with pytest.raises(DataError, match="expected an array of shape"):
            rep.transpose_array(bad, 1)


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("pianoroll", "steps_per_quarter", 0),
        ("pianoroll", "low", -1),
        ("pianoroll", "high", 128),
        ("pianoroll", "low", 4.5),
        ("notestate", "high", 10),
        ("notestate", "steps_per_quarter", "4"),
        ("events", "max_delta", 0),
        ("events", "low", True),
        ("notetokens", "max_duration", 0),
        ("notetokens", "max_shift", -3),
        ("notetokens", "max_elements", -1),
        ("notetokens", "min_count", 0),
    ],
)
def test_bad_configs_name_the_value(name: str, field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=field if field != "high" else "high|low"):
        REGISTRY[name].config_class(**{field: value})


def test_config_of_wrong_class_is_refused() -> None:
    with pytest.raises(ConfigError, match="PianoRollConfig"):
        PianoRoll(NoteTokensConfig())
