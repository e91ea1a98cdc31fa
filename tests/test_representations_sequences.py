"""Format details of the sequence representations: MIDI-message events and note/chord tokens."""

from __future__ import annotations

import numpy as np
import pytest

from cadenza.errors import ConfigError, DataError
from cadenza.representations import Events, EventsConfig, NoteTokens, NoteTokensConfig
from cadenza.score import Score, make_notes

Note = tuple[int, int, int]


def score_of(notes: list[Note], steps_per_quarter: int = 4) -> Score:
    start, duration, pitch = zip(*notes, strict=True) if notes else ((), (), ())
    return Score(make_notes(list(start), list(duration), list(pitch)), steps_per_quarter)


def triples(score: Score) -> list[Note]:
    n = score.notes
    return list(zip(n["start"].tolist(), n["duration"].tolist(), n["pitch"].tolist(), strict=True))


def events4(**changes: int) -> Events:
    return Events(EventsConfig(steps_per_quarter=4, **changes))


# -- events ----------------------------------------------------------------------------------
def test_events_message_order_and_deltas() -> None:
    score = score_of([(0, 4, 60), (0, 2, 64), (4, 4, 60), (10, 2, 50), (3, 1, 20), (5, 1, 109)])
    messages = events4().encode(score)
    assert messages.dtype == np.int32
    assert messages.tolist() == [
        [60, 1, 0],
        [64, 1, 0],
        [64, 0, 2],
        [60, 0, 2],  # at equal times the note-off comes first
        [60, 1, 0],
        [60, 0, 4],
        [50, 1, 2],
        [50, 0, 2],
    ]


def test_events_first_delta_counts_from_zero_and_long_gaps_are_capped() -> None:
    rep = events4(max_delta=16)
    score = score_of([(5, 2, 60), (40, 2, 62)])
    messages = rep.encode(score)
    assert messages[:, 2].tolist() == [5, 2, 16, 2]  # 33 silent steps capped at 16
    decoded = triples(rep.decode(messages))
    assert decoded == [(5, 2, 60), (23, 2, 62)]  # the silence shrank from 33 to 16 steps
    assert decoded[1][0] < 40


def test_events_fit_and_snapping() -> None:
    rep = events4()
    assert rep.is_fitted and not rep.is_fitted_deltas
    assert rep.delta_values == tuple(range(97))
    assert rep.snap_delta(np.array([-3, 5, 500])).tolist() == [0, 5, 96]
    rep.fit([score_of([(0, 4, 60), (4, 8, 60), (30, 1, 61)])])  # deltas 0, 4, 8, 18, 1
    assert rep.delta_values == (0, 1, 4, 8, 18)
    assert rep.vocabulary() == {"delta_values": [0, 1, 4, 8, 18]}
    assert rep.num_deltas == 5
    assert rep.delta_index(np.array([0, 2, 3, 6, 13, 14, 200])).tolist() == [0, 1, 2, 2, 3, 4, 4]
    assert rep.snap_delta(np.array([[2, 3], [6, 200]])).tolist() == [[1, 4], [4, 18]]
    messages = rep.encode(score_of([(0, 3, 60), (6, 1, 62)]))  # deltas 0, 3, 3, 1
    assert messages[:, 2].tolist() == [0, 4, 4, 1]
    rep.load_vocabulary({})
    assert not rep.is_fitted_deltas and rep.num_deltas == 97
    with pytest.raises(DataError, match="at least one score"):
        rep.fit([])


def test_events_decoding_rules() -> None:
    rep = events4()
    messages = np.array(
        [
            [60, 0, 0],  # off without on: ignored
            [60, 1, 1],  # opens 60 at 1
            [60, 1, 2],  # re-opened at 3: the first closes there
            [62, 1, 0],  # opens 62 at 3
            [62, 0, 0],  # closed at the same tick: lasts one step
            [64, 1, 4],  # open at 7, never closed: ends one step after the last message
            [60, 0, 1],  # closes 60 at 8
            [65, 0, 0],
        ]
    )
    assert triples(rep.decode(messages)) == [(1, 2, 60), (3, 5, 60), (3, 1, 62), (7, 2, 64)]


def test_events_decode_errors() -> None:
    with pytest.raises(DataError, match="pitch 20"):
        events4().decode(np.array([[20, 1, 0]]))
    with pytest.raises(DataError, match="integer"):
        events4().decode(np.array([[60.5, 1, 0]]))
    assert triples(events4().decode(np.array([[60.0, 1, 0], [60, 0, 2]]))) == [(0, 2, 60)]


