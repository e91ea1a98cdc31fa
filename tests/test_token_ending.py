"""--ending cadence for the token families: the last elements (the transformer: the last
bar) sound only the tonic triad, and the stretch before favours the dominant seventh."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from test_model_notetokens import fitted_notetokens
from test_model_transformer import _trained_debug, little_piece

from cadenza.controls import parse_key
from cadenza.generation import GenerationConfig, generate
from cadenza.generation.token_ending import TokenEnding
from cadenza.models.events import PRESETS as EVENTS_PRESETS
from cadenza.models.notetokens import PRESETS as TOKEN_PRESETS
from cadenza.models.notetokens import config_for
from cadenza.models.registry import build_model, fit_config
from cadenza.representations.events import Events, EventsConfig
from cadenza.representations.notetokens import REST, element_pitches
from cadenza.representations.remi import Remi
from cadenza.score import Score, make_notes

C_TRIAD = {0, 4, 7}
ENDING = TokenEnding(parse_key("C major"))


def test_the_stretches_and_their_weights() -> None:
    assert ENDING.tail(100) == 15 and ENDING.tail(20) == 8 and ENDING.tail(5) == 5
    assert ENDING.weights_at(84, 100) is None
    dominant, tonic = ENDING.weights_at(85, 100), ENDING.weights_at(99, 100)
    assert dominant is not None and tonic is not None
    assert {p % 12 for p in np.flatnonzero(dominant == 1.0)} == {7, 11, 2, 5}  # G B D F
    assert {p % 12 for p in np.flatnonzero(tonic > 0)} == C_TRIAD
    assert ENDING.weights_in_bar(3, 4) is ENDING.tonic
    assert ENDING.weights_in_bar(2, 4) is ENDING.dominant and ENDING.weights_in_bar(1, 4) is None


def test_events_end_on_the_tonic_triad() -> None:
    rep = Events(EventsConfig(steps_per_quarter=4))
    score = Score(make_notes(list(range(0, 64, 4)), [4] * 16,
                             [60 + (i * 5) % 12 for i in range(16)]), 4)
    rep.fit([score])
    torch.manual_seed(0)
    model = build_model(fit_config(EVENTS_PRESETS["events-debug"], rep)).eval()
    config = GenerationConfig(length=100, count=2, seed=3, ending=ENDING)
    for array in generate(model, rep, None, config).arrays:
        tail = array[-(100 - 95):]  # the tonic part: the last 5 messages
        ons = tail[tail[:, 1] == 1]
        assert {int(p) % 12 for p in ons[:, 0]} <= C_TRIAD


def test_note_tokens_end_on_the_tonic_triad() -> None:
    rep, encoded = fitted_notetokens()
    torch.manual_seed(0)
    model = build_model(config_for(TOKEN_PRESETS["notetokens-debug"], rep)).eval()
    config = GenerationConfig(length=60, count=2, seed=1, ending=ENDING)
    for array in generate(model, rep, encoded[:8], config).arrays:
        for element_id in array[-(60 - 57):, 0]:  # the tonic part: the last 3 tokens
            element = rep.elements[int(element_id)]
            assert element == REST or {p % 12 for p in element_pitches(element)} <= C_TRIAD


def test_the_transformer_ends_its_last_bar_on_the_tonic_triad() -> None:
    """A 4-bar primer and one new bar (the debug model often writes END early, so 16
    pieces): every note of the new bar is in the tonic triad; without the ending, not."""
    rep = Remi()
    model = _trained_debug(rep)
    primer = rep.encode(little_piece(4))[:-1]
    config = GenerationConfig(length=4000, count=16, seed=2, bars=1, ending=ENDING)

    def last_bar_classes(settings: GenerationConfig) -> list[set[int]]:
        found = []
        for array in generate(model, rep, primer, settings).arrays:
            notes = rep.decode(array).notes
            found.append({int(p) % 12 for p in notes["pitch"][notes["start"] >= 4 * 16]})
        return found

    steered = last_bar_classes(config)
    assert sum(bool(c) for c in steered) >= 3 and all(c <= C_TRIAD for c in steered)
    plain = last_bar_classes(replace(config, ending=None))
    assert any(not classes <= C_TRIAD for classes in plain)


# -- --density for the events and note-token families ------------------------------------------
def test_onset_rate_window_and_states() -> None:
    from cadenza.generation.token_density import DENSE, FREE, SPARSE, OnsetRate

    rate = OnsetRate((1.0, 3.0), 3, steps_per_beat=4)
    for _ in range(8):  # row 0: one note a beat; row 1: four a beat; row 2: nothing
        rate.add(0, 1, 4)
        rate.add(1, 4, 4)
        rate.add(2, 0, 4)
    assert [rate.rate(r) for r in range(3)] == [1.0, 4.0, 0.0]
    assert list(rate.states()) == [FREE, DENSE, SPARSE]
    values = np.array([0, 1, 2, 4, 8])
    assert list(rate.allowed_steps(values, SPARSE)) == [True, True, True, False, False]
    assert list(rate.allowed_steps(values, DENSE)) == [False, False, True, True, True]
    assert rate.allowed_steps(np.array([8]), SPARSE).all()  # never leave no choice


def _onsets_per_beat(rep: object, arrays: list[np.ndarray], primer_length: int,
                     steps_per_beat: int) -> float:
    rates = []
    for array in arrays:
        generated = array[primer_length:]
        notes = rep.decode(array).notes  # type: ignore[attr-defined]
        end = int((notes["start"] + notes["duration"]).max())
        start = int(rep.decode(array[:primer_length]).notes["start"].max())  # type: ignore[attr-defined]
        onsets = notes[notes["start"] > start]
        rates.append(len(onsets) / max((end - start) / steps_per_beat, 1e-9))
        assert len(generated)
    return float(np.mean(rates))


def _steered_steps(states_and_steps: list[tuple[int, int, bool, int]], half: float) -> int:
    """Check the two-sided rule at every generated step, ``(state, time step, sounds, row)``:
    above the band no step shorter than half a beat, below it none longer and a note (not a
    rest, not a note-off) comes; return how many steps the rule steered."""
    from cadenza.generation.token_density import DENSE, FREE, SPARSE

    steered = 0
    for state, step, sounds, row in states_and_steps:
        if state == DENSE:
            assert step >= half, f"row {row}: a step of {step} while above the band"
        elif state == SPARSE:
            assert step <= half and sounds, f"row {row}: a step of {step} while below the band"
        steered += state != FREE
    return steered


def test_note_tokens_steer_their_time_steps_toward_the_band() -> None:
    """``--density`` on the note tokens: replaying each generated piece's onsets through the
    band's window, no token moves time on by less than half a beat while the piece is above
    the band, and none rests or waits longer while it is below; so the density moves toward
    each band. (An untrained model's shifts cannot reach every band, so the band itself is
    not asked for.)"""
    from cadenza.generation.sequences import _notes_in
    from cadenza.generation.token_density import OnsetRate

    rep, encoded = fitted_notetokens()
    torch.manual_seed(0)
    model = build_model(config_for(TOKEN_PRESETS["notetokens-debug"], rep)).eval()
    spb = rep.config.steps_per_quarter
    shifts = np.array(rep.shift_values)
    rates = {}
    for band in (None, (0.2, 0.6), (3.0, 6.0)):
        config = GenerationConfig(length=120, count=4, seed=4, density=band)
        arrays = generate(model, rep, encoded[:8], config).arrays
        rates[band] = _onsets_per_beat(rep, arrays, 8, spb)
        if band is None:
            continue
        replayed = []
        for row, array in enumerate(arrays):
            rate = OnsetRate(band, 1, spb)
            for element_id, _, shift_id in array[8:]:
                element = rep.elements[int(element_id)]
                state = int(rate.states()[0])
                replayed.append((state, int(shifts[shift_id]), element != REST, row))
                rate.add(0, _notes_in(element), float(shifts[shift_id]))
        assert _steered_steps(replayed, spb / 2) > 100  # the rule was at work, and honoured
    assert rates[(0.2, 0.6)] < 0.9 * rates[None] and rates[(3.0, 6.0)] > 1.5 * rates[None]


def test_events_steer_their_deltas_toward_the_band() -> None:
    """``--density`` on the events: replaying each piece's note-ons through the band's window,
    every delta taken above the band is at least half a beat, and below it a note-on comes
    within half a beat; so a band above this model's own density brings the notes on."""
    from cadenza.generation.token_density import OnsetRate

    rep = Events(EventsConfig(steps_per_quarter=4))
    gaps = [1, 2, 4, 8, 16] * 6  # deltas of every size are known
    starts = np.cumsum([0, *gaps[:-1]]).tolist()
    score = Score(make_notes(starts, [1] * len(starts),
                             [60 + (i * 5) % 12 for i in range(len(starts))]), 4)
    rep.fit([score])
    torch.manual_seed(0)
    model = build_model(fit_config(EVENTS_PRESETS["events-debug"], rep)).eval()
    rates, steered = {}, {}
    for band in (None, (0.0, 0.05), (1.0, 3.0)):
        config = GenerationConfig(length=120, count=4, seed=4, density=band)
        arrays = generate(model, rep, None, config).arrays
        rates[band] = _onsets_per_beat(rep, arrays, 1, 4)
        if band is None:
            continue
        replayed = []
        for row, array in enumerate(arrays):
            rate = OnsetRate(band, 1, 4)
            for _, is_on, delta in array[1:]:
                replayed.append((int(rate.states()[0]), int(delta), bool(is_on), row))
                rate.add(0, int(is_on), float(delta))
        steered[band] = _steered_steps(replayed, 2)
    # Below the band from the start, the rule was at work and brought the notes on: four
    # times this model's own 0.15 onsets a beat.
    assert steered[(1.0, 3.0)] > 100 and rates[(1.0, 3.0)] > 3 * rates[None]
    # This model's deltas are longer than the two-beat window, which so never holds an onset:
    # the rule sees no piece above 0.05 and leaves every piece as it was.
    assert steered[(0.0, 0.05)] == 0 and rates[(0.0, 0.05)] == rates[None]