def test_events_transpose_carries_deltas_of_dropped_messages() -> None:
    rep = events4()
    messages = np.array([[21, 1, 0], [60, 1, 0], [21, 0, 4], [60, 0, 0], [62, 1, 3]], np.int32)
    down = rep.transpose_array(messages, -1)
    assert down.dtype == np.int32
    assert down.tolist() == [[59, 1, 0], [59, 0, 4], [61, 1, 3]]
    up = rep.transpose_array(messages, 2)
    assert up[:, 0].tolist() == [23, 62, 23, 62, 64] and np.array_equal(up[:, 1:], messages[:, 1:])
    capped = events4(max_delta=5).transpose_array(np.array([[21, 1, 4], [60, 1, 3]]), -1)
    assert capped.tolist() == [[59, 1, 5]]


# -- note tokens -----------------------------------------------------------------------------
def readable(rep: NoteTokens, ids: np.ndarray) -> list[tuple[str, int, int]]:
    return [
        (rep.elements[e], rep.duration_values[d], rep.shift_values[s]) for e, d, s in ids.tolist()
    ]


PIECE = [(2, 4, 60), (2, 4, 64), (2, 8, 48), (6, 2, 67), (12, 4, 72)]


def test_notetokens_tokens_rests_and_last_shift() -> None:
    rep = NoteTokens()
    score = score_of(PIECE)
    rep.fit([score])
    tokens = readable(rep, rep.encode(score))
    assert tokens == [
        ("rest", 2, 2),  # the piece starts after 2 silent steps
        ("60.64", 4, 0),  # same onset, shorter first, shift 0
        ("48", 8, 4),
        ("67", 2, 4),  # everything stops at 10: the shift ends there...
        ("rest", 2, 2),  # ...and a rest fills the silence up to the next onset at 12
        ("72", 4, 4),  # last token: shift to the end of the piece
    ]
    assert sorted(triples(rep.decode(rep.encode(score)))) == sorted(PIECE)


def test_notetokens_vocabulary_order_and_limits() -> None:
    scores = [
        score_of(
            [(0, 1, 62), (1, 1, 60), (2, 1, 62), (3, 2, 60), (3, 2, 64), (5, 1, 59), (6, 1, 60)]
        )
    ]
    rep = NoteTokens()
    rep.fit(scores)
    # 60 and 62 twice (tie broken by the string), the rest once.
    assert rep.vocabulary() == {
        "elements": ["<unk>", "rest", "60", "62", "59", "60.64"],
        "durations": [1, 2],
        "shifts": [0, 1, 2],
    }
    assert (rep.num_elements, rep.num_durations, rep.num_shifts) == (6, 2, 3)
    frequent = NoteTokens(NoteTokensConfig(min_count=2))
    frequent.fit(scores)
    assert frequent.elements == ("<unk>", "rest", "60", "62")
    top = NoteTokens(NoteTokensConfig(max_elements=3))
    top.fit(scores)
    assert top.elements == ("<unk>", "rest", "60", "62", "59")
    # Unknown elements encode as 0 and decode to nothing, but time still advances.
    ids = frequent.encode(scores[0])
    assert ids[:, 0].tolist() == [3, 2, 3, 0, 0, 2]
    assert triples(frequent.decode(ids)) == [(0, 1, 62), (1, 1, 60), (2, 1, 62), (6, 1, 60)]
    assert triples(frequent.decode(ids[[3, 0]])) == [(2, 1, 62)]


def test_notetokens_caps_and_snapping() -> None:
    rep = NoteTokens(NoteTokensConfig(max_duration=8, max_shift=6))
    score = score_of([(0, 20, 60), (10, 2, 62)])
    rep.fit([score])
    assert readable(rep, rep.encode(score)) == [("60", 8, 6), ("rest", 2, 2), ("62", 2, 2)]
    assert triples(rep.decode(rep.encode(score))) == [(0, 8, 60), (8, 2, 62)]
    # Unseen durations and shifts move to the nearest known value (ties to the smaller);
    # the unseen element 63 becomes <unk>.
    other = score_of([(0, 3, 60), (5, 7, 62), (5, 5, 63)])
    assert readable(rep, rep.encode(other)) == [
        ("60", 2, 2),
        ("rest", 2, 2),
        ("<unk>", 2, 0),
        ("62", 8, 6),
    ]


def test_notetokens_needs_fit() -> None:
    rep = NoteTokens()
    assert not rep.is_fitted and rep.vocabulary() == {}
    with pytest.raises(DataError, match=r"call fit\(\) first"):
        rep.encode(score_of(PIECE))
    with pytest.raises(DataError, match=r"call fit\(\) first"):
        rep.decode(np.zeros((1, 3), dtype=np.int32))
    assert (rep.num_elements, rep.num_durations, rep.num_shifts) == (0, 0, 0)
    assert rep.elements == rep.duration_values == rep.shift_values == ()
    with pytest.raises(DataError, match="at least one score"):
        rep.fit([])
    with pytest.raises(DataError, match="no notes"):
        rep.fit([score_of([])])
    rep.fit([score_of(PIECE)])
    assert rep.is_fitted and rep.num_elements == 6
    rep.load_vocabulary({})
    assert not rep.is_fitted and rep.num_shifts == 0


def test_notetokens_transpose() -> None:
    rep = NoteTokens()
    seen = [(0, 2, 60), (0, 2, 64), (2, 2, 61), (4, 2, 125), (6, 2, 0), (6, 2, 127), (8, 2, 62)]
    rep.fit([score_of([*seen, (10, 2, 1), (12, 2, 60)])])
    ids = rep.encode(score_of([(0, 2, 60), (0, 2, 64), (2, 2, 61), (5, 1, 125)]))
    up = rep.transpose_array(ids, 1)
    assert [rep.elements[e] for e in up[:, 0]] == ["<unk>", "62", "rest", "<unk>"]  # 61.65, 126
    assert np.array_equal(up[:, 1:], ids[:, 1:])
    down = rep.transpose_array(ids, -1)
    assert [rep.elements[e] for e in down[:, 0]] == ["<unk>", "60", "rest", "<unk>"]
    assert [rep.elements[e] for e in rep.transpose_array(ids, 3)[:, 0]][3] == "<unk>"  # 128
    # A chord loses the pitches pushed off the MIDI range and keeps the others.
    edge = rep.encode(score_of([(0, 2, 0), (0, 2, 127)]))
    assert [rep.elements[e] for e in rep.transpose_array(edge, 1)[:, 0]] == ["1"]
    assert [rep.elements[e] for e in rep.transpose_array(edge, -65)[:, 0]] == ["62"]


def test_notetokens_decode_errors_and_overlaps() -> None:
    rep = NoteTokens()
    rep.fit([score_of(PIECE)])
    with pytest.raises(DataError, match="element id"):
        rep.decode(np.array([[99, 0, 0]]))
    with pytest.raises(DataError, match="shift id"):
        rep.decode(np.array([[2, 0, -1]]))
    sixty = rep.elements.index("60.64")
    eight = rep.duration_values.index(8)
    two = rep.shift_values.index(2)
    # A model may restart a sounding pitch: the earlier note is cut at the new onset.
    decoded = rep.decode(np.array([[sixty, eight, two], [sixty, eight, two]]))
    assert triples(decoded) == [(0, 2, 60), (0, 2, 64), (2, 8, 60), (2, 8, 64)]


@pytest.mark.parametrize(
    ("vocab", "match"),
    [
        ({"elements": ["rest", "<unk>"], "durations": [1], "shifts": [0]}, "elements"),
        ({"elements": ["<unk>", "rest", "60", "60"], "durations": [1], "shifts": [0]}, "unique"),
        ({"elements": ["<unk>", "rest", "C4"], "durations": [1], "shifts": [0]}, "C4"),
        ({"elements": ["<unk>", "rest", "64.60"], "durations": [1], "shifts": [0]}, "ascending"),
        ({"elements": ["<unk>", "rest"], "durations": [0, 1], "shifts": [0]}, "durations"),
        ({"elements": ["<unk>", "rest"], "durations": [2, 1], "shifts": [0]}, "durations"),
        ({"elements": ["<unk>", "rest"], "durations": [1], "shifts": [1, 2]}, "shifts"),
        ({"elements": ["<unk>", "rest"], "durations": [1]}, "shifts"),
    ],
)
def test_notetokens_bad_vocabulary(vocab: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        NoteTokens().load_vocabulary(vocab)
